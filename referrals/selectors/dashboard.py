"""The dashboard's figures and the task worker's health.

Every figure is an aggregate query; the page's query count does not grow with the leads.
"""

import datetime
import math
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db.models import Count, IntegerField, Max, Min, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from referrals.models import Referral, ReferralEvent
from referrals.selectors.common import _contact_overdue_before, _open_leads_of, coordinators
from referrals.vocabulary import (
    OPEN_STAGES,
    CloseReason,
    EventKind,
    ScreenFailureCriterion,
    Source,
    Stage,
)
from trials.models import Program


@dataclass(frozen=True)
class Period:
    start: datetime.datetime
    end: datetime.datetime

    def of_created(self) -> Q:
        return Q(created_at__gte=self.start, created_at__lt=self.end)


def _overdue(today: datetime.date, prefix: str = "") -> Q:
    return ~Q(**{f"{prefix}stage": Stage.CLOSED}) & (
        Q(**{f"{prefix}next_action_due__lt": today})
        | Q(
            **{
                f"{prefix}stage": Stage.NEW,
                f"{prefix}created_at__lt": _contact_overdue_before(today),
            }
        )
    )


def dashboard_kpis(now: datetime.datetime) -> dict[str, int]:
    """Open leads, new this week, overdue, referred this month, treated to date: two queries.

    Each reads only the rows its figures are about (open or recent leads; referred and treated
    stage changes), through the stage, created_at and (kind, to_stage, created_at) indexes.
    """
    today = timezone.localdate(now)
    week_start = timezone.make_aware(
        datetime.datetime.combine(
            today - datetime.timedelta(days=(today.weekday() + 1) % 7), datetime.time.min
        )
    )
    month_start = timezone.make_aware(
        datetime.datetime.combine(today.replace(day=1), datetime.time.min)
    )
    is_open = Q(stage__in=OPEN_STAGES)
    leads = Referral.objects.filter(is_open | Q(created_at__gte=week_start)).aggregate(
        open_leads=Count("id", filter=is_open),
        new_this_week=Count("id", filter=Q(created_at__gte=week_start)),
        overdue=Count("id", filter=_overdue(today)),
    )
    milestones = ReferralEvent.objects.filter(
        kind=EventKind.STAGE_CHANGE, to_stage__in=[Stage.REFERRED, Stage.TREATED]
    ).aggregate(
        referred_this_month=Count(
            "referral",
            distinct=True,
            filter=Q(to_stage=Stage.REFERRED, created_at__gte=month_start),
        ),
        treated_to_date=Count("referral", distinct=True, filter=Q(to_stage=Stage.TREATED)),
    )
    return {
        **{name: value or 0 for name, value in leads.items()},
        **{name: value or 0 for name, value in milestones.items()},
    }


@dataclass(frozen=True)
class FunnelStep:
    stage: Stage
    reached: int
    conversion: float | None  # share of the previous step that got this far


def dashboard_funnel(period: Period) -> list[FunnelStep]:
    """Of the leads received in the period, how many ever reached each stage: two queries."""
    received = Referral.objects.filter(period.of_created()).count()
    reached = dict(
        ReferralEvent.objects.filter(
            kind=EventKind.STAGE_CHANGE,
            referral__created_at__gte=period.start,
            referral__created_at__lt=period.end,
        )
        .values_list("to_stage")
        .annotate(n=Count("referral", distinct=True))
        .order_by()
    )
    counts = [received] + [reached.get(stage, 0) for stage in OPEN_STAGES[1:]]
    return [
        FunnelStep(
            stage=stage,
            reached=count,
            conversion=None if index == 0 or not counts[index - 1] else count / counts[index - 1],
        )
        for index, (stage, count) in enumerate(zip(OPEN_STAGES, counts, strict=True))
    ]


# The moment each milestone was first reached, as a stage-change event.
MILESTONES = {
    "first contact": Q(to_stage=Stage.CONTACTED),
    "screening decision": Q(to_stage=Stage.ELIGIBLE)
    | Q(to_stage=Stage.CLOSED, from_stage=Stage.SCREENING),
    "referral": Q(to_stage=Stage.REFERRED),
    "hospital decision": Q(to_stage=Stage.ACCEPTED)
    | Q(to_stage=Stage.CLOSED, from_stage=Stage.REFERRED),
}


@dataclass(frozen=True)
class MilestoneTimes:
    milestone: str
    leads: int
    median: datetime.timedelta | None
    p90: datetime.timedelta | None


