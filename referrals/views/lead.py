"""The lead page: patient, treatment lines, eligibility, actions, tasks and timeline.

Each action posts to its own small view. Success redirects back to the page; a form error or a
refusal from a service re-renders the page with the user's input and the reason, and writes
nothing.
"""

from collections.abc import Callable

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from carecrm.client import client_ip
from carecrm.http_guards import declared_body_bytes
from referrals import documents, selectors, services
from referrals.eligibility import Verdict
from referrals.forms import (
    AssignForm,
    CandidateForm,
    DocumentForm,
    NextActionForm,
    NoteForm,
    TaskForm,
    TransitionForm,
    TreatmentLineForm,
)
from referrals.models import PriorTreatmentLine, Referral, Task
from referrals.views.common import (
    _get_referral_for_staff,
    document_download,
    form_action,
    page_context,
    staff_page,
)
from referrals.vocabulary import AccessAction
from trials.models import Program, Trial


@staff_page("referrals.view_referral")
def lead(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)
    services.access_log_record(
        user=request.user,
        action=AccessAction.VIEW_LEAD,
        referral=referral,
        ip_address=client_ip(request),
    )
    if referral.has_unread_hospital_update:
        services.coordinator_seen_mark(referral=referral, by=request.user)
    return _render_lead(request, referral)


def _render_lead(request: HttpRequest, referral: Referral, **bound: forms.Form) -> HttpResponse:
    referral = selectors.referral_for_lead_page(referral.pk)
    patient = referral.patient
    versioned = {"version": referral.version}
    edit_line = _line_to_edit(request, patient)
    evaluations = selectors.patient_evaluations(patient)
    context = {
        "referral": referral,
        "patient": patient,
        "lines": patient.treatment_lines.all(),
        "failed_line_count": patient.failed_line_count,
        "promising": [e for e in evaluations if e.verdict != Verdict.INELIGIBLE],
        "ineligible": [e for e in evaluations if e.verdict == Verdict.INELIGIBLE],
        "timeline": selectors.lead_timeline(referral),
        "today": timezone.localdate(),
        "can_change": request.user.has_perm("referrals.change_referral"),
        "edit_line": edit_line,
        "transition_form": TransitionForm(initial=versioned, referral=referral),
        "assign_form": AssignForm(initial={**versioned, "assignee": referral.assigned_to_id}),
        "next_action_form": NextActionForm(
            initial={
                **versioned,
                "next_action": referral.next_action,
                "next_action_due": referral.next_action_due,
            }
        ),
        "note_form": NoteForm(),
        "task_form": TaskForm(
            auto_id="task_%s", initial={"assignee": referral.assigned_to_id or request.user.pk}
        ),
        "documents": referral.documents.all(),
        "document_form": DocumentForm(),
        "document_limit": documents.describe_size(settings.DOCUMENT_MAX_BYTES),
        "line_form": TreatmentLineForm(
            instance=edit_line,
            patient=patient,
            initial=None if edit_line else {"line_number": len(patient.treatment_lines.all()) + 1},
        ),
    }
    # The follow-up card's module builds on this one (it posts through `_act`), hence the import.
    from referrals.views.follow_up import follow_up_context

    context.update(follow_up_context(request, referral))
    context.update(bound)
    return render(
        request,
        "referrals/lead.html",
        page_context(request, f"{patient} · lead #{referral.pk}", **context),
    )


def _line_to_edit(request: HttpRequest, patient) -> PriorTreatmentLine | None:
    line_id = request.GET.get("edit_line", "")
    if not line_id.isdecimal():
        return None
    return PriorTreatmentLine.objects.filter(patient=patient, pk=int(line_id)).first()


def _lead_url(referral: Referral) -> str:
    return reverse("referrals:lead", args=[referral.pk])


def _act(
    request: HttpRequest,
    referral: Referral,
    form: forms.Form,
    form_name: str,
    action: Callable[[dict], str],
    **context,
) -> HttpResponse:
    """`form_action` on the lead page; `context` goes to the re-rendered page too (e.g. which
    follow-up visit the form is for)."""
    return form_action(
        request,
        form,
        action,
        success_url=_lead_url(referral),
        rerender=lambda: _render_lead(request, referral, **{form_name: form}, **context),
    )


@staff_page("referrals.view_referral")
@require_POST
def lead_transition(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)

    def move(data: dict) -> str:
        moved = services.referral_transition(
            referral=referral,
            to_stage=data["to_stage"],
            by=request.user,
            expected_version=data["version"],
            close_reason=data["close_reason"],
            close_detail=data["close_detail"],
            screen_failure_criterion=data["screen_failure_criterion"],
            note=data["note"],
            scheduled_for=data["scheduled_for"],
        )
        return f"Moved to {moved.get_stage_display()}."

    form = TransitionForm(request.POST, referral=referral)
    return _act(request, referral, form, "transition_form", move)


@staff_page("referrals.view_referral")
@require_POST
def lead_assign(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)

    def assign(data: dict) -> str:
        services.referral_assign(
            referral=referral,
            assignee=data["assignee"],
            by=request.user,
            expected_version=data["version"],
        )
        return "Coordinator changed."

    return _act(request, referral, AssignForm(request.POST), "assign_form", assign)


@staff_page("referrals.view_referral")
@require_POST
def lead_next_action(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)

    def save(data: dict) -> str:
        services.referral_set_next_action(
            referral=referral,
            next_action=data["next_action"],
            next_action_due=data["next_action_due"],
            by=request.user,
            expected_version=data["version"],
        )
        return "Next action saved."

    return _act(request, referral, NextActionForm(request.POST), "next_action_form", save)


