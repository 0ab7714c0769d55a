"""The lead page's day-to-day work: its coordinator, next action, notes and tasks."""

import datetime

import pytest
from django.utils import timezone

from referrals.models import (
    EventKind,
    Task,
)
from tests import pages
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


def test_it_reassigns_a_lead_to_another_coordinators_queue(
    coordinator_client, coordinator2_client, coordinator2, lead
):
    response = pages.post(coordinator_client, "lead_assign", lead, assignee=coordinator2.pk)

    assert response.status_code == 302
    event = lead.events.get(kind=EventKind.ASSIGNMENT)
    assert event.body == f"Assigned to {coordinator2.get_full_name()}"
    assert f"Assigned to {coordinator2.get_full_name()}" in pages.timeline(
        coordinator_client.get(pages.url("lead", lead.pk))
    )
    assert "Dana Levi" in pages.queue_rows(coordinator2_client.get(pages.url("queue")))
    assert "Dana Levi" not in pages.queue_rows(coordinator_client.get(pages.url("queue")))


def test_it_refuses_to_assign_a_lead_to_its_own_coordinator(coordinator_client, coordinator, lead):
    before = pages.written(lead)

    response = pages.post(coordinator_client, "lead_assign", lead, assignee=coordinator.pk)

    assert response.status_code == 200
    assert "already assigned to" in pages.unescaped(response)
    assert pages.written(lead) == before


def test_it_saves_the_next_action_and_shows_it_in_my_queue(coordinator_client, lead):
    yesterday = pages.today() - datetime.timedelta(days=1)

    response = pages.post(
        coordinator_client,
        "lead_next_action",
        lead,
        next_action="Call for the biopsy report",
        next_action_due=yesterday.isoformat(),
    )

    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.next_action, lead.next_action_due) == ("Call for the biopsy report", yesterday)
    row = pages.queue_rows(coordinator_client.get(pages.url("queue")))["Dana Levi"]
    assert "Call for the biopsy report" in row
    assert "overdue" in row


# --- notes ---------------------------------------------------------------------------------------


def test_it_adds_a_call_to_the_timeline(coordinator_client, coordinator, lead):
    response = pages.post(
        coordinator_client, "lead_note", lead, kind="call", body="  Left a voicemail.  "
    )

    assert response.status_code == 302
    event = lead.events.get(kind=EventKind.CALL)
    assert (event.body, event.author) == ("Left a voicemail.", coordinator)
    assert "Call: Left a voicemail." in pages.timeline(
        coordinator_client.get(pages.url("lead", lead.pk))
    )


@pytest.mark.parametrize("body", ["", "   "])
def test_it_refuses_an_empty_note(coordinator_client, lead, body):
    before = pages.written(lead)

    response = pages.post(coordinator_client, "lead_note", lead, kind="note", body=body)

    assert response.status_code == 200
    assert "This field is required." in pages.text(response)
    assert pages.written(lead) == before


# --- tasks ---------------------------------------------------------------------------------------


def test_it_adds_a_task_to_the_assignees_queue_until_it_is_done(
    coordinator_client, coordinator2_client, coordinator2, lead
):
    due = pages.today() + datetime.timedelta(days=2)

    added = pages.post(
        coordinator_client,
        "lead_task",
        lead,
        title="Request biopsy report",
        due_on=due.isoformat(),
        assignee=coordinator2.pk,
    )

    assert added.status_code == 302
    task = Task.objects.get(referral=lead)
    assert (task.title, task.due_on, task.assignee) == ("Request biopsy report", due, coordinator2)
    assert "Request biopsy report" in pages.testid(
        coordinator2_client.get(pages.url("queue")), "tasks", "table"
    )
    assert "Request biopsy report" not in pages.text(coordinator_client.get(pages.url("queue")))

    done = coordinator_client.post(pages.url("lead_task_done", lead.pk, task.pk))

    assert done.status_code == 302
    assert "Request biopsy report" not in pages.text(coordinator2_client.get(pages.url("queue")))
    page = coordinator_client.get(pages.url("lead", lead.pk))
    assert "<s>Request biopsy report</s>" in pages.testid(page, "task-list", "ul")
    assert "Done: Request biopsy report" in pages.timeline(page)


def test_it_refuses_to_finish_a_task_twice(coordinator_client, coordinator, lead):
    task = TaskFactory(referral=lead, assignee=coordinator, done_at=timezone.now())
    before = pages.written(lead)

    response = coordinator_client.post(pages.url("lead_task_done", lead.pk, task.pk), follow=True)

    assert "That task is already done." in pages.unescaped(response)
    assert pages.written(lead) == before


def test_it_refuses_a_task_without_a_title(coordinator_client, coordinator, lead):
    before = pages.written(lead)

    response = pages.post(
        coordinator_client,
        "lead_task",
        lead,
        title="",
        due_on=pages.today().isoformat(),
        assignee=coordinator.pk,
    )

    assert response.status_code == 200
    assert "This field is required." in pages.text(response)
    assert pages.written(lead) == before


def test_it_answers_404_for_a_task_of_another_lead(coordinator_client, coordinator, lead):
    other_task = TaskFactory(assignee=coordinator, due_on=pages.today())

    response = coordinator_client.post(pages.url("lead_task_done", lead.pk, other_task.pk))

    assert response.status_code == 404
    other_task.refresh_from_db()
    assert not other_task.is_done
