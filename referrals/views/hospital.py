"""The hospital liaison's pages: their referrals, one referral as sent, and the hospital's answers.

Every page is a `liaison_page` (403 for coordinators and admins) and fetches the referral through
`_get_referral_for_staff`, which scopes it to the liaison's hospital: another hospital's
referral, or a lead that was never referred, is a 404. The patient is shown as the
`ReferralSnapshot` taken when the lead was referred, never the live record.
"""

from django import forms
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from carecrm.client import client_ip
from referrals import access, pipeline, selectors, services
from referrals.forms import (
    DocumentsRequestForm,
    HospitalAcceptForm,
    HospitalDatesForm,
    HospitalDeclineForm,
    HospitalFilterForm,
    HospitalTreatedForm,
    VersionedForm,
)
from referrals.models import Referral
from referrals.views.common import (
    ReferralPage,
    _get_referral_for_staff,
    document_download,
    liaison_page,
    page_context,
)
from referrals.vocabulary import (
    AWAITING_DECISION,
    HOSPITAL_OPEN_STAGES,
    TREATMENT_DATE_STAGES,
    AccessAction,
    HospitalSide,
    Stage,
)


def _waiting_days(referral: Referral, today) -> int | None:
    """Days the referral has waited for the hospital's decision (or waited, once decided)."""
    if referral.referred_at is None:
        return None
    until = (
        timezone.localdate(referral.hospital_decision_at)
        if referral.hospital_decision_at
        else today
    )
    return (until - timezone.localdate(referral.referred_at)).days


@liaison_page
def hospital_referrals(request: HttpRequest) -> HttpResponse:
    form = HospitalFilterForm(request.GET or None)
    filters, page = selectors.HospitalFilters(), 1
    if form.is_valid():
        data = form.cleaned_data
        filters = selectors.HospitalFilters(search=data["q"], show=data["show"] or "open")
        page = data["page"] or 1
    leads = selectors.liaison_referrals(request.user, filters, page=page)
    today = timezone.localdate()
    rows = [
        {
            "lead": lead,
            "snapshot": selectors.sent_snapshot(lead),
            "waiting": _waiting_days(lead, today),
            "awaiting_decision": lead.hospital_side in AWAITING_DECISION,
        }
        for lead in leads[: selectors.HOSPITAL_PAGE_SIZE]
    ]
    query = request.GET.copy()
    query.pop("page", None)
    profile = access.liaison_profile_of(request.user)
    return render(
        request,
        "referrals/hospital_list.html",
        page_context(
            request,
            f"Referrals to {profile.hospital}",
            form=form,
            rows=rows,
            profile=profile,
            show=filters.show,
            page=page,
            has_next=len(leads) > selectors.HOSPITAL_PAGE_SIZE,
            query=query.urlencode(),
        ),
    )


@liaison_page
def hospital_referral(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)
    services.access_log_record(
        user=request.user,
        action=AccessAction.VIEW_LEAD,
        referral=referral,
        detail="Hospital liaison page",
        ip_address=client_ip(request),
    )
    return _render_referral(request, referral)


def _render_referral(request: HttpRequest, referral: Referral, **bound: forms.Form) -> HttpResponse:
    referral = selectors.referral_for_liaison_page(referral)
    snapshot = selectors.sent_snapshot(referral)
    if snapshot is None:  # the scope requires one; never show the live patient instead
        raise Http404("This referral has no packet.")
    stage = Stage(referral.stage)
    versioned = {"version": referral.version}
    context = {
        "referral": referral,
        "snapshot": snapshot,
        "packet": snapshot.data,
        "documents": referral.documents.all(),
        "timeline": referral.hospital_timeline,
        "waiting": _waiting_days(referral, timezone.localdate()),
        "can_confirm": referral.hospital_side == HospitalSide.SENT,
        "can_decide": referral.hospital_side in AWAITING_DECISION,
        "can_decline": pipeline.role_may_move(pipeline.Role.LIAISON, stage, Stage.CLOSED),
        "can_request": stage in HOSPITAL_OPEN_STAGES,
        "can_set_dates": stage in HOSPITAL_OPEN_STAGES,
        "can_set_treatment_dates": stage in TREATMENT_DATE_STAGES,
        "can_report_treated": stage == Stage.SCHEDULED,
        "declined_by_hospital": referral.hospital_side == HospitalSide.DECLINED,
        "receipt_form": VersionedForm(initial=versioned, auto_id="receipt_%s"),
        "accept_form": HospitalAcceptForm(initial=versioned, auto_id="accept_%s"),
        "decline_form": HospitalDeclineForm(initial=versioned, auto_id="decline_%s"),
        "request_form": DocumentsRequestForm(auto_id="request_%s"),
        "dates_form": HospitalDatesForm(referral=referral, auto_id="dates_%s"),
        "treated_form": HospitalTreatedForm(
            initial={**versioned, "infusion_date": referral.infusion_date}, auto_id="treated_%s"
        ),
    }
    context.update(bound)
    return render(
        request,
        "referrals/hospital_referral.html",
        page_context(
            request, f"Referral #{referral.pk} · {snapshot.data['patient']['name']}", **context
        ),
    )


