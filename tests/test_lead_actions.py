"""Every form the lead page posts (tests/lead_actions.py), and the board's move: a viewer is
refused each one, a coordinator makes each one, an unknown lead is a 404, a stale version is
refused."""

import pytest
from django.contrib.messages import get_messages
from django.urls import resolve, reverse

from referrals.models import Referral
from tests import pages
from tests.lead_actions import LEAD_ACTIONS, lead_action

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path):
    """The document upload and the sent packet keep their files here."""
    settings.PRIVATE_STORAGE_ROOT = tmp_path


def _write(name: str, lead: Referral, program, coordinator) -> tuple[str, dict]:
    """The URL and valid data of one write a coordinator can make."""
    if name == "board_move":
        lead.refresh_from_db()
        data = {"referral": lead.pk, "version": lead.version, "to_stage": "contacted"}
        return pages.url("board_move"), data
    return lead_action(name, lead, program=program, coordinator=coordinator)


@pytest.mark.parametrize("name", [*LEAD_ACTIONS, "board_move"])
def test_it_refuses_every_write_to_a_user_who_may_only_view(
    client, viewer, coordinator, lead, program, name
):
    url, data = _write(name, lead, program, coordinator)
    before = pages.written(lead)
    client.force_login(viewer)

    response = client.post(url, data, headers=pages.HTMX)

    assert response.status_code == 403
    assert pages.written(lead) == before


@pytest.mark.parametrize("name", [*LEAD_ACTIONS, "board_move"])
def test_it_lets_a_coordinator_make_every_write(
    coordinator_client, coordinator, lead, program, name
):
    url, data = _write(name, lead, program, coordinator)
    before = pages.written(lead)

    response = coordinator_client.post(url, data, headers=pages.HTMX)

    if name == "board_move":  # answered in place: the board's htmx partial
        assert response.status_code == 200
        assert "Dana Levi moved to Contacted." in pages.testid(response, "board-messages", "div")
    else:  # back to the lead page, saying it worked
        assert response.status_code == 302
        assert response["Location"] == pages.url("lead", lead.pk)
        assert [m.level_tag for m in get_messages(response.wsgi_request)] == ["success"]
    assert pages.written(lead) != before


@pytest.mark.parametrize("name", LEAD_ACTIONS)
def test_it_answers_404_when_acting_on_an_unknown_lead(
    coordinator_client, coordinator, lead, program, name
):
    url, data = lead_action(name, lead, program=program, coordinator=coordinator)
    found = resolve(url)
    unknown = reverse(found.view_name, kwargs={**found.kwargs, "pk": 999_999})
    before = pages.written(lead)

    response = coordinator_client.post(unknown, data)

    assert response.status_code == 404
    assert pages.written(lead) == before


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
