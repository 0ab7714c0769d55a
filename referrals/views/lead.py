"""The lead page: patient, treatment lines, eligibility, actions, tasks and timeline.

Each action posts to its own small view. Success redirects back to the page; a form error or a
refusal from a service re-renders the page with the user's input and the reason, and writes
nothing.
"""

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from carecrm.client import client_ip
from carecrm.http_guards import declared_body_bytes
from referrals import documents, selectors, services
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
from referrals.models import Referral
from referrals.views.common import (
    _get_referral_for_staff,
    document_download,
    staff_page,
)
from referrals.views.lead_page import LEAD_PAGE, render_ineligible_rows, render_lead
from referrals.vocabulary import AccessAction


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
    return render_lead(request, referral)


@staff_page("referrals.view_referral")
@require_GET
def lead_ineligible(request: HttpRequest, pk: int) -> HttpResponse:
    return render_ineligible_rows(request, _get_referral_for_staff(request, pk))


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
            infusion_date=data["infusion_date"],
        )
        return f"Moved to {moved.get_stage_display()}."

    form = TransitionForm(request.POST, referral=referral)
    return LEAD_PAGE.act(request, referral, form, "transition_form", move)


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

    return LEAD_PAGE.act(request, referral, AssignForm(request.POST), "assign_form", assign)


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

    return LEAD_PAGE.act(request, referral, NextActionForm(request.POST), "next_action_form", save)


@staff_page("referrals.view_referral")
@require_POST
def lead_note(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)

    def add(data: dict) -> str:
        event = services.referral_add_note(
            referral=referral, kind=data["kind"], body=data["body"], by=request.user
        )
        return f"{event.get_kind_display()} added to the timeline."

    return LEAD_PAGE.act(request, referral, NoteForm(request.POST), "note_form", add)


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

    return LEAD_PAGE.act(
        request, referral, TaskForm(request.POST, auto_id="task_%s"), "task_form", add
    )


@staff_page("referrals.view_referral")
@require_POST
def lead_task_done(request: HttpRequest, pk: int, task_pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)
    task = selectors.lead_task(referral, task_pk)
    if task is None:
        raise Http404("No such task on this lead.")
    try:
        services.task_complete(task=task, by=request.user)
    except services.ReferralError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Done: {task.title}")
    return redirect(LEAD_PAGE.url(referral))


@staff_page("referrals.view_referral")
@require_POST
def lead_screening(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)

    def record(data: dict) -> str:
        screening = services.screening_record(
            referral=referral, kind=data["kind"], candidate_id=data["candidate_id"], by=request.user
        )
        return f"Eligibility check recorded: {screening}."

    return LEAD_PAGE.act(request, referral, CandidateForm(request.POST), "candidate_form", record)


@staff_page("referrals.view_referral")
@require_POST
def lead_target(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)

    def choose(data: dict) -> str:
        candidate = selectors.screening_candidate(data["kind"], data["candidate_id"])
        if candidate is None:
            raise services.ReferralError("That program or trial no longer exists.")
        services.referral_set_target(
            referral=referral,
            by=request.user,
            expected_version=data["version"],
            **{data["kind"]: candidate},
        )
        return f"Target set: {candidate}."

    return LEAD_PAGE.act(request, referral, CandidateForm(request.POST), "candidate_form", choose)


@staff_page("referrals.view_referral")
@require_POST
def lead_line(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)
    line_id = request.POST.get("line_id", "")
    line = None
    if line_id.isdecimal():
        line = selectors.lead_treatment_line(referral, int(line_id))
        if line is None:
            raise Http404("No such treatment line for this patient.")
    form = TreatmentLineForm(request.POST, instance=line, patient=referral.patient)

    def save(data: dict) -> str:
        saved = services.treatment_line_save(
            referral=referral,
            line=form.instance,
            therapies=data["therapies"],
            by=request.user,
        )
        return f"Line {saved.line_number} saved."

    return LEAD_PAGE.act(request, referral, form, "line_form", save)


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
        return redirect(LEAD_PAGE.url(referral))
    try:
        services.referral_merge(keep=referral, duplicate=duplicate, by=request.user)
    except services.ReferralError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Lead #{duplicate.pk} merged into this lead.")
    return redirect(LEAD_PAGE.url(referral))


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
        response = render_lead(request, referral)
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

    return LEAD_PAGE.act(request, referral, form, "document_form", upload)


@require_GET
@staff_page("referrals.view_referral")
def lead_document(request: HttpRequest, pk: int, document_pk: int) -> FileResponse:
    """Stream one of the lead's documents as a download, and log who took it."""
    referral = _get_referral_for_staff(request, pk)
    return document_download(request, referral, document_pk)
