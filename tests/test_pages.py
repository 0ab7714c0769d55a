"""The coordinator pages: my queue, the pipeline board and the lead page with its actions.

Each page per role, flat query counts (5 vs 50), and every action a coordinator takes on a lead,
checked through what the pages show afterwards.
"""

import datetime
import html
import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse, set_script_prefix
from django.utils import timezone

from referrals.models import (
    FOLLOW_UP_MONTHS,
    OPEN_STAGES,
    CloseReason,
    EventKind,
    FollowUpVisit,
    PriorTreatmentLine,
    ReasonStopped,
    Referral,
    ReferralEvent,
    ScreeningRecord,
    Stage,
    Task,
    TreatmentOutcome,
)
from referrals.selectors import BOARD_COLUMN_LIMIT, QUEUE_PAGE_SIZE, QUEUE_TASK_LIMIT
from tests.factories import (
    ConditionFactory,
    HospitalFactory,
    LeadDocumentFactory,
    PatientFactory,
    PriorTreatmentLineFactory,
    ProgramFactory,
    ReferralEventFactory,
    ReferralFactory,
    ScreeningRecordFactory,
    TaskFactory,
    TherapyFactory,
    TrialFactory,
    UserFactory,
)
from trials.models import DrugClass, ProgramStatus

pytestmark = pytest.mark.django_db

PAGES = ["queue", "board", "lead"]
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
HTMX = {"HX-Request": "true"}


# --- personas and data -------------------------------------------------------------------


@pytest.fixture
def staff_without_role(db):
    return UserFactory(username="staff-no-role")


@pytest.fixture
def viewer(db):
    """Staff who may read leads but change nothing."""
    user = UserFactory(username="viewer")
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="referrals", codename="view_referral")
    )
    return user


@pytest.fixture
def coordinator2_client(coordinator2):
    client = Client()
    client.force_login(coordinator2)
    return client


@pytest.fixture
def condition(db):
    return ConditionFactory(name="Systemic lupus erythematosus", slug="sle")


@pytest.fixture
def program(condition):
    """Accepting, SLE, 18–70, at least two failed lines."""
    return ProgramFactory(
        name="CD19 CAR-T", hospital=HospitalFactory(name="Sheba"), conditions=[condition]
    )


@pytest.fixture
def lead(coordinator, condition):
    """A new lead of a 40-ish SLE patient with two failed lines, assigned to the coordinator."""
    patient = _refractory_patient(
        condition, first_name="Dana", last_name="Levi", phone="+972501112233"
    )
    return ReferralFactory(patient=patient, assigned_to=coordinator)


def _refractory_patient(condition=None, **fields):
    patient = PatientFactory(primary_condition=condition or ConditionFactory(), **fields)
    for number in (1, 2):
        PriorTreatmentLineFactory(patient=patient, line_number=number)
    return patient


def _today() -> datetime.date:
    return timezone.localdate()


def _url(name: str, *args) -> str:
    return reverse(f"referrals:{name}", args=args)


def _page_url(page: str, referral: Referral) -> str:
    return _url(page, referral.pk) if page == "lead" else _url(page)


def _written(referral: Referral) -> tuple:
    """Everything an action could write, to compare before and after a refused request."""
    referral.refresh_from_db()
    return (
        referral.stage,
        referral.version,
        referral.assigned_to_id,
        referral.target_program_id,
        referral.next_action,
        ReferralEvent.objects.count(),
        Task.objects.count(),
        Task.objects.open().count(),
        ScreeningRecord.objects.count(),
        PriorTreatmentLine.objects.count(),
    )


# --- reading the pages -------------------------------------------------------------------


def _text(response) -> str:
    return response.content.decode()


def _testid(response, testid: str, tag: str) -> str:
    """The element with `data-testid`, or "" when the page does not show it."""
    found = re.search(rf'<{tag}[^>]*data-testid="{testid}".*?</{tag}>', _text(response), re.S)
    return found.group(0) if found else ""


def _column(response, stage: str) -> str:
    found = re.search(
        rf'<section class="crm-column" data-stage="{stage}".*?</section>', _text(response), re.S
    )
    assert found, f"no {stage} column"
    return found.group(0)


