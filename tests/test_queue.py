"""My queue: my open leads, most urgent first, searched, filtered and paged, and my tasks."""

import datetime
import html
import re

import pytest
from django.utils import timezone

from referrals.models import (
    CloseReason,
    Referral,
    Stage,
)
from referrals.selectors import QUEUE_PAGE_SIZE, QUEUE_TASK_LIMIT
from tests import pages
from tests.factories import (
    PatientFactory,
    PriorTreatmentLineFactory,
    ReferralFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("count", [5, 50])
def test_it_loads_my_queue_in_the_same_queries_for_5_or_50_leads(
    coordinator_client, coordinator, django_assert_num_queries, count
):
    today = pages.today()
    for number in range(count):
        line = PriorTreatmentLineFactory()
        referral = ReferralFactory(
            patient=line.patient,
            assigned_to=coordinator,
            stage=Stage.CONTACTED,
            next_action_due=today + datetime.timedelta(days=number % 3 - 1),
        )
        TaskFactory(referral=referral, assignee=coordinator, due_on=today)

    # 1 session, 2 user, 3 user permissions, 4 group permissions,
    # 5 the ids of the page (sorted in the coordinator's index), 6 those leads (patient and
    # condition joined, each with its failed-line count), 7 my open tasks (lead and patient
    # joined).
    with django_assert_num_queries(7):
        response = coordinator_client.get(pages.url("queue"))

    # Rows, not names: Faker may give two of the 50 patients the same name.
    queue_body = pages.testid(response, "queue", "table").split("<tbody>", 1)[-1]
    assert len(re.findall(r"<tr>", queue_body)) == count
    tasks_shown = min(count, QUEUE_TASK_LIMIT)
    assert len(re.findall(r"<tr>", pages.testid(response, "tasks", "table"))) == tasks_shown + 1


def _queue_lead(coordinator, name: str, **fields) -> Referral:
    first, last = name.split()
    fields.setdefault("stage", Stage.CONTACTED)
    return ReferralFactory(
        patient=PatientFactory(first_name=first, last_name=last),
        assigned_to=coordinator,
        **fields,
    )


def test_it_lists_only_my_open_leads(coordinator_client, coordinator, coordinator2):
    _queue_lead(coordinator, "Mine Open")
    _queue_lead(coordinator, "Mine New", stage=Stage.NEW)
    _queue_lead(coordinator, "Mine Closed", stage=Stage.CLOSED, close_reason=CloseReason.DUPLICATE)
    _queue_lead(coordinator2, "Theirs Open")
    _queue_lead(None, "Nobody Open")

    response = coordinator_client.get(pages.url("queue"))

    assert set(pages.queue_rows(response)) == {"Mine Open", "Mine New"}


def test_it_puts_overdue_and_uncontacted_leads_before_due_today_and_later(
    coordinator_client, coordinator
):
    today, now = pages.today(), timezone.now()
    days = datetime.timedelta
    _queue_lead(coordinator, "Later Lead", next_action_due=today + days(3))
    _queue_lead(coordinator, "Undated Lead")
    _queue_lead(coordinator, "Today Lead", next_action_due=today)
    _queue_lead(coordinator, "Fresh Lead", stage=Stage.NEW, created_at=now)
    _queue_lead(coordinator, "Overdue Lead", next_action_due=today - days(2))
    _queue_lead(coordinator, "Uncontacted Lead", stage=Stage.NEW, created_at=now - days(10))

    rows = pages.queue_rows(coordinator_client.get(pages.url("queue")))

    assert list(rows)[:4] == ["Overdue Lead", "Uncontacted Lead", "Today Lead", "Later Lead"]
    assert set(list(rows)[4:]) == {"Undated Lead", "Fresh Lead"}
    assert "overdue" in rows["Overdue Lead"]
    assert "not contacted" in rows["Uncontacted Lead"]
    assert "Due today" in rows["Today Lead"]
    for on_track in ("Later Lead", "Undated Lead", "Fresh Lead"):
        assert "on track" in rows[on_track]


def test_it_counts_only_israeli_working_days_before_a_new_lead_is_overdue(
    coordinator_client, coordinator, monkeypatch
):
    # Israel's weekend is Friday and Saturday: a lead received on Wednesday is due by Sunday
    # (Thursday, Sunday), one received on Tuesday by Thursday.
    sunday = datetime.date(2025, 6, 1)
    assert sunday.strftime("%A") == "Sunday"

    def at(day: datetime.date, hour: int) -> datetime.datetime:
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))

    received = {
        "Tuesday Lead": sunday - datetime.timedelta(days=5),
        "Wednesday Lead": sunday - datetime.timedelta(days=4),
        "Thursday Lead": sunday - datetime.timedelta(days=3),
    }
    for name, day in received.items():
        _queue_lead(coordinator, name, stage=Stage.NEW, created_at=at(day, 9))

    monkeypatch.setattr(timezone, "now", lambda: at(sunday, 10))
    on_sunday = pages.queue_rows(coordinator_client.get(pages.url("queue")))
    monkeypatch.setattr(timezone, "now", lambda: at(sunday + datetime.timedelta(days=1), 10))
    coordinator_client.force_login(coordinator)  # a day later the idle session has expired
    on_monday = pages.queue_rows(coordinator_client.get(pages.url("queue")))

    assert list(on_sunday) == ["Tuesday Lead", "Wednesday Lead", "Thursday Lead"]
    assert "not contacted" in on_sunday["Tuesday Lead"]
    assert "on track" in on_sunday["Wednesday Lead"]
    assert "on track" in on_sunday["Thursday Lead"]
    assert list(on_monday) == ["Tuesday Lead", "Wednesday Lead", "Thursday Lead"]
    assert "not contacted" in on_monday["Wednesday Lead"]
    assert "on track" in on_monday["Thursday Lead"]


