"""After treatment, on the lead page: the infusion and its outcome, and the follow-up visits.

The forms live in the lead page's "Treatment and follow-up" card; each posts to its own view and,
like every lead action, a refusal re-renders the page with the input and the reason.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_POST

from referrals import services
from referrals.forms import FollowUpVisitForm, TreatmentOutcomeForm
from referrals.models import FollowUpVisit, Referral
from referrals.views.common import _get_referral_for_staff, staff_page
from referrals.views.lead import _act
from referrals.vocabulary import FOLLOW_UP_STAGES


def follow_up_context(request: HttpRequest, referral: Referral) -> dict:
    """What the card needs, from the lead as `selectors.referral_for_lead_page` loaded it."""
    outcome = getattr(referral, "treatment_outcome", None)
    visits = list(outcome.visits.all()) if outcome else []
    visit_id = request.GET.get("visit", "")
    visit = next((v for v in visits if visit_id.isdecimal() and v.pk == int(visit_id)), None)
    target = referral.target_trial or referral.target_program
    product = getattr(target, "product", "") or (str(target) if target else "")
    if outcome:
        outcome_initial = {
            name: getattr(outcome, name)
            for name in TreatmentOutcomeForm.base_fields
            if hasattr(outcome, name)
        }
    else:
        outcome_initial = {"infusion_date": referral.scheduled_for, "product": product}
    return {
        "outcome": outcome,
        "visits": visits,
        "follow_up_open": referral.stage in FOLLOW_UP_STAGES,
        "outcome_form": TreatmentOutcomeForm(auto_id="outcome_%s", initial=outcome_initial),
        "visit_to_record": visit,
        "visit_form": _visit_form(visit) if visit else None,
    }


def _visit_form(visit: FollowUpVisit, data=None) -> FollowUpVisitForm:
    initial = {
        name: getattr(visit, name)
        for name in ("done_on", "sledai_2k", "das28", "mrss", "mg_adl", "notes")
    }
    remission = visit.drug_free_remission
    initial["drug_free_remission"] = "" if remission is None else ("yes" if remission else "no")
    return FollowUpVisitForm(data, auto_id="visit_%s", initial=initial)


@staff_page("referrals.view_referral")
@require_POST
def lead_outcome(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)

    def save(data: dict) -> str:
        is_new = not hasattr(referral, "treatment_outcome")
        services.treatment_outcome_save(referral=referral, by=request.user, **data)
        if is_new:
            return "Infusion recorded; the 1-, 3-, 6- and 12-month visits are in the task list."
        return "Outcome saved."

    form = TreatmentOutcomeForm(request.POST, auto_id="outcome_%s")
    return _act(request, referral, form, "outcome_form", save)


@staff_page("referrals.view_referral")
@require_POST
def lead_visit(request: HttpRequest, pk: int, visit_pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)
    visit = get_object_or_404(FollowUpVisit, pk=visit_pk, outcome__referral=referral)

    def record(data: dict) -> str:
        services.follow_up_visit_record(visit=visit, by=request.user, **data)
        return f"{visit.month}-month follow-up recorded."

    form = _visit_form(visit, request.POST)
    return _act(request, referral, form, "visit_form", record, visit_to_record=visit)
