"""Moving a lead with the lead page's transition form: the pipeline's rules, closing and
reopening."""

import pytest

from referrals.models import (
    CloseReason,
    Referral,
    Stage,
)
from tests import pages

pytestmark = pytest.mark.django_db


def test_it_moves_a_lead_with_the_transition_form(coordinator_client, coordinator, lead):
    response = pages.transition(coordinator_client, lead, "contacted", note="Reached her by phone.")

    assert response.status_code == 302
    assert response["Location"] == pages.url("lead", lead.pk)
    page = coordinator_client.get(response["Location"])
    assert "Moved to Contacted." in pages.unescaped(page)
    assert "New → Contacted: Reached her by phone." in pages.timeline(page)
    lead.refresh_from_db()
    assert lead.stage == Stage.CONTACTED
    assert pages.stage_changes(lead) == [("new", "contacted")]


def test_it_refuses_a_move_the_pipeline_does_not_allow(coordinator_client, lead):
    before = pages.written(lead)

    response = pages.transition(coordinator_client, lead, "referred")

    assert response.status_code == 200
    assert "Please correct the errors below." in pages.unescaped(response)
    assert "Select a valid choice." in pages.unescaped(response)
    assert pages.written(lead) == before


def test_it_refuses_eligible_without_an_eligible_check(coordinator_client, lead):
    Referral.objects.filter(pk=lead.pk).update(stage=Stage.SCREENING)
    before = pages.written(lead)

    response = pages.transition(coordinator_client, lead, "eligible")

    assert response.status_code == 200
    assert "Record an eligibility check with an “eligible” verdict" in pages.unescaped(response)
    assert pages.written(lead) == before


@pytest.mark.parametrize(
    ("close_reason", "message"),
    [
        ("", "Closing a lead needs a close reason."),
        (CloseReason.SCREEN_FAILED, "A screen failure must say which criterion failed."),
        (CloseReason.OTHER, "Closing for “Other” needs a short explanation."),
    ],
)
def test_it_keeps_a_lead_open_when_closing_lacks_a_reason(
    coordinator_client, lead, close_reason, message
):
    before = pages.written(lead)

    response = pages.transition(
        coordinator_client, lead, "closed", close_reason=close_reason, note="Typed note"
    )

    assert response.status_code == 200
    assert message in pages.unescaped(response)
    assert "Typed note</textarea>" in pages.text(response)
    assert pages.written(lead) == before


def test_it_closes_a_lead_and_reopens_it_only_with_a_note(coordinator_client, lead):
    Referral.objects.filter(pk=lead.pk).update(stage=Stage.SCREENING)
    closed = pages.transition(
        coordinator_client, lead, "closed", close_reason=CloseReason.DECLINED_BY_PATIENT
    )
    assert closed.status_code == 302
    lead.refresh_from_db()
    assert (lead.stage, lead.close_reason) == (Stage.CLOSED, CloseReason.DECLINED_BY_PATIENT)
    before = pages.written(lead)

    refused = pages.transition(coordinator_client, lead, "contacted")

    assert refused.status_code == 200
    assert "Reopening a closed lead needs a note saying why." in pages.unescaped(refused)
    assert pages.written(lead) == before

    reopened = pages.transition(coordinator_client, lead, "contacted", note="She changed her mind.")

    assert reopened.status_code == 302
    lead.refresh_from_db()
    assert (lead.stage, lead.close_reason) == (Stage.SCREENING, "")
    timeline = pages.timeline(coordinator_client.get(pages.url("lead", lead.pk)))
    assert "Closed → Screening: She changed her mind." in timeline
    assert "Screening → Closed: Declined by patient" in timeline