@pytest.mark.parametrize(
    ("term", "found"),
    [
        ("levi", {"Dana Levi"}),
        ("501112233", {"Dana Levi"}),
        ("Yossi Cohen", {"Yossi Cohen"}),
        ("Dana Cohen", set()),
    ],
)
def test_it_searches_my_leads_by_patient_name_and_phone(
    coordinator_client, coordinator, term, found
):
    ReferralFactory(
        patient=PatientFactory(first_name="Dana", last_name="Levi", phone="+972501112233"),
        assigned_to=coordinator,
    )
    ReferralFactory(
        patient=PatientFactory(first_name="Yossi", last_name="Cohen", phone="+972549998877"),
        assigned_to=coordinator,
    )

    response = coordinator_client.get(pages.url("queue"), {"q": term})

    assert set(pages.queue_rows(response)) == found


def test_it_filters_my_queue_by_stage(coordinator_client, coordinator):
    _queue_lead(coordinator, "Screening Lead", stage=Stage.SCREENING)
    _queue_lead(coordinator, "Contacted Lead", stage=Stage.CONTACTED)

    response = coordinator_client.get(pages.url("queue"), {"stage": "screening"})

    assert set(pages.queue_rows(response)) == {"Screening Lead"}


def test_it_shows_only_overdue_leads_when_asked(coordinator_client, coordinator):
    today, days = pages.today(), datetime.timedelta
    _queue_lead(coordinator, "Overdue Lead", next_action_due=today - days(1))
    _queue_lead(
        coordinator, "Uncontacted Lead", stage=Stage.NEW, created_at=timezone.now() - days(10)
    )
    _queue_lead(coordinator, "Today Lead", next_action_due=today)
    _queue_lead(coordinator, "Later Lead", next_action_due=today + days(1))

    response = coordinator_client.get(pages.url("queue"), {"overdue": "on"})

    assert set(pages.queue_rows(response)) == {"Overdue Lead", "Uncontacted Lead"}