@staff_page("referrals.view_referral")
@require_POST
def lead_note(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)

    def add(data: dict) -> str:
        event = services.referral_add_note(
            referral=referral, kind=data["kind"], body=data["body"], by=request.user
        )
        return f"{event.get_kind_display()} added to the timeline."

    return _act(request, referral, NoteForm(request.POST), "note_form", add)


@staff_page("referrals.view_referral")
@require_POST
def lead_task(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)

    def add(data: dict) -> str:
        services.task_create(
            referral=referral,
            title=data["title"],
            due_on=data["due_on"],
            assignee=data["assignee"],
            by=request.user,
        )
        return "Task added."

    return _act(request, referral, TaskForm(request.POST, auto_id="task_%s"), "task_form", add)


@staff_page("referrals.view_referral")
@require_POST
def lead_task_done(request: HttpRequest, pk: int, task_pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)
    task = get_object_or_404(Task.objects.select_related("referral"), pk=task_pk, referral=referral)
    try:
        services.task_complete(task=task, by=request.user)
    except services.ReferralError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Done: {task.title}")
    return redirect(_lead_url(referral))


@staff_page("referrals.view_referral")
@require_POST
def lead_screening(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)

    def record(data: dict) -> str:
        screening = services.screening_record(
            referral=referral, kind=data["kind"], candidate_id=data["candidate_id"], by=request.user
        )
        return f"Eligibility check recorded: {screening}."

    return _act(request, referral, CandidateForm(request.POST), "candidate_form", record)


@staff_page("referrals.view_referral")
@require_POST
def lead_target(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)

    def choose(data: dict) -> str:
        model = Program if data["kind"] == "program" else Trial
        candidate = model.objects.filter(pk=data["candidate_id"]).first()
        if candidate is None:
            raise services.ReferralError("That program or trial no longer exists.")
        services.referral_set_target(
            referral=referral,
            by=request.user,
            expected_version=data["version"],
            **{data["kind"]: candidate},
        )
        return f"Target set: {candidate}."

    return _act(request, referral, CandidateForm(request.POST), "candidate_form", choose)


@staff_page("referrals.view_referral")
@require_POST
def lead_line(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)
    line_id = request.POST.get("line_id", "")
    line = None
    if line_id.isdecimal():
        line = get_object_or_404(PriorTreatmentLine, pk=int(line_id), patient=referral.patient)
    form = TreatmentLineForm(request.POST, instance=line, patient=referral.patient)

    def save(data: dict) -> str:
        saved = services.treatment_line_save(
            referral=referral,
            line=form.instance,
            therapies=data["therapies"],
            by=request.user,
        )
        return f"Line {saved.line_number} saved."

    return _act(request, referral, form, "line_form", save)


@staff_page("referrals.view_referral")
@require_POST
def lead_merge(request: HttpRequest, pk: int) -> HttpResponse:
    """Fold one of this lead's possible duplicates into it."""
    referral = _get_referral_for_staff(request, pk)
    duplicate_id = request.POST.get("duplicate", "")
    duplicate = (
        referral.possible_duplicates.filter(pk=int(duplicate_id)).first()
        if duplicate_id.isdecimal()
        else None
    )
    if duplicate is None:
        messages.error(request, "Choose one of this lead's possible duplicates to merge.")
        return redirect(_lead_url(referral))
    try:
        services.referral_merge(keep=referral, duplicate=duplicate, by=request.user)
    except services.ReferralError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Lead #{duplicate.pk} merged into this lead.")
    return redirect(_lead_url(referral))


@staff_page("referrals.view_referral")
@require_POST
@csrf_exempt  # checked by `_document_upload`, once the body is known to be small enough to parse
def lead_document_upload(request: HttpRequest, pk: int) -> HttpResponse:
    """Attach a consent form or medical record to the lead.

    Login, permission and size are checked before the request body is parsed (CSRF checking
    parses it, so it comes after), so an oversized upload is refused without being read into
    memory or a temporary file.
    """
    referral = _get_referral_for_staff(request, pk)
    limit = settings.DOCUMENT_MAX_BYTES
    if (declared_body_bytes(request) or 0) > limit + documents.FORM_OVERHEAD_BYTES:
        messages.error(
            request,
            f"The file is larger than {documents.describe_size(limit)}; nothing was uploaded.",
        )
        response = _render_lead(request, referral)
        response.status_code = 413
        return response
    return _document_upload(request, referral)


@csrf_protect
def _document_upload(request: HttpRequest, referral: Referral) -> HttpResponse:
    form = DocumentForm(request.POST, request.FILES)

    def upload(data: dict) -> str:
        try:
            document = services.document_upload(
                referral=referral, uploaded_file=data["file"], kind=data["kind"], by=request.user
            )
        except services.ReferralError as error:
            form.add_error("file", str(error))
            raise
        return f"{document.get_kind_display()} {document.original_filename} added."

    return _act(request, referral, form, "document_form", upload)


@require_GET
@staff_page("referrals.view_referral")
def lead_document(request: HttpRequest, pk: int, document_pk: int) -> FileResponse:
    """Stream one of the lead's documents as a download, and log who took it."""
    referral = _get_referral_for_staff(request, pk)
    return document_download(request, referral, document_pk)
