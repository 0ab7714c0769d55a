"""The coordinators' dashboard figures: computed by a background task, read from a shared cache.

Every figure aggregates the leads of the period, so its cost grows with them (150–200 ms at
100,000 leads). A page view therefore never waits for them once they exist: it reads the last
summary (from the `shared` cache, which every server process and the task worker read) and,
when that is older than DASHBOARD_CACHE_SECONDS, queues one `dashboard_refresh` task for the
worker. Only the first view of a period, or one after the worker has been gone for
DASHBOARD_KEEP_FACTOR refresh intervals, computes the figures itself. The page says how old its
figures are. DASHBOARD_CACHE_SECONDS = 0 computes them on every view.
"""

import datetime
import json

from django.conf import settings
from django.core.cache import caches
from django.tasks import task
from django.utils import timezone

from referrals import selectors

# A summary outlives its freshness by this factor; past that a view recomputes it itself, so
# figures never go silently stale for long when no worker runs.
DASHBOARD_KEEP_FACTOR = 10


def day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def summary_for(
    *, first_day: datetime.date, last_day: datetime.date, now: datetime.datetime
) -> dict:
    """The period's figures for a page view: the last summary, with a refresh queued when it
    is stale; computed here only when there is none."""
    seconds = settings.DASHBOARD_CACHE_SECONDS
    if not seconds:
        return figures_compute(_period(first_day, last_day), now)
    store = caches["shared"]
    key = _key(first_day, last_day, now)
    summary = store.get(key)
    if summary is None:
        return summary_refresh(first_day=first_day, last_day=last_day, now=now)
    stale = now - summary["figures_at"] >= datetime.timedelta(seconds=seconds)
    # One queued refresh per interval, however many views see the stale summary.
    if stale and store.add(f"{key}:queued", True, timeout=seconds):
        dashboard_refresh.enqueue(first_day=first_day.isoformat(), last_day=last_day.isoformat())
    return summary


def summary_refresh(
    *, first_day: datetime.date, last_day: datetime.date, now: datetime.datetime
) -> dict:
    """Compute the period's figures and keep them for every process to read."""
    summary = figures_compute(_period(first_day, last_day), now)
    key = _key(first_day, last_day, now)
    store = caches["shared"]
    store.set(key, summary, settings.DASHBOARD_CACHE_SECONDS * DASHBOARD_KEEP_FACTOR)
    store.delete(f"{key}:queued")
    return summary


@task()
def dashboard_refresh(*, first_day: str, last_day: str) -> bool:
    """The worker's side: recompute the figures of a period a page view found stale."""
    summary_refresh(
        first_day=datetime.date.fromisoformat(first_day),
        last_day=datetime.date.fromisoformat(last_day),
        now=timezone.now(),
    )
    return True


def _key(first_day: datetime.date, last_day: datetime.date, now: datetime.datetime) -> str:
    return f"dashboard:{first_day:%Y%m%d}:{last_day:%Y%m%d}:{timezone.localdate(now):%Y%m%d}"


def _period(first_day: datetime.date, last_day: datetime.date) -> selectors.Period:
    return selectors.Period(
        start=day_start(first_day), end=day_start(last_day + datetime.timedelta(days=1))
    )


def _bar(labels: list[str], values: list[int], label: str) -> str:
    return json.dumps(
        {"labels": [str(name) for name in labels], "datasets": [{"label": label, "data": values}]}
    )


def figures_compute(period: selectors.Period, now: datetime.datetime) -> dict:
    """Every figure of the coordinators' dashboard for the period, as the template shows them."""
    funnel = selectors.dashboard_funnel(period)
    by_condition = selectors.dashboard_leads_by(period, "patient__primary_condition__name")
    by_source = selectors.dashboard_leads_by(period, "source")
    capacity = selectors.dashboard_program_capacity(now)
    for program in capacity:
        program.capacity_used = (
            min(round(100 * program.referred_this_month / program.monthly_capacity), 100)
            if program.monthly_capacity
            else None
        )
    return {
        "figures_at": now,
        "kpis": selectors.dashboard_kpis(now),
        "funnel": funnel,
        "funnel_chart": _bar(
            [step.stage.label for step in funnel], [step.reached for step in funnel], "Leads"
        ),
        "milestones": selectors.dashboard_milestone_times(period),
        "screen_failures": selectors.dashboard_screen_failures(period),
        "by_condition": by_condition,
        "condition_chart": _bar(
            [name for name, _ in by_condition], [n for _, n in by_condition], "Leads"
        ),
        "by_source": by_source,
        "source_chart": _bar([name for name, _ in by_source], [n for _, n in by_source], "Leads"),
        "capacity": capacity,
        "workload": selectors.dashboard_workload(now),
        "outcomes": selectors.dashboard_outcomes(),
        "hospital_side": selectors.dashboard_hospital_side(period, timezone.localdate(now)),
        "screening_accuracy": selectors.dashboard_screening_accuracy(period),
    }