def _nearest_rank(ordered: list, fraction: float):
    if not ordered:
        return None
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def dashboard_milestone_times(period: Period) -> list[MilestoneTimes]:
    """Median and 90th-percentile time from lead to each milestone, nearest-rank: one query.

    The query returns, per lead received in the period, when it first reached each milestone
    (a conditional MIN over its stage changes); the waits are sorted here.
    """
    firsts = (
        ReferralEvent.objects.filter(
            kind=EventKind.STAGE_CHANGE,
            referral__created_at__gte=period.start,
            referral__created_at__lt=period.end,
        )
        .values("referral")
        .annotate(
            received=Min("referral__created_at"),
            **{
                f"first_{index}": Min("created_at", filter=condition)
                for index, condition in enumerate(MILESTONES.values())
            },
        )
        .order_by()
    )
    waits: list[list[datetime.timedelta]] = [[] for _ in MILESTONES]
    for row in firsts:
        for index, found in enumerate(waits):
            if row[f"first_{index}"] is not None:
                found.append(row[f"first_{index}"] - row["received"])
    result = []
    for name, found in zip(MILESTONES, waits, strict=True):
        found.sort()
        result.append(
            MilestoneTimes(name, len(found), _nearest_rank(found, 0.5), _nearest_rank(found, 0.9))
        )
    return result


def dashboard_screen_failures(period: Period) -> list[tuple[str, int]]:
    rows = (
        Referral.objects.filter(
            close_reason=CloseReason.SCREEN_FAILED,
            stage_changed_at__gte=period.start,
            stage_changed_at__lt=period.end,
        )
        .values_list("screen_failure_criterion")
        .annotate(n=Count("id"))
        .order_by("-n", "screen_failure_criterion")
    )
    labels = dict(ScreenFailureCriterion.choices)
    return [(labels.get(criterion, criterion), n) for criterion, n in rows]


def dashboard_leads_by(period: Period, field: str) -> list[tuple[str, int]]:
    """Leads received in the period grouped by `field` (a condition name or the source)."""
    rows = (
        Referral.objects.filter(period.of_created())
        .values_list(field)
        .annotate(n=Count("id"))
        .order_by("-n", field)
    )
    labels = dict(Source.choices)
    return [(labels.get(value, value) or "Not recorded", n) for value, n in rows]


def dashboard_program_capacity(now: datetime.datetime) -> list[Program]:
    """Each program with `referred_this_month`: leads referred to it since the 1st.

    Counted from this month's "referred" stage changes (an index range), not from every lead
    ever sent to the program.
    """
    month_start = timezone.make_aware(
        datetime.datetime.combine(timezone.localdate(now).replace(day=1), datetime.time.min)
    )
    referred = (
        ReferralEvent.objects.filter(
            kind=EventKind.STAGE_CHANGE,
            to_stage=Stage.REFERRED,
            created_at__gte=month_start,
            referral__target_program=OuterRef("pk"),
        )
        .order_by()
        .values("referral__target_program")
        .annotate(n=Count("referral", distinct=True))
        .values("n")
    )
    return list(
        Program.objects.select_related("hospital").annotate(
            referred_this_month=Coalesce(Subquery(referred, output_field=IntegerField()), 0)
        )
    )


def dashboard_workload(now: datetime.datetime) -> list[User]:
    """Each active coordinator with `open_leads` and `overdue_leads`."""
    today = timezone.localdate(now)
    return list(
        coordinators().annotate(
            open_leads=_open_leads_of(OuterRef("pk")),
            overdue_leads=_open_leads_of(OuterRef("pk"), _overdue(today)),
        )
    )


# `manage.py db_worker` looks for tasks every second; a task older than this, while no task has
# finished for as long, means nobody takes them: e-mails wait and the figures go stale.
TASK_WORKER_STALLED_AFTER = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class TaskQueue:
    now: datetime.datetime
    waiting: int
    oldest_enqueued_at: datetime.datetime | None
    last_finished_at: datetime.datetime | None

    @property
    def worker_stalled(self) -> bool:
        limit = self.now - TASK_WORKER_STALLED_AFTER
        return (
            self.oldest_enqueued_at is not None
            and self.oldest_enqueued_at < limit
            and (self.last_finished_at is None or self.last_finished_at < limit)
        )


def task_queue(now: datetime.datetime) -> TaskQueue:
    """The tasks waiting for the worker and when it last finished one, as django-tasks-db
    records them: two indexed queries (its partial index of ready tasks, and the index on
    `finished_at` added by migration referrals 0023), read on every view, never cached."""
    waiting = DBTaskResult.objects.ready().aggregate(count=Count("*"), oldest=Min("enqueued_at"))
    return TaskQueue(
        now=now,
        waiting=waiting["count"],
        oldest_enqueued_at=waiting["oldest"],
        last_finished_at=DBTaskResult.objects.aggregate(last=Max("finished_at"))["last"],
    )
