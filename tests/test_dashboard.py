"""The dashboard's figures on constructed data with known answers, and its flat query count."""

import datetime

import pytest
from django.core.cache import caches
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from referrals import selectors, tasks
from referrals.models import (
    CloseReason,
    EventKind,
    Referral,
    ReferralEvent,
    ScreenFailureCriterion,
    Source,
    Stage,
)
from tests.factories import (
    ConditionFactory,
    PatientFactory,
    ProgramFactory,
    ReferralFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

NOW = timezone.now()
DAY = datetime.timedelta(days=1)
LAST_30_DAYS = selectors.Period(start=NOW - 30 * DAY, end=NOW + DAY)


def _lead(*, days_ago: float, path: list[tuple[Stage, float]] = (), **fields):
    """A lead received `days_ago`, that reached each (stage, days after receipt) in `path`."""
    created = NOW - days_ago * DAY
    final_stage = path[-1][0] if path else Stage.NEW
    referral = ReferralFactory(created_at=created, stage=final_stage, **fields)
    previous = Stage.NEW
    for stage, after in path:
        ReferralEvent.objects.create(
            referral=referral,
            kind=EventKind.STAGE_CHANGE,
            from_stage=previous,
            to_stage=stage,
            created_at=created + after * DAY,
        )
        previous = stage
    return referral


def test_it_counts_the_headline_figures(coordinator):
    yesterday = timezone.localdate(NOW) - DAY
    _lead(days_ago=0, assigned_to=coordinator)  # new, open, this week, on time
    _lead(days_ago=20, path=[(Stage.CONTACTED, 1)], next_action_due=yesterday)  # overdue
    _lead(days_ago=20)  # new and never contacted in 20 days: overdue
    _lead(
        days_ago=40,
        path=[(Stage.CONTACTED, 1), (Stage.CLOSED, 2)],
        close_reason=CloseReason.NOT_REACHABLE,
    )
    _lead(
        days_ago=120, path=[(Stage.REFERRED, 55), (Stage.ACCEPTED, 58), (Stage.TREATED, 59)]
    )  # referred months ago, treated
    _lead(days_ago=90, path=[(Stage.REFERRED, 90 - 0.01)])  # referred a quarter hour ago

    kpis = selectors.dashboard_kpis(NOW)

    assert kpis == {
        "open_leads": 5,
        "new_this_week": 1,
        "overdue": 2,
        "referred_this_month": 1,
        "treated_to_date": 1,
    }


def test_it_builds_the_funnel_with_conversion_for_the_period():
    _lead(days_ago=5)
    _lead(days_ago=5, path=[(Stage.CONTACTED, 1)])
    _lead(days_ago=5, path=[(Stage.CONTACTED, 1), (Stage.SCREENING, 2)])
    _lead(
        days_ago=5,
        path=[(Stage.CONTACTED, 1), (Stage.RECORDS_REQUESTED, 2), (Stage.SCREENING, 3)],
    )
    _lead(days_ago=90, path=[(Stage.CONTACTED, 1)])  # received before the period

    funnel = {step.stage: step for step in selectors.dashboard_funnel(LAST_30_DAYS)}

    assert funnel[Stage.NEW].reached == 4
    assert funnel[Stage.CONTACTED].reached == 3
    assert funnel[Stage.CONTACTED].conversion == pytest.approx(3 / 4)
    assert funnel[Stage.RECORDS_REQUESTED].reached == 1
    assert funnel[Stage.SCREENING].reached == 2
    assert funnel[Stage.ELIGIBLE].reached == 0
    assert funnel[Stage.REFERRED].conversion is None  # nothing reached the step before


def test_it_measures_median_and_90th_percentile_waits():
    for days in (1, 2, 3, 4, 10):
        _lead(days_ago=20, path=[(Stage.CONTACTED, days)])
    _lead(days_ago=20)  # never contacted: not in the figures
    _lead(days_ago=20, path=[(Stage.CONTACTED, 1), (Stage.SCREENING, 2), (Stage.ELIGIBLE, 6)])
    _lead(
        days_ago=20,
        path=[(Stage.CONTACTED, 1), (Stage.SCREENING, 2), (Stage.CLOSED, 8)],
        close_reason=CloseReason.SCREEN_FAILED,
        screen_failure_criterion=ScreenFailureCriterion.AGE,
    )

    times = {row.milestone: row for row in selectors.dashboard_milestone_times(LAST_30_DAYS)}

    contact = times["first contact"]
    assert contact.leads == 7
    assert contact.median == 2 * DAY  # waits 1,1,1,2,3,4,10: the 4th
    assert contact.p90 == 10 * DAY  # nearest rank: the 7th of 7
    decision = times["screening decision"]
    assert (decision.leads, decision.median, decision.p90) == (2, 6 * DAY, 8 * DAY)
    assert times["referral"].leads == 0
    assert times["referral"].median is None


def test_it_counts_screen_failures_by_criterion():
    for criterion in [ScreenFailureCriterion.FAILED_LINES] * 3 + [ScreenFailureCriterion.AGE]:
        ReferralFactory(
            stage=Stage.CLOSED,
            close_reason=CloseReason.SCREEN_FAILED,
            screen_failure_criterion=criterion,
            stage_changed_at=NOW - 2 * DAY,
        )
    ReferralFactory(stage=Stage.CLOSED, close_reason=CloseReason.DECLINED_BY_PATIENT)

    assert selectors.dashboard_screen_failures(LAST_30_DAYS) == [
        ("Not enough failed lines", 3),
        ("Age out of range", 1),
    ]


def test_it_groups_leads_by_condition_and_source():
    lupus = ConditionFactory(name="Systemic lupus erythematosus")
    for _ in range(2):
        ReferralFactory(patient=PatientFactory(primary_condition=lupus), source=Source.WEB_FORM)
    ReferralFactory(patient=PatientFactory(primary_condition=None), source=Source.PHONE)

    by_condition = selectors.dashboard_leads_by(LAST_30_DAYS, "patient__primary_condition__name")
    by_source = selectors.dashboard_leads_by(LAST_30_DAYS, "source")

    assert by_condition == [("Systemic lupus erythematosus", 2), ("Not recorded", 1)]
    assert by_source == [("Web form", 2), ("Phone", 1)]


def test_it_compares_program_capacity_with_referrals_this_month():
    sheba = ProgramFactory(name="Sheba CD19", monthly_capacity=4)
    for _ in range(3):
        _lead(days_ago=0.5, path=[(Stage.REFERRED, 0.1)], target_program=sheba)
    _lead(days_ago=200, path=[(Stage.REFERRED, 1)], target_program=sheba)  # an older month

    [program] = selectors.dashboard_program_capacity(NOW)

    assert (program.referred_this_month, program.monthly_capacity) == (3, 4)


def test_it_shows_each_coordinators_workload(coordinator, coordinator2):
    yesterday = timezone.localdate(NOW) - DAY
    _lead(days_ago=1, path=[(Stage.CONTACTED, 0.5)], assigned_to=coordinator)
    _lead(
        days_ago=1,
        path=[(Stage.CONTACTED, 0.5)],
        assigned_to=coordinator,
        next_action_due=yesterday,
    )
    ReferralFactory(assigned_to=coordinator2, stage=Stage.CLOSED, close_reason=CloseReason.OTHER)

    workload = {user.username: user for user in selectors.dashboard_workload(NOW)}

    assert (workload["coordinator"].open_leads, workload["coordinator"].overdue_leads) == (2, 1)
    assert (workload["coordinator2"].open_leads, workload["coordinator2"].overdue_leads) == (0, 0)


@pytest.mark.parametrize("leads", [5, 50])
def test_it_keeps_the_dashboard_query_count_flat(
    admin_client, coordinator, django_assert_num_queries, leads
):
    program = ProgramFactory()
    for index in range(leads):
        _lead(
            days_ago=index % 20 + 1,
            path=[
                (Stage.CONTACTED, 0.5),
                (Stage.SCREENING, 1),
                (Stage.ELIGIBLE, 2),
                (Stage.REFERRED, 3),
                (Stage.ACCEPTED, 4),
            ],
            assigned_to=coordinator,
            target_program=program,
        )

    # 1 session, 2 user, 3-4 user and group permissions, 5 KPIs over leads, 6 KPIs over
    # stage changes, 7 leads received, 8 stages reached, 9 when each lead first reached each
    # milestone (the percentiles are taken from these rows), 10 screen failures, 11 leads by
    # condition, 12 leads by source, 13 program capacity, 14 workload, 15 outcomes after CAR-T
    # (patients treated, 6-month remission, CRS ≥ 2), 16-18 the hospital side (referred and
    # treated per program, median waits per program, then per hospital), 19-20 our screening
    # against the hospitals' (the period's referral snapshots, the screen failures' checks; the
    # names of the programs and trials they concern only when there are some), 21-22 the task
    # queue (tasks waiting, the last one finished).
    with django_assert_num_queries(22):
        response = admin_client.get(reverse("admin:index"))

    assert response.status_code == 200
    assert f'data-testid="kpi-open_leads">{leads}<' in response.text


def _summary_store(settings):
    settings.DASHBOARD_CACHE_SECONDS = 60
    store = caches["shared"]
    store.clear()
    return store


def test_it_serves_the_figures_from_the_shared_summary(
    admin_client, settings, django_assert_num_queries
):
    _summary_store(settings)
    _lead(days_ago=1)
    first = admin_client.get(reverse("admin:index"))
    _lead(days_ago=1)

    # 1 session, 2 user, 3-4 user and group permissions, 5 the summary from the cache table
    # (on PostgreSQL and SQLite alike; Redis when REDIS_URL is set): no figure is recomputed;
    # 6-7 the task queue, live.
    with django_assert_num_queries(7):
        second = admin_client.get(reverse("admin:index"))

    assert 'data-testid="kpi-open_leads">1<' in first.text
    assert 'data-testid="kpi-open_leads">1<' in second.text  # as of the first request
    assert 'data-testid="figures-at">figures as of ' in second.text
    assert DBTaskResult.objects.count() == 0  # fresh: nothing to refresh


def test_it_queues_one_refresh_for_a_stale_summary_and_the_worker_refreshes_it(
    admin_client, settings, task_worker
):
    store = _summary_store(settings)
    _lead(days_ago=1)
    admin_client.get(reverse("admin:index"))
    [key] = [k for k in _summary_keys() if not k.endswith(":queued")]
    summary = store.get(key)
    summary["figures_at"] -= datetime.timedelta(seconds=61)
    store.set(key, summary)
    _lead(days_ago=1)

    stale = admin_client.get(reverse("admin:index"))
    admin_client.get(reverse("admin:index"))

    assert 'data-testid="kpi-open_leads">1<' in stale.text  # the view did not wait
    [queued] = DBTaskResult.objects.all()  # one refresh, however many views
    assert queued.task_path == "referrals.dashboard.dashboard_refresh"
    task_worker.run_task(queued)
    queued.refresh_from_db()
    assert queued.status == "SUCCESSFUL"
    assert 'data-testid="kpi-open_leads">2<' in admin_client.get(reverse("admin:index")).text


def test_it_computes_the_figures_itself_when_no_summary_is_kept(admin_client, settings):
    store = _summary_store(settings)
    _lead(days_ago=1)
    admin_client.get(reverse("admin:index"))
    _lead(days_ago=1)
    store.clear()  # the summary expired: no worker refreshed it for ten intervals

    response = admin_client.get(reverse("admin:index"))

    assert 'data-testid="kpi-open_leads">2<' in response.text
    assert DBTaskResult.objects.count() == 0


def _summary_keys() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT cache_key FROM carecrm_cache")
        return [key.split(":", 2)[-1] for (key,) in cursor.fetchall()]


def test_it_filters_by_a_custom_period(admin_client):
    _lead(days_ago=100)
    _lead(days_ago=3)
    today = timezone.localdate(NOW)

    response = admin_client.get(
        reverse("admin:index"),
        {"period": "custom", "start": str(today - 120 * DAY), "end": str(today - 50 * DAY)},
    )

    [new] = [step for step in response.context["funnel"] if step.stage == Stage.NEW]
    assert new.reached == 1


def test_it_explains_an_impossible_period_and_shows_the_last_30_days(admin_client):
    _lead(days_ago=3)
    today = timezone.localdate(NOW)

    response = admin_client.get(
        reverse("admin:index"),
        {"period": "custom", "start": str(today), "end": str(today - 10 * DAY)},
    )

    assert "The period starts after it ends." in response.text
    assert response.context["period_start"] == today - 29 * DAY


def test_it_shows_the_dashboard_to_coordinators_and_not_to_anonymous(client, coordinator):
    assert client.get(reverse("admin:index")).status_code == 302
    client.force_login(coordinator)

    response = client.get(reverse("admin:index"))

    assert response.status_code == 200
    assert 'data-testid="dashboard"' in response.text


def test_it_leaves_users_without_referral_access_the_plain_index(client):
    client.force_login(UserFactory(username="nobody"))

    response = client.get(reverse("admin:index"))

    assert 'data-testid="dashboard"' not in response.text


# --- the task worker: is anyone sending the e-mails and refreshing the figures? -------------

MINUTE = datetime.timedelta(minutes=1)


def _queued(count: int, *, waited: datetime.timedelta) -> list[DBTaskResult]:
    """Tasks enqueued `waited` ago that no worker has taken."""
    referral = ReferralFactory()
    results = [tasks.coordinator_notify.enqueue(referral_id=referral.pk) for _ in range(count)]
    DBTaskResult.objects.update(enqueued_at=timezone.now() - waited)
    return [DBTaskResult.objects.get(pk=result.id) for result in results]


def test_it_warns_when_tasks_wait_and_no_worker_takes_them(coordinator_client):
    _queued(3, waited=12 * MINUTE)

    response = coordinator_client.get(reverse("admin:index"))

    panel = _testid(response, "task-queue")
    assert "3 tasks waiting" in panel
    assert "the oldest for 12" in panel
    assert "No task has finished yet." in panel
    warning = _testid(response, "task-worker-warning")
    assert "e-mails are not sent and the figures are not refreshed" in warning
    assert "<code>manage.py db_worker</code>" in warning


def test_it_shows_no_warning_when_the_worker_just_finished_and_nothing_waits(
    coordinator_client, task_worker
):
    [task] = _queued(1, waited=12 * MINUTE)
    task_worker.run_task(task)

    response = coordinator_client.get(reverse("admin:index"))

    finished_at = timezone.localtime(DBTaskResult.objects.get().finished_at)
    panel = _testid(response, "task-queue")
    assert "No tasks waiting." in panel
    assert f"Last task finished at {finished_at:%H:%M}" in panel
    assert 'data-testid="task-worker-warning"' not in response.text


@pytest.mark.parametrize(
    ("waited", "finished_ago", "stalled"),
    [
        (12 * MINUTE, None, True),  # never ran
        (12 * MINUTE, 30 * MINUTE, True),  # stopped half an hour ago
        (12 * MINUTE, MINUTE, False),  # busy, catching up
        (2 * MINUTE, None, False),  # not waited long: a worker polls every second
        (None, None, False),  # nothing waits
    ],
)
def test_it_calls_the_worker_stalled_only_when_tasks_wait_and_none_finished_lately(
    waited, finished_ago, stalled
):
    now = timezone.now()
    if finished_ago is not None:
        [done] = _queued(1, waited=finished_ago)
        DBTaskResult.objects.filter(pk=done.pk).update(
            status="SUCCESSFUL", started_at=now - finished_ago, finished_at=now - finished_ago
        )
    if waited is not None:
        _queued(2, waited=waited)

    queue = selectors.task_queue(now)

    assert queue.waiting == (2 if waited else 0)
    assert queue.worker_stalled is stalled
    assert queue.last_finished_at == (now - finished_ago if finished_ago else None)


def test_it_shows_the_task_queue_to_coordinators_only(client, liaison):
    _queued(1, waited=12 * MINUTE)
    client.force_login(liaison)

    response = client.get(reverse("admin:index"))

    assert 'data-testid="task-queue"' not in response.text


def test_it_indexes_when_tasks_finished():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, DBTaskResult._meta.db_table)

    assert constraints["task_result_finished_idx"]["columns"] == ["finished_at"]