def test_it_lists_my_open_tasks(coordinator_client, coordinator, coordinator2, lead):
    TaskFactory(referral=lead, assignee=coordinator, title="Request biopsy report")
    TaskFactory(referral=lead, assignee=coordinator, title="Already done", done_at=timezone.now())
    TaskFactory(referral=lead, assignee=coordinator2, title="Someone else's task")

    tasks = pages.testid(coordinator_client.get(pages.url("queue")), "tasks", "table")

    assert "Request biopsy report" in tasks
    assert "Dana Levi" in tasks
    assert "Already done" not in tasks
    assert "Someone else" not in tasks


def test_it_shows_my_next_tasks_and_links_all_of_them(
    coordinator_client, coordinator, coordinator2, lead
):
    today = pages.today()
    for number in range(QUEUE_TASK_LIMIT + 2):
        TaskFactory(
            referral=lead,
            assignee=coordinator,
            title=f"Task due in {number:02d} days",
            due_on=today + datetime.timedelta(days=number),
        )
    TaskFactory(referral=lead, assignee=coordinator, title="Already done", done_at=timezone.now())
    TaskFactory(referral=lead, assignee=coordinator2, title="Someone else's task")

    queue = coordinator_client.get(pages.url("queue"))
    shown = re.findall(r"Task due in (\d+) days", pages.testid(queue, "tasks", "table"))
    link = re.search(r'href="([^"]+)" data-testid="all-tasks"', pages.text(queue))
    everything = pages.text(coordinator_client.get(html.unescape(link.group(1))))

    assert shown == [f"{number:02d}" for number in range(QUEUE_TASK_LIMIT)]
    assert sorted(re.findall(r"Task due in (\d+) days", everything)) == [
        f"{number:02d}" for number in range(QUEUE_TASK_LIMIT + 2)
    ]
    assert "Already done" not in everything
    assert "Someone else" not in everything


def test_it_links_no_task_list_when_the_queue_shows_every_task(coordinator_client, lead):
    TaskFactory(referral=lead, assignee=lead.assigned_to)

    assert 'data-testid="all-tasks"' not in pages.text(coordinator_client.get(pages.url("queue")))


def test_it_pages_the_queue_at_50_leads(coordinator_client, coordinator):
    now = timezone.now()
    for number in range(QUEUE_PAGE_SIZE + 1):
        _queue_lead(
            coordinator,
            f"Patient N{number:02d}",
            created_at=now - datetime.timedelta(hours=60 - number),
        )

    first = coordinator_client.get(pages.url("queue"), {"stage": "contacted"})
    second = coordinator_client.get(pages.url("queue"), {"stage": "contacted", "page": 2})

    assert len(pages.queue_rows(first)) == QUEUE_PAGE_SIZE
    assert 'href="?stage=contacted&page=2"' in pages.text(first)
    assert "← Previous" not in pages.text(first)
    assert list(pages.queue_rows(second)) == [f"Patient N{QUEUE_PAGE_SIZE:02d}"]
    assert 'href="?stage=contacted&page=1"' in pages.text(second)
    assert "Next →" not in pages.text(second)


def test_it_shows_no_next_link_for_exactly_50_leads(coordinator_client, coordinator):
    for number in range(QUEUE_PAGE_SIZE):
        _queue_lead(coordinator, f"Patient N{number:02d}")

    response = coordinator_client.get(pages.url("queue"))

    assert len(pages.queue_rows(response)) == QUEUE_PAGE_SIZE
    assert "page=2" not in pages.text(response)


def test_it_shows_the_first_page_for_a_page_number_past_any_queue(coordinator_client, coordinator):
    # An unbounded page number used to overflow the database's OFFSET: a 500.
    _queue_lead(coordinator, "Mine Open")

    response = coordinator_client.get(pages.url("queue"), {"page": "9" * 23})

    assert response.status_code == 200
    assert set(pages.queue_rows(response)) == {"Mine Open"}