HOSPITAL_PAGE = ReferralPage(url_name="hospital:referral", render=_render_referral)


@liaison_page
@require_POST
def hospital_receipt(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)

    def confirm(data: dict) -> str:
        services.hospital_confirm_receipt(
            referral=referral, by=request.user, expected_version=data["version"]
        )
        return "Receipt confirmed; the coordinator has been told."

    form = VersionedForm(request.POST, auto_id="receipt_%s")
    return HOSPITAL_PAGE.act(request, referral, form, "receipt_form", confirm)


@liaison_page
@require_POST
def hospital_request_documents(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)

    def ask(data: dict) -> str:
        services.hospital_request_documents(
            referral=referral, by=request.user, message=data["message"]
        )
        return "Request sent to the coordinator."

    form = DocumentsRequestForm(request.POST, auto_id="request_%s")
    return HOSPITAL_PAGE.act(request, referral, form, "request_form", ask)


@liaison_page
@require_POST
def hospital_accept(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)

    def accept(data: dict) -> str:
        services.hospital_accept(
            referral=referral, by=request.user, expected_version=data["version"], note=data["note"]
        )
        return "Referral accepted; the coordinator has been told."

    form = HospitalAcceptForm(request.POST, auto_id="accept_%s")
    return HOSPITAL_PAGE.act(request, referral, form, "accept_form", accept)


@liaison_page
@require_POST
def hospital_decline(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)

    def decline(data: dict) -> str:
        services.hospital_decline(
            referral=referral,
            by=request.user,
            expected_version=data["version"],
            reason=data["reason"],
            detail=data["detail"],
        )
        return "Referral declined; the coordinator has been told."

    form = HospitalDeclineForm(request.POST, auto_id="decline_%s")
    return HOSPITAL_PAGE.act(request, referral, form, "decline_form", decline)


@liaison_page
@require_POST
def hospital_dates(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)

    def save(data: dict) -> str:
        saved = services.hospital_set_dates(
            referral=referral,
            by=request.user,
            expected_version=data["version"],
            consult_date=data["consult_date"],
            apheresis_date=data["apheresis_date"],
            infusion_date=data["infusion_date"],
        )
        if saved.stage == Stage.SCHEDULED and referral.stage != Stage.SCHEDULED:
            return "Dates saved; the referral is scheduled."
        return "Dates saved."

    form = HospitalDatesForm(request.POST, referral=referral, auto_id="dates_%s")
    return HOSPITAL_PAGE.act(request, referral, form, "dates_form", save)


@liaison_page
@require_POST
def hospital_treated(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)

    def report(data: dict) -> str:
        services.hospital_report_treatment(
            referral=referral,
            by=request.user,
            expected_version=data["version"],
            infusion_date=data["infusion_date"],
            note=data["note"],
        )
        return "Treatment reported; the coordinator has been told."

    form = HospitalTreatedForm(request.POST, auto_id="treated_%s")
    return HOSPITAL_PAGE.act(request, referral, form, "treated_form", report)


@require_GET
@liaison_page
def hospital_document(request: HttpRequest, pk: int, document_pk: int) -> FileResponse:
    """One of the referral's documents as a download, logged like the coordinator's."""
    referral = _get_referral_for_staff(request, pk)
    return document_download(request, referral, document_pk, reader="hospital liaison")
