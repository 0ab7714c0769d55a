"""The admin's "Import from ClinicalTrials.gov": upload → preview → apply.

The preview carries what was uploaded, as minimal API v2 JSON, in a hidden field signed for
this user (`django.core.signing`, compressed, valid for an hour), so "Apply" imports exactly
what was previewed and a tampered or stale form is refused. "Apply" parses it again and writes
through `trial_import_apply` in one transaction.
"""

import json

from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from trials.ctgov import CtgovError, StudyRecord, parse_text, to_v2
from trials.forms import CtgovUploadForm
from trials.services import trial_import_apply, trial_import_plan

PREVIEW_MAX_AGE_SECONDS = 60 * 60
UPLOAD_TEMPLATE = "admin/trials/trial/ctgov_import.html"
PREVIEW_TEMPLATE = "admin/trials/trial/ctgov_import_preview.html"


def _salt(request: HttpRequest) -> str:
    return f"trials.ctgov-import:{request.user.pk}"


def _sign(request: HttpRequest, source: str, records: tuple[StudyRecord, ...]) -> str:
    data = {"source": source, "studies": [to_v2(record) for record in records]}
    return signing.dumps(data, salt=_salt(request), compress=True)


def _unsign(request: HttpRequest, payload: str) -> tuple[str, tuple[StudyRecord, ...]]:
    data = signing.loads(payload, salt=_salt(request), max_age=PREVIEW_MAX_AGE_SECONDS)
    source = str(data["source"])
    return source, parse_text(json.dumps(data["studies"]), source=source)


def _render(model_admin, request, template, status=200, **context) -> HttpResponse:
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Import from ClinicalTrials.gov",
        # Unfold's header then reads "Programs and trials › Trials › Import from …".
        "model_admin": model_admin,
        "content_title": "Import from ClinicalTrials.gov",
        "changelist_url": _changelist_url(model_admin),
        **context,
    }
    return TemplateResponse(request, template, context, status=status)


def _changelist_url(model_admin) -> str:
    opts = model_admin.model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")


def ctgov_import_view(model_admin, request: HttpRequest) -> HttpResponse:
    if request.method == "POST" and "payload" in request.POST:
        return _apply(model_admin, request)
    form = CtgovUploadForm(request.POST or None, request.FILES or None)
    if request.method != "POST" or not form.is_valid():
        return _render(model_admin, request, UPLOAD_TEMPLATE, form=form)
    source = form.cleaned_data["file"].name
    payload = _sign(request, source, form.records)
    # "Apply" posts the payload back as a form field, which Django caps at
    # DATA_UPLOAD_MAX_MEMORY_SIZE (leave room for the rest of the form).
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and len(payload) > limit - 16 * 1024:
        form.add_error(
            "file",
            f"{source}: too large to preview here; import it with `manage.py import_trials`.",
        )
        return _render(model_admin, request, UPLOAD_TEMPLATE, form=form)
    plan = trial_import_plan(records=form.records)
    return _render(
        model_admin, request, PREVIEW_TEMPLATE, plan=plan, source=source, payload=payload
    )


def _apply(model_admin, request: HttpRequest) -> HttpResponse:
    try:
        source, records = _unsign(request, request.POST["payload"])
        report = trial_import_apply(records=records)
    except signing.SignatureExpired:
        problems = ["The preview expired; nothing was written. Upload the file again."]
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        problems = [
            "The preview could not be verified; nothing was written. Upload the file again."
        ]
    except CtgovError as error:
        problems = list(error.problems)
    else:
        summary = "; ".join(report.summary_lines())
        messages.success(request, f"Imported {source} from ClinicalTrials.gov: {summary}.")
        return redirect(_changelist_url(model_admin))
    return _render(
        model_admin, request, UPLOAD_TEMPLATE, status=400, form=CtgovUploadForm(), problems=problems
    )