def _testid(response, testid: str) -> str:
    text = response.text
    start = text.find(f'data-testid="{testid}"')
    assert start != -1, f"no {testid}"
    return text[start : text.find("</div>", start)]


# --- our screening against the hospitals' ------------------------------------------------------


def test_it_shows_how_often_our_eligible_leads_pass_the_hospitals_screening(
    admin_client, coordinator, hospital
):
    from referrals import services
    from referrals.models import HospitalDeclineReason, ReferralSnapshot
    from tests import pages
    from tests.factories import ScreeningRecordFactory, make_liaison, referred_lead

    program = ProgramFactory(hospital=hospital, name="Sheba CD19")
    liaison = make_liaison("liaison", hospital)
    accepted = referred_lead(program, coordinator=coordinator)
    services.hospital_accept(referral=accepted, by=liaison, expected_version=accepted.version)
    declined = referred_lead(program, coordinator=coordinator)
    # The check sent with it had its age criterion overridden by the coordinator.
    snapshot = ReferralSnapshot.objects.get(referral=declined)
    snapshot.data["eligibility"]["criteria"].append(
        {"name": "Age", "result": "pass", "overridden": "unknown (no date of birth)"}
    )
    snapshot.save()
    services.hospital_decline(
        referral=declined,
        by=liaison,
        expected_version=declined.version,
        reason=HospitalDeclineReason.NOT_FIT,
    )
    failed = _lead(days_ago=2, assigned_to=coordinator)
    ScreeningRecordFactory(
        referral=failed,
        program=program,
        verdict="ineligible",
        criteria=[{"name": "Excludes eGFR < 30", "result": "fail", "detail": "eGFR 25"}],
    )
    Referral.objects.filter(pk=failed.pk).update(
        stage=Stage.CLOSED,
        close_reason=CloseReason.SCREEN_FAILED,
        screen_failure_criterion="exclusion",
        stage_changed_at=timezone.now(),
    )

    response = admin_client.get(reverse("admin:index"))

    rate = pages.plain(pages.testid(response, "pass-rate", "p"))
    assert rate.startswith("50 % of the leads we found eligible passed")
    assert "(1 accepted, 1 declined;" in rate
    row = pages.plain(pages.testid(response, "screening-accuracy", "table"))
    assert (
        "Sheba CD19 (Sheba Medical Center) 2 1 1 50 % Not fit for apheresis or "
        "lymphodepletion (1) Age (1) Excludes eGFR < 30 (1)"
    ) in row
