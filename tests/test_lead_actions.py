"""Every write a coordinator makes on a lead: who may post it, and a stale version refused."""

import pytest

from referrals.models import Referral
from tests import pages
from tests.factories import TaskFactory, TherapyFactory

pytestmark = pytest.mark.django_db

LEAD_ACTIONS = [
    "lead_transition",
    "lead_assign",
    "lead_next_action",
    "lead_note",
    "lead_task",
    "lead_task_done",
    "lead_screening",
    "lead_target",
    "lead_line",
]


def _action(name: str, lead: Referral, program, assignee) -> tuple[str, dict]:
    """The URL and valid data of one write a coordinator can make."""
    version = {"version": lead.version}
    if name == "board_move":
        return pages.url("board_move"), {**version, "referral": lead.pk, "to_stage": "contacted"}
    if name == "lead_task_done":
        task = TaskFactory(referral=lead, assignee=assignee, due_on=pages.today())
        return pages.url(name, lead.pk, task.pk), {}
    data = {
        "lead_transition": {**version, "to_stage": "contacted"},
        "lead_assign": {**version, "assignee": ""},
        "lead_next_action": {**version, "next_action": "Call", "next_action_due": pages.today()},
        "lead_note": {"kind": "note", "body": "Spoke with the patient."},
        "lead_task": {"title": "Get records", "due_on": pages.today(), "assignee": assignee.pk},
        "lead_screening": {**version, "kind": "program", "candidate_id": program.pk},
        "lead_target": {**version, "kind": "program", "candidate_id": program.pk},
        "lead_line": pages.line_data(TherapyFactory(), line_number=3),
    }[name]
    return pages.url(name, lead.pk), data


@pytest.mark.parametrize("name", [*LEAD_ACTIONS, "board_move"])
def test_it_refuses_every_write_to_a_user_who_may_only_view(
    client, viewer, coordinator, lead, program, name
):
    url, data = _action(name, lead, program, coordinator)
    before = pages.written(lead)
    client.force_login(viewer)

    response = client.post(url, data, headers=pages.HTMX)

    assert response.status_code == 403
    assert pages.written(lead) == before


@pytest.mark.parametrize("name", [*LEAD_ACTIONS, "board_move"])
def test_it_lets_a_coordinator_make_every_write(
    coordinator_client, coordinator, lead, program, name
):
    url, data = _action(name, lead, program, coordinator)
    before = pages.written(lead)

    response = coordinator_client.post(url, data, headers=pages.HTMX)

    assert response.status_code in (200, 302)
    assert pages.written(lead) != before


@pytest.mark.parametrize("name", LEAD_ACTIONS)
def test_it_answers_404_when_acting_on_an_unknown_lead(coordinator_client, name):
    args = (999_999, 1) if name == "lead_task_done" else (999_999,)

    response = coordinator_client.post(pages.url(name, *args), {"version": 1})

    assert response.status_code == 404


@pytest.mark.parametrize(
    "name", ["lead_transition", "lead_assign", "lead_next_action", "lead_target"]
)
def test_it_refuses_a_stale_save_on_the_lead_page(
    coordinator_client, coordinator2, lead, program, name
):
    data = {
        "lead_transition": {"to_stage": "contacted"},
        "lead_assign": {"assignee": coordinator2.pk},
        "lead_next_action": {"next_action": "Mine"},
        "lead_target": {"kind": "program", "candidate_id": program.pk},
    }[name]
    Referral.objects.filter(pk=lead.pk).update(next_action="Theirs", version=2)
    before = pages.written(lead)

    response = pages.post(coordinator_client, name, lead, version=1, **data)

    assert response.status_code == 200
    assert "Someone else saved this referral" in pages.unescaped(response)
    assert pages.written(lead) == before
