"""After treatment, on the lead page: the infusion and its outcome, and the follow-up visits.

The forms live in the lead page's "Treatment and follow-up" card; each posts to its own view and,
like every lead action, a refusal re-renders the page with the input and the reason.
"""

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from referrals import selectors, services
from referrals.forms import TreatmentOutcomeForm
from referrals.views.common import _get_referral_for_staff, staff_page
from referrals.views.lead_page import LEAD_PAGE, visit_form


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
    return LEAD_PAGE.act(request, referral, form, "outcome_form", save)


@staff_page("referrals.view_referral")
@require_POST
def lead_visit(request: HttpRequest, pk: int, visit_pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)
    visit = selectors.lead_follow_up_visit(referral, visit_pk)
    if visit is None:
        raise Http404("No such follow-up visit on this lead.")

    def record(data: dict) -> str:
        services.follow_up_visit_record(visit=visit, by=request.user, **data)
        return f"{visit.month}-month follow-up recorded."

    form = visit_form(visit, request.POST)
    return LEAD_PAGE.act(request, referral, form, "visit_form", record, visit_to_record=visit)