def _card_ids(column_html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-referral="(\d+)"', column_html)]


def _board_count(response, stage: str) -> int:
    found = re.search(rf'data-testid="count-{stage}">(\d+)<', _text(response))
    assert found, f"no count for {stage}"
    return int(found.group(1))


def _queue_rows(response) -> dict[str, str]:
    """Patient name → the row's HTML, in the order the queue lists them."""
    table = _testid(response, "queue", "table")
    rows = re.findall(r"<tr>.*?</tr>", table.split("<tbody>", 1)[-1], re.S)
    return {
        html.unescape(re.search(r'href="/[^"]+/leads/\d+/">([^<]+)</a>', row).group(1)): row
        for row in rows
    }


def _plain(markup: str) -> str:
    """What a reader sees: tags dropped, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split()).replace(" :", ":")


def _timeline(response) -> str:
    return _plain(_testid(response, "timeline", "ol"))


def _unescaped(response) -> str:
    return html.unescape(_text(response))


# --- who may see and do what -------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_it_sends_anonymous_visitors_to_the_login_page(client, lead, page):
    response = client.get(_page_url(page, lead))

    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


@pytest.mark.parametrize("page", PAGES)
def test_it_sends_inactive_staff_to_the_login_page(client, inactive_user, lead, page):
    client.force_login(inactive_user)

    response = client.get(_page_url(page, lead))

    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


@pytest.mark.parametrize("page", PAGES)
def test_it_shows_every_page_to_coordinators_and_admins(
    coordinator_client, admin_client, lead, page
):
    assert coordinator_client.get(_page_url(page, lead)).status_code == 200
    assert admin_client.get(_page_url(page, lead)).status_code == 200


@pytest.mark.parametrize("page", PAGES)
def test_it_forbids_staff_without_a_role(client, staff_without_role, lead, page):
    client.force_login(staff_without_role)

    assert client.get(_page_url(page, lead)).status_code == 403


def test_it_shows_a_viewer_the_lead_without_the_action_forms(
    client, viewer, coordinator_client, lead
):
    coordinator_page = coordinator_client.get(_url("lead", lead.pk))
    client.force_login(viewer)

    viewer_page = client.get(_url("lead", lead.pk))

    assert viewer_page.status_code == 200
    assert "Dana Levi" in _text(viewer_page)
    for form_action in ("lead_transition", "lead_task", "lead_note", "lead_line"):
        assert _url(form_action, lead.pk) in _text(coordinator_page)
        assert _url(form_action, lead.pk) not in _text(viewer_page)


def _action(name: str, lead: Referral, program, assignee) -> tuple[str, dict]:
    """The URL and valid data of one write a coordinator can make."""
    version = {"version": lead.version}
    if name == "board_move":
        return _url("board_move"), {**version, "referral": lead.pk, "to_stage": "contacted"}
    if name == "lead_task_done":
        task = TaskFactory(referral=lead, assignee=assignee, due_on=_today())
        return _url(name, lead.pk, task.pk), {}
    data = {
        "lead_transition": {**version, "to_stage": "contacted"},
        "lead_assign": {**version, "assignee": ""},
        "lead_next_action": {**version, "next_action": "Call", "next_action_due": _today()},
        "lead_note": {"kind": "note", "body": "Spoke with the patient."},
        "lead_task": {"title": "Get records", "due_on": _today(), "assignee": assignee.pk},
        "lead_screening": {**version, "kind": "program", "candidate_id": program.pk},
        "lead_target": {**version, "kind": "program", "candidate_id": program.pk},
        "lead_line": _line_data(TherapyFactory(), line_number=3),
    }[name]
    return _url(name, lead.pk), data


@pytest.mark.parametrize("name", [*LEAD_ACTIONS, "board_move"])
def test_it_refuses_every_write_to_a_user_who_may_only_view(
    client, viewer, coordinator, lead, program, name
):
    url, data = _action(name, lead, program, coordinator)
    before = _written(lead)
    client.force_login(viewer)

    response = client.post(url, data, headers=HTMX)

    assert response.status_code == 403
    assert _written(lead) == before


@pytest.mark.parametrize("name", [*LEAD_ACTIONS, "board_move"])
def test_it_lets_a_coordinator_make_every_write(
    coordinator_client, coordinator, lead, program, name
):
    url, data = _action(name, lead, program, coordinator)
    before = _written(lead)

    response = coordinator_client.post(url, data, headers=HTMX)

    assert response.status_code in (200, 302)
    assert _written(lead) != before


def test_it_answers_404_for_an_unknown_lead(coordinator_client):
    assert coordinator_client.get(_url("lead", 999_999)).status_code == 404


@pytest.mark.parametrize("name", LEAD_ACTIONS)
def test_it_answers_404_when_acting_on_an_unknown_lead(coordinator_client, name):
    args = (999_999, 1) if name == "lead_task_done" else (999_999,)

    response = coordinator_client.post(_url(name, *args), {"version": 1})

    assert response.status_code == 404


def test_it_answers_404_for_a_task_of_another_lead(coordinator_client, coordinator, lead):
    other_task = TaskFactory(assignee=coordinator, due_on=_today())

    response = coordinator_client.post(_url("lead_task_done", lead.pk, other_task.pk))

    assert response.status_code == 404
    other_task.refresh_from_db()
    assert not other_task.is_done


def test_it_answers_404_when_the_board_moves_an_unknown_lead(coordinator_client):
    response = coordinator_client.post(
        _url("board_move"), {"referral": 999_999, "version": 1, "to_stage": "contacted"}
    )

    assert response.status_code == 404


# --- flat query counts -------------------------------------------------------------------


@pytest.mark.parametrize("count", [5, 50])
def test_it_loads_my_queue_in_the_same_queries_for_5_or_50_leads(
    coordinator_client, coordinator, django_assert_num_queries, count
):
    today = _today()
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
        response = coordinator_client.get(_url("queue"))

    # Rows, not names: Faker may give two of the 50 patients the same name.
    queue_body = _testid(response, "queue", "table").split("<tbody>", 1)[-1]
    assert len(re.findall(r"<tr>", queue_body)) == count
    tasks_shown = min(count, QUEUE_TASK_LIMIT)
    assert len(re.findall(r"<tr>", _testid(response, "tasks", "table"))) == tasks_shown + 1


@pytest.mark.parametrize("count", [5, 50])
def test_it_loads_the_board_in_the_same_queries_for_5_or_50_leads(
    coordinator_client, coordinator, coordinator2, django_assert_num_queries, count
):
    for number in range(count):
        line = PriorTreatmentLineFactory()
        ReferralFactory(
            patient=line.patient,
            stage=OPEN_STAGES[number % len(OPEN_STAGES)],
            assigned_to=coordinator if number % 2 else coordinator2,
            target_program=ProgramFactory() if number % 5 == 0 else None,
        )

    # 1 session, 2 user, 3 user permissions, 4 group permissions,
    # 5 counts per stage, 6-15 the ids of the first cards of each of the ten open columns (one
    # index range each), 16 those cards (patient, condition and coordinator joined, each with
    # its failed-line count), 17 coordinators, 18 conditions, 19 programs with hospitals (the
    # three filter menus).
    with django_assert_num_queries(19):
        response = coordinator_client.get(_url("board"))

    assert sum(_board_count(response, stage) for stage in OPEN_STAGES) == count
    assert sum(len(_card_ids(_column(response, stage))) for stage in OPEN_STAGES) == count


@pytest.mark.parametrize("count", [5, 50])
def test_it_loads_the_lead_page_in_the_same_queries_for_5_or_50_lines_events_and_candidates(
    coordinator_client, coordinator, django_assert_num_queries, condition, count
):
    patient = PatientFactory(primary_condition=condition)
    patient.other_conditions.add(ConditionFactory())
    referral = ReferralFactory(patient=patient, assigned_to=coordinator)
    programs = [ProgramFactory(conditions=[condition]) for _ in range(count)]
    for number, program in enumerate(programs, start=1):
        PriorTreatmentLineFactory(patient=patient, line_number=number)
        ReferralEventFactory(referral=referral, author=coordinator)
        TrialFactory(conditions=[condition])
        TaskFactory(referral=referral, assignee=coordinator, due_on=_today())
        ScreeningRecordFactory(referral=referral, program=program, recorded_by=coordinator)
        duplicate = ReferralFactory(patient=PatientFactory(), assigned_to=coordinator)
        referral.possible_duplicates.add(duplicate)
        LeadDocumentFactory(referral=referral, uploaded_by=coordinator)
    referral.stage = Stage.FOLLOW_UP
    referral.save()
    outcome = TreatmentOutcome.objects.create(
        referral=referral, infusion_date=_today() - datetime.timedelta(days=400), product="CD19"
    )
    for month in FOLLOW_UP_MONTHS:
        FollowUpVisit.objects.create(outcome=outcome, month=month, due_on=_today())

    # 1 session, 2 user, 3 user permissions, 4 group permissions,
    # 5 the lead (access check), 6 the access-log line, 7 the lead with patient, condition,
    # coordinator and target joined, 8 the patient's other conditions, 9 possible duplicates
    # (patients joined), 10 treatment lines, 11 their therapies, 12 tasks (assignee joined),
    # 13 screenings (recorder joined), 14 documents (uploader joined), 15 programs (hospital
    # joined), 16 their conditions, 17 trials, 18 their conditions, 19 the timeline (authors
    # joined), 20 therapies for the line form, 21 coordinators for the assign form,
    # 22 coordinators for the task form, 23 follow-up visits (the lead's CAR-T outcome is
    # joined to the lead in 7).
    with django_assert_num_queries(23):
        response = coordinator_client.get(_url("lead", referral.pk))

    assert len(re.findall(r"<tr>", _testid(response, "lines", "table"))) == count + 1
    assert _text(response).count("data-candidate=") == 2 * count
    assert _testid(response, "timeline", "ol").count("<li>") == count
    assert _testid(response, "duplicates", "table").count("Merge #") == count
    assert _testid(response, "documents", "table").count("discharge-letter-") == count
    assert _testid(response, "visits", "table").count("<tr data-month=") == 4


def test_it_shows_each_leads_failed_lines_on_the_queue_the_board_and_the_patient_list(
    coordinator_client, lead
):
    """The lists count in SQL what the lead page counts in Python: two here, not four."""
    prednisone = TherapyFactory(
        drug_class=DrugClass.GLUCOCORTICOID, counts_toward_failed_lines=False
    )
    PriorTreatmentLineFactory(patient=lead.patient, line_number=3, therapies=[prednisone])
    PriorTreatmentLineFactory(
        patient=lead.patient, line_number=4, reason_stopped=ReasonStopped.ONGOING
    )
    untreated = ReferralFactory(assigned_to=lead.assigned_to, stage=Stage.NEW)

    queue = _queue_rows(coordinator_client.get(_url("queue")))
    board = coordinator_client.get(_url("board"))
    patients = _text(coordinator_client.get(reverse("admin:referrals_patient_changelist")))

    assert _failed_lines_shown(coordinator_client.get(_url("lead", lead.pk))) == 2
    assert '<td data-label="Failed lines">2</td>' in queue["Dana Levi"]
    assert '<td data-label="Failed lines">0</td>' in queue[str(untreated.patient)]
    card = re.search(rf'data-referral="{lead.pk}".*?</article>', _text(board), re.S).group(0)
    assert "2 failed lines" in card
    row = re.search(r"<tr[^>]*>(?:(?!</tr>).)*Levi(?:(?!</tr>).)*</tr>", patients, re.S).group(0)
    assert re.search(r"field-failed_lines[^>]*>\s*2\s*<", row)


def test_it_links_each_queue_row_task_and_board_card_to_its_lead_and_counts_days_in_stage(
    coordinator_client, coordinator
):
    lead = ReferralFactory(
        assigned_to=coordinator,
        stage=Stage.SCREENING,
        stage_changed_at=timezone.now() - datetime.timedelta(days=12, hours=3),
    )
    TaskFactory(referral=lead, assignee=coordinator)
    lead_page = _url("lead", lead.pk)

    queue = _text(coordinator_client.get(_url("queue")))
    board = _text(coordinator_client.get(_url("board")))
    # Deployed below a sub-path, the links carry its prefix (which the test client never sets).
    board_path = _url("board")
    set_script_prefix("/crm/")
    try:
        prefixed = _text(coordinator_client.get(board_path))
    finally:
        set_script_prefix("/")

    assert queue.count(f'href="{lead_page}"') == 2  # the lead's row and its task
    card = re.search(rf'data-referral="{lead.pk}".*?</article>', board, re.S).group(0)
    assert f'href="{lead_page}"' in card
    assert "12 d in stage" in card
    assert f'href="/crm{lead_page}"' in prefixed
    assert coordinator_client.get(lead_page).status_code == 200


# --- my queue ----------------------------------------------------------------------------


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

    response = coordinator_client.get(_url("queue"))

    assert set(_queue_rows(response)) == {"Mine Open", "Mine New"}


def test_it_puts_overdue_and_uncontacted_leads_before_due_today_and_later(
    coordinator_client, coordinator
):
    today, now = _today(), timezone.now()
    days = datetime.timedelta
    _queue_lead(coordinator, "Later Lead", next_action_due=today + days(3))
    _queue_lead(coordinator, "Undated Lead")
    _queue_lead(coordinator, "Today Lead", next_action_due=today)
    _queue_lead(coordinator, "Fresh Lead", stage=Stage.NEW, created_at=now)
    _queue_lead(coordinator, "Overdue Lead", next_action_due=today - days(2))
    _queue_lead(coordinator, "Uncontacted Lead", stage=Stage.NEW, created_at=now - days(10))

    rows = _queue_rows(coordinator_client.get(_url("queue")))

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
    on_sunday = _queue_rows(coordinator_client.get(_url("queue")))
    monkeypatch.setattr(timezone, "now", lambda: at(sunday + datetime.timedelta(days=1), 10))
    coordinator_client.force_login(coordinator)  # a day later the idle session has expired
    on_monday = _queue_rows(coordinator_client.get(_url("queue")))

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

    response = coordinator_client.get(_url("queue"), {"q": term})

    assert set(_queue_rows(response)) == found


def test_it_filters_my_queue_by_stage(coordinator_client, coordinator):
    _queue_lead(coordinator, "Screening Lead", stage=Stage.SCREENING)
    _queue_lead(coordinator, "Contacted Lead", stage=Stage.CONTACTED)

    response = coordinator_client.get(_url("queue"), {"stage": "screening"})

    assert set(_queue_rows(response)) == {"Screening Lead"}


def test_it_shows_only_overdue_leads_when_asked(coordinator_client, coordinator):
    today, days = _today(), datetime.timedelta
    _queue_lead(coordinator, "Overdue Lead", next_action_due=today - days(1))
    _queue_lead(
        coordinator, "Uncontacted Lead", stage=Stage.NEW, created_at=timezone.now() - days(10)
    )
    _queue_lead(coordinator, "Today Lead", next_action_due=today)
    _queue_lead(coordinator, "Later Lead", next_action_due=today + days(1))

    response = coordinator_client.get(_url("queue"), {"overdue": "on"})

    assert set(_queue_rows(response)) == {"Overdue Lead", "Uncontacted Lead"}


def test_it_lists_my_open_tasks(coordinator_client, coordinator, coordinator2, lead):
    TaskFactory(referral=lead, assignee=coordinator, title="Request biopsy report")
    TaskFactory(referral=lead, assignee=coordinator, title="Already done", done_at=timezone.now())
    TaskFactory(referral=lead, assignee=coordinator2, title="Someone else's task")

    tasks = _testid(coordinator_client.get(_url("queue")), "tasks", "table")

    assert "Request biopsy report" in tasks
    assert "Dana Levi" in tasks
    assert "Already done" not in tasks
    assert "Someone else" not in tasks


def test_it_shows_my_next_tasks_and_links_all_of_them(
    coordinator_client, coordinator, coordinator2, lead
):
    today = _today()
    for number in range(QUEUE_TASK_LIMIT + 2):
        TaskFactory(
            referral=lead,
            assignee=coordinator,
            title=f"Task due in {number:02d} days",
            due_on=today + datetime.timedelta(days=number),
        )
    TaskFactory(referral=lead, assignee=coordinator, title="Already done", done_at=timezone.now())
    TaskFactory(referral=lead, assignee=coordinator2, title="Someone else's task")

    queue = coordinator_client.get(_url("queue"))
    shown = re.findall(r"Task due in (\d+) days", _testid(queue, "tasks", "table"))
    link = re.search(r'href="([^"]+)" data-testid="all-tasks"', _text(queue))
    everything = _text(coordinator_client.get(html.unescape(link.group(1))))

    assert shown == [f"{number:02d}" for number in range(QUEUE_TASK_LIMIT)]
    assert sorted(re.findall(r"Task due in (\d+) days", everything)) == [
        f"{number:02d}" for number in range(QUEUE_TASK_LIMIT + 2)
    ]
    assert "Already done" not in everything
    assert "Someone else" not in everything


def test_it_links_no_task_list_when_the_queue_shows_every_task(coordinator_client, lead):
    TaskFactory(referral=lead, assignee=lead.assigned_to)

    assert 'data-testid="all-tasks"' not in _text(coordinator_client.get(_url("queue")))


def test_it_pages_the_queue_at_50_leads(coordinator_client, coordinator):
    now = timezone.now()
    for number in range(QUEUE_PAGE_SIZE + 1):
        _queue_lead(
            coordinator,
            f"Patient N{number:02d}",
            created_at=now - datetime.timedelta(hours=60 - number),
        )

    first = coordinator_client.get(_url("queue"), {"stage": "contacted"})
    second = coordinator_client.get(_url("queue"), {"stage": "contacted", "page": 2})

    assert len(_queue_rows(first)) == QUEUE_PAGE_SIZE
    assert 'href="?stage=contacted&page=2"' in _text(first)
    assert "← Previous" not in _text(first)
    assert list(_queue_rows(second)) == [f"Patient N{QUEUE_PAGE_SIZE:02d}"]
    assert 'href="?stage=contacted&page=1"' in _text(second)
    assert "Next →" not in _text(second)


def test_it_shows_no_next_link_for_exactly_50_leads(coordinator_client, coordinator):
    for number in range(QUEUE_PAGE_SIZE):
        _queue_lead(coordinator, f"Patient N{number:02d}")

    response = coordinator_client.get(_url("queue"))

    assert len(_queue_rows(response)) == QUEUE_PAGE_SIZE
    assert "page=2" not in _text(response)


def test_it_shows_the_first_page_for_a_page_number_past_any_queue(coordinator_client, coordinator):
    # An unbounded page number used to overflow the database's OFFSET: a 500.
    _queue_lead(coordinator, "Mine Open")

    response = coordinator_client.get(_url("queue"), {"page": "9" * 23})

    assert response.status_code == 200
    assert set(_queue_rows(response)) == {"Mine Open"}


# --- pipeline board ----------------------------------------------------------------------


def test_it_shows_a_column_per_open_stage_with_its_count(coordinator_client):
    new = ReferralFactory.create_batch(2, stage=Stage.NEW)
    contacted = ReferralFactory(stage=Stage.CONTACTED)
    screening = ReferralFactory.create_batch(3, stage=Stage.SCREENING)
    closed = ReferralFactory(stage=Stage.CLOSED, close_reason=CloseReason.DUPLICATE)

    response = coordinator_client.get(_url("board"))

    stages = re.findall(r'<section class="crm-column" data-stage="(\w+)"', _text(response))
    assert stages == [stage.value for stage in OPEN_STAGES]
    assert _board_count(response, "new") == 2
    assert _board_count(response, "contacted") == 1
    assert _board_count(response, "screening") == 3
    assert _board_count(response, "eligible") == 0
    assert set(_card_ids(_column(response, "new"))) == {r.pk for r in new}
    assert _card_ids(_column(response, "contacted")) == [contacted.pk]
    assert set(_card_ids(_column(response, "screening"))) == {r.pk for r in screening}
    assert f'data-referral="{closed.pk}"' not in _text(response)


@pytest.mark.parametrize("filter_by", ["coordinator", "condition", "program"])
def test_it_filters_the_board(coordinator_client, coordinator, coordinator2, filter_by):
    wanted_condition, wanted_program = ConditionFactory(), ProgramFactory()
    wanted = ReferralFactory(
        patient=PatientFactory(primary_condition=wanted_condition),
        assigned_to=coordinator,
        target_program=wanted_program,
    )
    ReferralFactory(assigned_to=coordinator2, target_program=ProgramFactory())
    ReferralFactory(assigned_to=None)
    value = {
        "coordinator": coordinator.pk,
        "condition": wanted_condition.pk,
        "program": wanted_program.pk,
    }[filter_by]

    response = coordinator_client.get(_url("board"), {filter_by: value})

    assert _board_count(response, "new") == 1
    assert _card_ids(_column(response, "new")) == [wanted.pk]


def test_it_caps_a_column_and_links_to_the_rest(coordinator_client):
    start = timezone.now() - datetime.timedelta(days=30)
    waiting = [
        ReferralFactory(stage=Stage.NEW, stage_changed_at=start + datetime.timedelta(hours=n))
        for n in range(BOARD_COLUMN_LIMIT + 3)
    ]

    response = coordinator_client.get(_url("board"))

    column = _column(response, "new")
    assert _board_count(response, "new") == BOARD_COLUMN_LIMIT + 3
    assert _card_ids(column) == [r.pk for r in waiting[:BOARD_COLUMN_LIMIT]]
    assert "+3 more" in column
    assert "?stage__exact=new" in column
    assert "more</a>" not in _column(response, "contacted")


def _board_move(client, referral, to_stage, *, version=None, htmx=True, query=""):
    data = {"referral": referral.pk, "version": version or referral.version, "to_stage": to_stage}
    return client.post(_url("board_move") + query, data, headers=HTMX if htmx else {})


def _stage_changes(referral) -> list[tuple[str, str]]:
    return list(
        referral.events.filter(kind=EventKind.STAGE_CHANGE)
        .order_by("created_at", "id")
        .values_list("from_stage", "to_stage")
    )


def test_it_moves_a_card_on_the_board(coordinator_client, coordinator, lead):
    response = _board_move(coordinator_client, lead, "contacted")

    assert response.status_code == 200
    assert "<html" not in _text(response)
    assert lead.pk in _card_ids(_column(response, "contacted"))
    assert lead.pk not in _card_ids(_column(response, "new"))
    assert "Dana Levi moved to Contacted." in _testid(response, "board-messages", "div")
    lead.refresh_from_db()
    assert lead.stage == Stage.CONTACTED
    event = lead.events.get(kind=EventKind.STAGE_CHANGE)
    assert (event.from_stage, event.to_stage, event.author) == ("new", "contacted", coordinator)


def test_it_refuses_an_illegal_move_on_the_board(coordinator_client, lead):
    before = _written(lead)

    response = _board_move(coordinator_client, lead, "referred")

    assert response.status_code == 200
    assert lead.pk in _card_ids(_column(response, "new"))
    assert "A lead cannot move from “New” to “Referred”." in html.unescape(
        _testid(response, "board-messages", "div")
    )
    assert _written(lead) == before


def test_it_refuses_a_stale_move_on_the_board(coordinator_client, lead):
    Referral.objects.filter(pk=lead.pk).update(version=2)
    before = _written(lead)

    response = _board_move(coordinator_client, lead, "contacted", version=1)

    assert response.status_code == 200
    assert "Someone else saved this referral" in _testid(response, "board-messages", "div")
    assert lead.pk in _card_ids(_column(response, "new"))
    assert _written(lead) == before


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"version": 1, "to_stage": "contacted"},
        {"referral": "LEAD", "to_stage": "contacted"},
        {"referral": "LEAD", "version": 1},
        {"referral": "LEAD", "version": "one", "to_stage": "contacted"},
        {"referral": "LEAD", "version": 1, "to_stage": "nowhere"},
    ],
)
@pytest.mark.parametrize("htmx", [True, False])
def test_it_answers_a_garbled_board_move_with_a_message(coordinator_client, lead, data, htmx):
    data = {key: lead.pk if value == "LEAD" else value for key, value in data.items()}
    before = _written(lead)

    response = coordinator_client.post(_url("board_move"), data, headers=HTMX if htmx else {})

    if htmx:
        assert response.status_code == 200
        shown = _testid(response, "board-messages", "div")
    else:
        assert response.status_code == 302
        shown = _text(coordinator_client.get(response["Location"]))
    assert "That move could not be read" in shown
    assert _written(lead) == before


def test_it_redirects_a_plain_board_move_back_to_the_filtered_board(
    coordinator_client, coordinator, lead
):
    query = f"?coordinator={coordinator.pk}"

    response = _board_move(coordinator_client, lead, "contacted", htmx=False, query=query)

    assert response.status_code == 302
    assert response["Location"] == _url("board") + query
    board = coordinator_client.get(response["Location"])
    assert "Dana Levi moved to Contacted." in _text(board)
    assert lead.pk in _card_ids(_column(board, "contacted"))


# --- lead page: what it shows ------------------------------------------------------------


def test_it_shows_the_patient_lines_eligibility_and_timeline(
    coordinator_client, coordinator, condition, program
):
    patient = PatientFactory(
        first_name="Dana",
        last_name="Levi",
        phone="+972501112233",
        primary_condition=condition,
        date_of_birth=datetime.date(1985, 6, 15),
    )
    steroid = TherapyFactory(
        name="Prednisone", drug_class=DrugClass.GLUCOCORTICOID, counts_toward_failed_lines=False
    )
    PriorTreatmentLineFactory(
        patient=patient, line_number=1, therapies=[TherapyFactory(name="Mycophenolate")]
    )
    PriorTreatmentLineFactory(
        patient=patient,
        line_number=2,
        therapies=[TherapyFactory(name="Rituximab")],
        reason_stopped=ReasonStopped.LOSS_OF_RESPONSE,
    )
    PriorTreatmentLineFactory(patient=patient, line_number=3, therapies=[steroid])
    referral = ReferralFactory(patient=patient, assigned_to=coordinator)
    trial = TrialFactory(conditions=[condition], short_name="CASTLE")
    for_ra = ProgramFactory(conditions=[ConditionFactory(name="Rheumatoid arthritis")])
    paused = ProgramFactory(conditions=[condition], status=ProgramStatus.PAUSED)
    ReferralEventFactory(referral=referral, author=coordinator, body="Spoke with her doctor.")

    response = coordinator_client.get(_url("lead", referral.pk))

    today = _today()
    age = today.year - 1985 - ((today.month, today.day) < (6, 15))
    summary = _testid(response, "patient-summary", "dl")
    assert "Dana Levi" in summary
    assert f"<dd>{age}</dd>" in summary
    assert "Systemic lupus erythematosus" in summary
    assert "+972501112233" in summary
    assert '<dd data-testid="failed-lines">2</dd>' in summary
    lines = _testid(response, "lines", "table")
    for regimen in ("Mycophenolate", "Rituximab", "Prednisone"):
        assert regimen in lines
    eligible = _testid(response, "eligibility", "table")
    ineligible = _testid(response, "ineligible", "details")
    assert f'data-candidate="program-{program.pk}"' in eligible
    assert f'data-candidate="trial-{trial.pk}"' in eligible
    for candidate in (for_ra, paused):
        assert f'data-candidate="program-{candidate.pk}"' in ineligible
        assert f'data-candidate="program-{candidate.pk}"' not in eligible
    assert "2 ineligible programs and trials" in ineligible
    assert "Spoke with her doctor." in _timeline(response)


# --- lead page: moving the lead ----------------------------------------------------------


def _post(client, name: str, referral: Referral, **data):
    if "version" not in data and name not in {"lead_note", "lead_task"}:
        referral.refresh_from_db()
        data["version"] = referral.version
    return client.post(_url(name, referral.pk), data)


def _transition(client, referral: Referral, to_stage: str, **data):
    return _post(client, "lead_transition", referral, to_stage=to_stage, **data)


def test_it_moves_a_lead_with_the_transition_form(coordinator_client, coordinator, lead):
    response = _transition(coordinator_client, lead, "contacted", note="Reached her by phone.")

    assert response.status_code == 302
    assert response["Location"] == _url("lead", lead.pk)
    page = coordinator_client.get(response["Location"])
    assert "Moved to Contacted." in _unescaped(page)
    assert "New → Contacted: Reached her by phone." in _timeline(page)
    lead.refresh_from_db()
    assert lead.stage == Stage.CONTACTED
    assert _stage_changes(lead) == [("new", "contacted")]


def test_it_refuses_a_move_the_pipeline_does_not_allow(coordinator_client, lead):
    before = _written(lead)

    response = _transition(coordinator_client, lead, "referred")

    assert response.status_code == 200
    assert "Please correct the errors below." in _unescaped(response)
    assert "Select a valid choice." in _unescaped(response)
    assert _written(lead) == before


def test_it_refuses_eligible_without_an_eligible_check(coordinator_client, lead):
    Referral.objects.filter(pk=lead.pk).update(stage=Stage.SCREENING)
    before = _written(lead)

    response = _transition(coordinator_client, lead, "eligible")

    assert response.status_code == 200
    assert "Record an eligibility check with an “eligible” verdict" in _unescaped(response)
    assert _written(lead) == before


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
    before = _written(lead)

    response = _transition(
        coordinator_client, lead, "closed", close_reason=close_reason, note="Typed note"
    )

    assert response.status_code == 200
    assert message in _unescaped(response)
    assert "Typed note</textarea>" in _text(response)
    assert _written(lead) == before


def test_it_closes_a_lead_and_reopens_it_only_with_a_note(coordinator_client, lead):
    Referral.objects.filter(pk=lead.pk).update(stage=Stage.SCREENING)
    closed = _transition(
        coordinator_client, lead, "closed", close_reason=CloseReason.DECLINED_BY_PATIENT
    )
    assert closed.status_code == 302
    lead.refresh_from_db()
    assert (lead.stage, lead.close_reason) == (Stage.CLOSED, CloseReason.DECLINED_BY_PATIENT)
    before = _written(lead)

    refused = _transition(coordinator_client, lead, "contacted")

    assert refused.status_code == 200
    assert "Reopening a closed lead needs a note saying why." in _unescaped(refused)
    assert _written(lead) == before

    reopened = _transition(coordinator_client, lead, "contacted", note="She changed her mind.")

    assert reopened.status_code == 302
    lead.refresh_from_db()
    assert (lead.stage, lead.close_reason) == (Stage.SCREENING, "")
    timeline = _timeline(coordinator_client.get(_url("lead", lead.pk)))
    assert "Closed → Screening: She changed her mind." in timeline
    assert "Screening → Closed: Declined by patient" in timeline


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
    before = _written(lead)

    response = _post(coordinator_client, name, lead, version=1, **data)

    assert response.status_code == 200
    assert "Someone else saved this referral" in _unescaped(response)
    assert _written(lead) == before


# --- lead page: coordinator, next action, notes, tasks -----------------------------------


def test_it_reassigns_a_lead_to_another_coordinators_queue(
    coordinator_client, coordinator2_client, coordinator2, lead
):
    response = _post(coordinator_client, "lead_assign", lead, assignee=coordinator2.pk)

    assert response.status_code == 302
    event = lead.events.get(kind=EventKind.ASSIGNMENT)
    assert event.body == f"Assigned to {coordinator2.get_full_name()}"
    assert f"Assigned to {coordinator2.get_full_name()}" in _timeline(
        coordinator_client.get(_url("lead", lead.pk))
    )
    assert "Dana Levi" in _queue_rows(coordinator2_client.get(_url("queue")))
    assert "Dana Levi" not in _queue_rows(coordinator_client.get(_url("queue")))


def test_it_refuses_to_assign_a_lead_to_its_own_coordinator(coordinator_client, coordinator, lead):
    before = _written(lead)

    response = _post(coordinator_client, "lead_assign", lead, assignee=coordinator.pk)

    assert response.status_code == 200
    assert "already assigned to" in _unescaped(response)
    assert _written(lead) == before


def test_it_saves_the_next_action_and_shows_it_in_my_queue(coordinator_client, lead):
    yesterday = _today() - datetime.timedelta(days=1)

    response = _post(
        coordinator_client,
        "lead_next_action",
        lead,
        next_action="Call for the biopsy report",
        next_action_due=yesterday.isoformat(),
    )

    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.next_action, lead.next_action_due) == ("Call for the biopsy report", yesterday)
    row = _queue_rows(coordinator_client.get(_url("queue")))["Dana Levi"]
    assert "Call for the biopsy report" in row
    assert "overdue" in row


def test_it_adds_a_call_to_the_timeline(coordinator_client, coordinator, lead):
    response = _post(
        coordinator_client, "lead_note", lead, kind="call", body="  Left a voicemail.  "
    )

    assert response.status_code == 302
    event = lead.events.get(kind=EventKind.CALL)
    assert (event.body, event.author) == ("Left a voicemail.", coordinator)
    assert "Call: Left a voicemail." in _timeline(coordinator_client.get(_url("lead", lead.pk)))


@pytest.mark.parametrize("body", ["", "   "])
def test_it_refuses_an_empty_note(coordinator_client, lead, body):
    before = _written(lead)

    response = _post(coordinator_client, "lead_note", lead, kind="note", body=body)

    assert response.status_code == 200
    assert "This field is required." in _text(response)
    assert _written(lead) == before


def test_it_adds_a_task_to_the_assignees_queue_until_it_is_done(
    coordinator_client, coordinator2_client, coordinator2, lead
):
    due = _today() + datetime.timedelta(days=2)

    added = _post(
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
    assert "Request biopsy report" in _testid(
        coordinator2_client.get(_url("queue")), "tasks", "table"
    )
    assert "Request biopsy report" not in _text(coordinator_client.get(_url("queue")))

    done = coordinator_client.post(_url("lead_task_done", lead.pk, task.pk))

    assert done.status_code == 302
    assert "Request biopsy report" not in _text(coordinator2_client.get(_url("queue")))
    page = coordinator_client.get(_url("lead", lead.pk))
    assert "<s>Request biopsy report</s>" in _testid(page, "task-list", "ul")
    assert "Done: Request biopsy report" in _timeline(page)


def test_it_refuses_to_finish_a_task_twice(coordinator_client, coordinator, lead):
    task = TaskFactory(referral=lead, assignee=coordinator, done_at=timezone.now())
    before = _written(lead)

    response = coordinator_client.post(_url("lead_task_done", lead.pk, task.pk), follow=True)

    assert "That task is already done." in _unescaped(response)
    assert _written(lead) == before


def test_it_refuses_a_task_without_a_title(coordinator_client, coordinator, lead):
    before = _written(lead)

    response = _post(
        coordinator_client,
        "lead_task",
        lead,
        title="",
        due_on=_today().isoformat(),
        assignee=coordinator.pk,
    )

    assert response.status_code == 200
    assert "This field is required." in _text(response)
    assert _written(lead) == before


# --- lead page: screening and target -----------------------------------------------------


def test_it_records_an_eligibility_check_with_its_criteria(
    coordinator_client, coordinator, lead, program
):
    response = _post(
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
        ("Exclusions", "pass"),
    ]
    program.name = "Renamed program"
    program.save()
    page = coordinator_client.get(_url("lead", lead.pk))
    assert "CD19 CAR-T (Sheba)" in _testid(page, "screenings", "table")
    assert "Eligibility check: CD19 CAR-T (Sheba): Eligible" in _timeline(page)


def test_it_records_which_criteria_an_ineligible_check_failed(coordinator_client, lead):
    for_ra = ProgramFactory(conditions=[ConditionFactory(name="Rheumatoid arthritis")])

    _post(coordinator_client, "lead_screening", lead, kind="program", candidate_id=for_ra.pk)

    record = ScreeningRecord.objects.get(referral=lead)
    assert record.verdict == "ineligible"
    assert record.failed_criteria == ["Condition"]
    assert "Ineligible (failed: Condition)" in _timeline(
        coordinator_client.get(_url("lead", lead.pk))
    )


def test_it_refuses_to_check_a_candidate_that_does_not_exist(coordinator_client, lead):
    before = _written(lead)

    response = _post(coordinator_client, "lead_screening", lead, kind="trial", candidate_id=999_999)

    assert response.status_code == 200
    assert "That program or trial no longer exists." in _unescaped(response)
    assert _written(lead) == before


def _eligible_lead(lead: Referral, program) -> Referral:
    Referral.objects.filter(pk=lead.pk).update(stage=Stage.ELIGIBLE)
    ScreeningRecordFactory(referral=lead, program=program)
    lead.refresh_from_db()
    return lead


def test_it_sets_the_target_and_changes_nothing_else(
    coordinator_client, coordinator, lead, program
):
    lead = _eligible_lead(lead, program)
    Referral.objects.filter(pk=lead.pk).update(next_action="Send records")
    lead.refresh_from_db()

    response = _post(
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
    page = coordinator_client.get(_url("lead", lead.pk))
    assert "Target chosen: Target: CD19 CAR-T (Sheba)" in _timeline(page)
    assert "Target: CD19 CAR-T (Sheba)" in html.unescape(_text(page))


def test_it_refers_a_lead_to_an_accepting_program(coordinator_client, lead, program):
    lead = _eligible_lead(lead, program)
    _post(coordinator_client, "lead_target", lead, kind="program", candidate_id=program.pk)

    response = _transition(coordinator_client, lead, "referred")

    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.stage == Stage.REFERRED


def test_it_refuses_to_refer_a_lead_to_a_paused_program(coordinator_client, lead, program):
    lead = _eligible_lead(lead, program)
    _post(coordinator_client, "lead_target", lead, kind="program", candidate_id=program.pk)
    program.status = ProgramStatus.PAUSED
    program.save()
    before = _written(lead)

    response = _transition(coordinator_client, lead, "referred")

    assert response.status_code == 200
    assert "CD19 CAR-T (Sheba) is not accepting referrals right now." in _unescaped(response)
    assert _written(lead) == before


def test_it_refuses_to_refer_a_lead_without_a_target(coordinator_client, lead, program):
    lead = _eligible_lead(lead, program)
    before = _written(lead)

    response = _transition(coordinator_client, lead, "referred")

    assert response.status_code == 200
    assert "Choose a target program or trial before referring." in _unescaped(response)
    assert _written(lead) == before


# --- lead page: treatment lines ----------------------------------------------------------


def _line_data(therapy, **changes) -> dict:
    data = {
        "line_number": 3,
        "therapies": [therapy.pk],
        "start_date": "2023-01-01",
        "end_date": "2023-06-30",
        "best_response": "partial",
        "reason_stopped": "inadequate_response",
        "notes": "",
    }
    data.update(changes)
    return data


def _failed_lines_shown(response) -> int:
    found = re.search(r'data-testid="failed-lines">(\d+)<', _text(response))
    assert found, "no failed-line count"
    return int(found.group(1))


def test_it_adds_a_treatment_line_and_counts_it_as_failed(coordinator_client, lead):
    rituximab = TherapyFactory(name="Rituximab")
    assert _failed_lines_shown(coordinator_client.get(_url("lead", lead.pk))) == 2

    response = coordinator_client.post(_url("lead_line", lead.pk), _line_data(rituximab))

    assert response.status_code == 302
    line = lead.patient.treatment_lines.get(line_number=3)
    assert list(line.therapies.all()) == [rituximab]
    page = coordinator_client.get(_url("lead", lead.pk))
    assert _failed_lines_shown(page) == 3
    assert "Rituximab" in _testid(page, "lines", "table")
    assert "Line 3 added: Rituximab (Inadequate response)" in _timeline(page)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"start_date": "2023-06-30", "end_date": "2023-01-01"},
            "A line cannot end before it starts.",
        ),
        ({"start_date": "FUTURE", "end_date": ""}, "The start date is in the future."),
        ({"end_date": "FUTURE"}, "The end date is in the future."),
        ({"line_number": 1}, "The patient already has a line 1."),
        ({"therapies": []}, "This field is required."),
    ],
)
def test_it_refuses_an_impossible_treatment_line(coordinator_client, lead, changes, message):
    future = (_today() + datetime.timedelta(days=10)).isoformat()
    changes = {key: future if value == "FUTURE" else value for key, value in changes.items()}
    before = _written(lead)

    response = coordinator_client.post(
        _url("lead_line", lead.pk), _line_data(TherapyFactory(), **changes)
    )

    assert response.status_code == 200
    assert message in _unescaped(response)
    assert _failed_lines_shown(response) == 2
    assert _written(lead) == before


def test_it_edits_a_treatment_line(coordinator_client, lead):
    line = lead.patient.treatment_lines.get(line_number=1)
    therapy = line.therapies.get()

    form = coordinator_client.get(_url("lead", lead.pk), {"edit_line": line.pk})

    assert "Edit line 1" in _text(form)
    assert f'name="line_id" value="{line.pk}"' in _text(form)
    assert f'<option value="{therapy.pk}" selected>' in _text(form)

    response = coordinator_client.post(
        _url("lead_line", lead.pk),
        _line_data(
            therapy,
            line_id=line.pk,
            line_number=1,
            reason_stopped=ReasonStopped.REMISSION,
            notes="Stopped in remission",
        ),
    )

    assert response.status_code == 302
    line.refresh_from_db()
    assert (line.reason_stopped, line.notes) == (ReasonStopped.REMISSION, "Stopped in remission")
    assert lead.patient.treatment_lines.count() == 2
    page = coordinator_client.get(_url("lead", lead.pk))
    assert _failed_lines_shown(page) == 1
    assert f"Line 1 updated: {therapy.name} (Remission)" in _timeline(page)


@pytest.mark.parametrize("line_id", ["abc", "²", "9" * 23])
def test_it_offers_a_new_line_when_the_line_to_edit_is_unreadable(
    coordinator_client, lead, line_id
):
    # "²".isdigit() is true but int("²") fails: both used to answer 500.
    before = _written(lead)

    form = coordinator_client.get(_url("lead", lead.pk), {"edit_line": line_id})
    response = coordinator_client.post(_url("lead_line", lead.pk), {"line_id": line_id})

    assert form.status_code == 200
    assert "Add a line" in _text(form)
    assert response.status_code in (200, 404)
    assert _written(lead) == before


def test_it_never_edits_another_patients_line(coordinator_client, lead):
    other_line = PriorTreatmentLineFactory(notes="Someone else's line")
    before = _written(lead)

    form = coordinator_client.get(_url("lead", lead.pk), {"edit_line": other_line.pk})
    response = coordinator_client.post(
        _url("lead_line", lead.pk), _line_data(TherapyFactory(), line_id=other_line.pk)
    )

    assert "Add a line" in _text(form)
    assert f'name="line_id" value="{other_line.pk}"' not in _text(form)
    assert response.status_code == 404
    assert _written(lead) == before
    other_line.refresh_from_db()
    assert other_line.notes == "Someone else's line"


# --- the whole way -----------------------------------------------------------------------


def test_it_takes_a_lead_from_new_to_referred(coordinator_client, lead, program):
    def step(response, stage: str) -> str:
        assert response.status_code == 302, html.unescape(_text(response))
        assert response["Location"] == _url("lead", lead.pk)
        lead.refresh_from_db()
        assert lead.stage == stage
        board = coordinator_client.get(_url("board"))
        assert lead.pk in _card_ids(_column(board, stage))
        return _timeline(coordinator_client.get(_url("lead", lead.pk)))

    timeline = step(_transition(coordinator_client, lead, "contacted"), "contacted")
    assert "New → Contacted" in timeline
    timeline = step(_transition(coordinator_client, lead, "records_requested"), "records_requested")
    assert "Contacted → Records requested" in timeline
    timeline = step(_transition(coordinator_client, lead, "screening"), "screening")
    assert "Records requested → Screening" in timeline
    checked = _post(
        coordinator_client, "lead_screening", lead, kind="program", candidate_id=program.pk
    )
    timeline = step(checked, "screening")
    assert "Eligibility check: CD19 CAR-T (Sheba): Eligible" in timeline
    timeline = step(_transition(coordinator_client, lead, "eligible"), "eligible")
    assert "Screening → Eligible" in timeline
    targeted = _post(
        coordinator_client, "lead_target", lead, kind="program", candidate_id=program.pk
    )
    timeline = step(targeted, "eligible")
    assert "Target: CD19 CAR-T (Sheba)" in timeline
    timeline = step(_transition(coordinator_client, lead, "referred"), "referred")

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
    assert _stage_changes(lead) == [
        ("new", "contacted"),
        ("contacted", "records_requested"),
        ("records_requested", "screening"),
        ("screening", "eligible"),
        ("eligible", "referred"),
    ]


@pytest.mark.parametrize("value", ["", "sle", ["sle", "ra"]])
def test_it_renders_its_selects_exactly_as_unfolds(value):
    from unfold.widgets import UnfoldAdminSelectWidget

    from referrals.forms import SelectWidget

    choices = [
        ("", "—"),
        ("Connective tissue", [("sle", "Lupus & nephritis"), ("ssc", 'Systemic "sclerosis"')]),
        ("ra", "Rheumatoid arthritis"),
    ]

    def rendered(widget_class) -> str:
        widget = widget_class(attrs={"data-testid": "condition"}, choices=choices)
        widget.allow_multiple_selected = isinstance(value, list)
        html = widget.render("condition", value, attrs={"id": "id_condition"})
        return re.sub(r">\s+<", "><", html.strip())

    ours = rendered(SelectWidget)
    assert ours == rendered(UnfoldAdminSelectWidget)
    assert 'value="sle" selected' in ours or value == ""
