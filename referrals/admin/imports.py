"""The admin's referral import: upload → the job page (progress, then the preview) → confirm.

The work is done by the task worker (`referrals/imports.py`); these views start it, show how far
it is and pass on the user's decisions. Every page is for users who may add patients and
referrals (`ReferralAdmin.has_import_permission`); a job is shown to the user who uploaded it and
to users who may view every import (admins), and is a 404 for anyone else.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST
from unfold.widgets import UnfoldAdminFileFieldWidget

from carecrm.client import client_ip
from carecrm.forms import CleanTextForm
from carecrm.http_guards import declared_body_bytes
from referrals import documents, imports, resources, selectors, services
from referrals.models import ImportJob, ImportJobState

UPLOAD_TEMPLATE = "admin/referrals/referral/import_upload.html"
JOB_TEMPLATE = "admin/referrals/referral/import_job.html"
PREVIEW_ROWS = 100
RECENT_JOBS = 10
POLL_SECONDS = 2


class ImportUploadForm(CleanTextForm):
    file = forms.FileField(
        label="CSV or Excel file",
        help_text=(
            f"CSV in UTF-8 or an Excel workbook (.xlsx), at most "
            f"{documents.describe_size(resources.MAX_FILE_BYTES)} and "
            f"{resources.MAX_ROWS:,} rows. Nothing is written before you confirm."
        ),
        widget=UnfoldAdminFileFieldWidget(attrs={"accept": ".csv,.xlsx,text/csv"}),
    )


def upload_url() -> str:
    return reverse("admin:referrals_referral_import_leads")


def job_url(job: ImportJob) -> str:
    return reverse("admin:referrals_referral_import_job", args=[job.pk])


def upload(request: HttpRequest, *, model_admin) -> HttpResponse:
    """The upload form and the user's recent imports; a valid upload goes to its job page.

    The size is checked before the request body is parsed (CSRF checking parses it, so it
    comes after): an oversized file is refused without being read.
    """
    if request.method != "POST":
        return _render_upload(model_admin, request, ImportUploadForm())
    limit = resources.MAX_FILE_BYTES
    if (declared_body_bytes(request) or 0) > limit + documents.FORM_OVERHEAD_BYTES:
        problem = (
            f"The file is larger than {documents.describe_size(limit)}; nothing was uploaded. "
            "Split it into smaller files."
        )
        return _render_upload(
            model_admin, request, ImportUploadForm(), status=413, problems=[problem]
        )
    return _upload_post(request, model_admin=model_admin)


@csrf_protect
def _upload_post(request: HttpRequest, *, model_admin) -> HttpResponse:
    form = ImportUploadForm(request.POST, request.FILES)
    if form.is_valid():
        upload_file = form.cleaned_data["file"]
        try:
            job = imports.import_job_create(
                by=request.user, file_name=upload_file.name, content=upload_file.read()
            )
        except services.ReferralError as error:
            form.add_error("file", str(error))
        else:
            return redirect(job_url(job))
    return _render_upload(model_admin, request, form, status=400)


def _render_upload(model_admin, request, form, status=200, problems=()) -> HttpResponse:
    recent = selectors.import_jobs_visible_to(request.user)[:RECENT_JOBS]
    return _render(
        model_admin,
        request,
        UPLOAD_TEMPLATE,
        status=status,
        form=form,
        problems=problems,
        columns=", ".join(resources.COLUMNS),
        required=", ".join(resources.REQUIRED_COLUMNS),
        recent=recent,
        everyone=request.user.has_perm("referrals.view_importjob"),
        keep_days=imports.KEEP_UNIMPORTED.days,
    )


def job_page(request: HttpRequest, job_id: int, *, model_admin) -> HttpResponse:
    """How far the job is; its preview once checked; the outcome once imported.

    htmx polls the progress part (`#progress`); once the job stops running the poll answers
    with HX-Refresh, so the whole page is loaded again with the preview or the outcome.
    """
    job = _job_for(model_admin, request, job_id)
    if request.headers.get("HX-Request"):
        if not job.is_running:
            return HttpResponse(status=204, headers={"HX-Refresh": "true"})
        return _render(model_admin, request, JOB_TEMPLATE + "#progress", **_job_context(job))
    context = _job_context(job)
    if job.state == ImportJobState.VALIDATED:
        show = request.GET.get("show")
        show = show if show in selectors.IMPORT_ROW_FILTERS else "all"
        rows = Paginator(selectors.import_job_rows(job, show), PREVIEW_ROWS)
        page = rows.get_page(request.GET.get("page"))
        preview = [
            (row, [(row.values.get(c, ""), row.problems.get(c, [])) for c in resources.COLUMNS])
            for row in page
        ]
        context.update(show=show, rows=page, preview=preview)
    return _render(model_admin, request, JOB_TEMPLATE, **context)


def _job_context(job: ImportJob) -> dict:
    return {
        "job": job,
        "job_url": job_url(job),
        "stale": imports.is_stale(job, timezone.now()),
        "stale_minutes": int(imports.STALE_AFTER.total_seconds() // 60),
        "poll_seconds": POLL_SECONDS,
        "columns": resources.COLUMNS,
        "leads_url": reverse("admin:referrals_referral_changelist")
        + f"?import_job__id__exact={job.pk}",
    }


@require_POST
def job_confirm(request: HttpRequest, job_id: int, *, model_admin) -> HttpResponse:
    job = _job_for(model_admin, request, job_id)
    try:
        imports.import_job_confirm(job=job, by=request.user, ip_address=client_ip(request))
    except services.ReferralError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            f"Importing {job.rows_total:,} rows of {job.file_name}: all of them or none.",
        )
    return redirect(job_url(job))


@require_POST
def job_resume(request: HttpRequest, job_id: int, *, model_admin) -> HttpResponse:
    job = _job_for(model_admin, request, job_id)
    try:
        imports.import_job_resume(job=job)
    except services.ReferralError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "The task worker was asked to take the file up again.")
    return redirect(job_url(job))


@require_POST
def job_discard(request: HttpRequest, job_id: int, *, model_admin) -> HttpResponse:
    job = _job_for(model_admin, request, job_id)
    try:
        imports.import_job_discard(job=job)
    except services.ReferralError as error:
        messages.error(request, str(error))
        return redirect(job_url(job))
    messages.success(request, f"{job.file_name} was discarded; nothing was imported.")
    return redirect(upload_url())


def _job_for(model_admin, request: HttpRequest, job_id: int) -> ImportJob:
    if not model_admin.has_import_permission(request):
        raise PermissionDenied
    job = selectors.import_jobs_visible_to(request.user).filter(pk=job_id).first()
    if job is None:
        raise Http404("No such import.")
    return job


def _render(model_admin, request, template, status=200, **context) -> HttpResponse:
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Import referrals",
        # Unfold's header then reads "Referrals › Referrals › Import referrals".
        "model_admin": model_admin,
        "content_title": "Import referrals",
        "changelist_url": reverse("admin:referrals_referral_changelist"),
        "upload_url": upload_url(),
        **context,
    }
    return TemplateResponse(request, template, context, status=status)
