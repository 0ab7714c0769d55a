"""A lead the whole way, through the pages as its users see them."""

import html

import pytest

from tests import pages

pytestmark = pytest.mark.django_db


def test_it_takes_a_lead_from_new_to_referred(coordinator_client, lead, program):
    def step(response, stage: str) -> str:
        assert response.status_code == 302, html.unescape(pages.text(response))
        assert response["Location"] == pages.url("lead", lead.pk)
        lead.refresh_from_db()
        assert lead.stage == stage
        board = coordinator_client.get(pages.url("board"))
        assert lead.pk in pages.card_ids(pages.column(board, stage))
        return pages.timeline(coordinator_client.get(pages.url("lead", lead.pk)))

    timeline = step(pages.transition(coordinator_client, lead, "contacted"), "contacted")
    assert "New → Contacted" in timeline
    timeline = step(
        pages.transition(coordinator_client, lead, "records_requested"), "records_requested"
    )
    assert "Contacted → Records requested" in timeline
    timeline = step(pages.transition(coordinator_client, lead, "screening"), "screening")
    assert "Records requested → Screening" in timeline
    checked = pages.post(
        coordinator_client, "lead_screening", lead, kind="program", candidate_id=program.pk
    )
    timeline = step(checked, "screening")
    assert "Eligibility check: CD19 CAR-T (Sheba): Eligible" in timeline
    timeline = step(pages.transition(coordinator_client, lead, "eligible"), "eligible")
    assert "Screening → Eligible" in timeline
    targeted = pages.post(
        coordinator_client, "lead_target", lead, kind="program", candidate_id=program.pk
    )
    timeline = step(targeted, "eligible")
    assert "Target: CD19 CAR-T (Sheba)" in timeline
    timeline = step(pages.transition(coordinator_client, lead, "referred"), "referred")

    newest_first = [
        "Eligible → Referred",
        "Target: CD19 CAR-T (Sheba)",
        "Screening → Eligible",
        "Eligibility check: CD19 CAR-T (Sheba): Eligible",
        "Records requested → Screening",
        "Contacted → Records requested",
        "New → Contacted",
    ]
    positions = [timeline.index(entry) for entry in newest_first]
    assert positions == sorted(positions)
    assert pages.stage_changes(lead) == [
        ("new", "contacted"),
        ("contacted", "records_requested"),
        ("records_requested", "screening"),
        ("screening", "eligible"),
        ("eligible", "referred"),
    ]
