"""Eligibility checks, the target program or trial, and referring the lead to it."""

import html

import pytest

from referrals.models import (
    Referral,
    ScreeningRecord,
    Stage,
)
from tests import pages
from tests.factories import (
    ConditionFactory,
    ProgramFactory,
)
from trials.models import ProgramStatus

pytestmark = pytest.mark.django_db


def test_it_records_an_eligibility_check_with_its_criteria(
    coordinator_client, coordinator, lead, program
):
    response = pages.post(
        coordinator_client, "lead_screening", lead, kind="program", candidate_id=program.pk
    )

    assert response.status_code == 302
    record = ScreeningRecord.objects.get(referral=lead)
    assert (record.program, record.verdict, record.recorded_by) == (
        program,
        "eligible",
        coordinator,
    )
    assert record.candidate_name == "CD19 CAR-T (Sheba)"
    assert [(c["name"], c["result"]) for c in record.criteria] == [
        ("Condition", "pass"),
        ("Age", "pass"),
        ("Failed lines", "pass"),
        ("Program accepting", "pass"),
        ("Where it treats", "pass"),
    ]
    program.name = "Renamed program"
    program.save()
    page = coordinator_client.get(pages.url("lead", lead.pk))
    assert "CD19 CAR-T (Sheba)" in pages.testid(page, "screenings", "table")
    assert "Eligibility check: CD19 CAR-T (Sheba): Eligible" in pages.timeline(page)


def test_it_records_which_criteria_an_ineligible_check_failed(coordinator_client, lead):
    for_ra = ProgramFactory(conditions=[ConditionFactory(name="Rheumatoid arthritis")])

    pages.post(coordinator_client, "lead_screening", lead, kind="program", candidate_id=for_ra.pk)

    record = ScreeningRecord.objects.get(referral=lead)
    assert record.verdict == "ineligible"
    assert record.failed_criteria == ["Condition"]
    assert "Ineligible (failed: Condition)" in pages.timeline(
        coordinator_client.get(pages.url("lead", lead.pk))
    )


def test_it_refuses_to_check_a_candidate_that_does_not_exist(coordinator_client, lead):
    before = pages.written(lead)

    response = pages.post(
        coordinator_client, "lead_screening", lead, kind="trial", candidate_id=999_999
    )

    assert response.status_code == 200
    assert "That program or trial no longer exists." in pages.unescaped(response)
    assert pages.written(lead) == before


# --- the target and the referral -----------------------------------------------------------------


def test_it_sets_the_target_and_changes_nothing_else(
    coordinator_client, coordinator, lead, program
):
    lead = pages.eligible_lead(lead, program)
    Referral.objects.filter(pk=lead.pk).update(next_action="Send records")
    lead.refresh_from_db()

    response = pages.post(
        coordinator_client, "lead_target", lead, kind="program", candidate_id=program.pk
    )

    assert response.status_code == 302
    after = Referral.objects.get(pk=lead.pk)
    assert after.target_program == program
    assert after.target_trial is None
    assert (after.stage, after.assigned_to, after.next_action) == (
        Stage.ELIGIBLE,
        coordinator,
        "Send records",
    )
    assert after.version == lead.version + 1
    page = coordinator_client.get(pages.url("lead", lead.pk))
    assert "Target chosen: Target: CD19 CAR-T (Sheba)" in pages.timeline(page)
    assert "Target: CD19 CAR-T (Sheba)" in html.unescape(pages.text(page))


def test_it_refers_a_lead_to_an_accepting_program(coordinator_client, lead, program):
    lead = pages.eligible_lead(lead, program)
    pages.post(coordinator_client, "lead_target", lead, kind="program", candidate_id=program.pk)

    response = pages.transition(coordinator_client, lead, "referred")

    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.stage == Stage.REFERRED


def test_it_refuses_to_refer_a_lead_to_a_paused_program(coordinator_client, lead, program):
    lead = pages.eligible_lead(lead, program)
    pages.post(coordinator_client, "lead_target", lead, kind="program", candidate_id=program.pk)
    program.status = ProgramStatus.PAUSED
    program.save()
    before = pages.written(lead)

    response = pages.transition(coordinator_client, lead, "referred")

    assert response.status_code == 200
    assert "CD19 CAR-T (Sheba) is not accepting referrals right now." in pages.unescaped(response)
    assert pages.written(lead) == before


def test_it_refuses_to_refer_a_lead_without_a_target(coordinator_client, lead, program):
    lead = pages.eligible_lead(lead, program)
    before = pages.written(lead)

    response = pages.transition(coordinator_client, lead, "referred")

    assert response.status_code == 200
    assert "Choose a target program or trial before referring." in pages.unescaped(response)
    assert pages.written(lead) == before
