"""The lead page's eligibility evidence: recording a dated clinical fact, and overriding one
criterion of one candidate with a reason (or withdrawing the override)."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from referrals import services
from referrals.forms import ClinicalFactForm, CriterionKeyForm, CriterionOverrideForm
from referrals.views.common import _get_referral_for_staff, staff_page
from referrals.views.lead_page import LEAD_PAGE
from trials.clinical import fact_label


@staff_page("referrals.view_referral")
@require_POST
def lead_fact(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)

    def record(data: dict) -> str:
        fact = services.clinical_fact_record(
            referral=referral,
            kind=data["kind"],
            value=data["value"],
            observed_on=data["observed_on"],
            source=data["source"],
            note=data["note"],
            by=request.user,
        )
        return f"{fact_label(fact.kind)} recorded; eligibility re-checked."

    form = ClinicalFactForm(request.POST, auto_id="fact_%s")
    return LEAD_PAGE.act(request, referral, form, "fact_form", record)


@staff_page("referrals.view_referral")
@require_POST
def lead_override(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)

    def decide(data: dict) -> str:
        services.criterion_override_set(
            referral=referral,
            candidate_kind=data["candidate_kind"],
            candidate_id=data["candidate_id"],
            criterion_key=data["criterion_key"],
            result=data["result"],
            reason=data["reason"],
            by=request.user,
        )
        return "Override recorded."

    form = CriterionOverrideForm(request.POST)
    return LEAD_PAGE.act(request, referral, form, "override_form", decide)


@staff_page("referrals.view_referral")
@require_POST
def lead_override_clear(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)

    def clear(data: dict) -> str:
        services.criterion_override_clear(
            referral=referral,
            candidate_kind=data["candidate_kind"],
            candidate_id=data["candidate_id"],
            criterion_key=data["criterion_key"],
            by=request.user,
        )
        return "Override withdrawn."

    form = CriterionKeyForm(request.POST)
    return LEAD_PAGE.act(request, referral, form, "override_form", clear)
