"""The admin index as the service's dashboard (Unfold's DASHBOARD_CALLBACK)."""

import datetime
import json

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone

from referrals import selectors
from referrals.forms import DashboardPeriodForm


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _bar(labels: list[str], values: list[int], label: str) -> str:
    return json.dumps(
        {"labels": [str(name) for name in labels], "datasets": [{"label": label, "data": values}]}
    )


def dashboard_callback(request: HttpRequest, context: dict) -> dict:
    if selectors.is_liaison(request.user):
        return {**context, **_liaison_dashboard(request)}
    if not request.user.has_perm("referrals.view_referral"):
        return context
    now = timezone.now()
    form = DashboardPeriodForm(request.GET or None)
    first_day, last_day = form.dates(timezone.localdate(now))
    return {
        **context,
        "dashboard": True,
        "period_form": form,
        "period_start": first_day,
        "period_end": last_day,
        **_cached_figures(first_day, last_day, now),
    }


def _cached_figures(first_day: datetime.date, last_day: datetime.date, now) -> dict:
    """The period's figures, computed at most once per DASHBOARD_CACHE_SECONDS.

    Every figure is an aggregate whose cost grows with the leads in the period, so with many
    leads the page serves them from the cache (shared by every server process when REDIS_URL
    is set) and says when they were computed; 0 turns the cache off.
    """
    seconds = settings.DASHBOARD_CACHE_SECONDS
    key = f"dashboard:{first_day:%Y%m%d}:{last_day:%Y%m%d}:{timezone.localdate(now):%Y%m%d}"
    figures = cache.get(key) if seconds else None
    if figures is None:
        period = selectors.Period(
            start=_day_start(first_day), end=_day_start(last_day + datetime.timedelta(days=1))
        )
        figures = _figures(period, now)
        if seconds:
            cache.set(key, figures, seconds)
    return figures


def _figures(period: selectors.Period, now: datetime.datetime) -> dict:
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
    }


def _liaison_dashboard(request: HttpRequest) -> dict:
    """A hospital liaison's index: their own hospital's side only, never the coordinators'
    figures (and never from the shared cache)."""
    profile = selectors.liaison_profile_of(request.user)
    if profile is None:
        return {}
    now = timezone.now()
    today = timezone.localdate(now)
    year = selectors.Period(
        start=_day_start(today - datetime.timedelta(days=364)),
        end=_day_start(today + datetime.timedelta(days=1)),
    )
    return {
        "liaison_dashboard": True,
        "liaison_hospital": profile.hospital,
        "hospital_counts": selectors.hospital_open_counts(request.user),
        "hospital_side": selectors.dashboard_hospital_side(
            year, today, hospital_id=profile.hospital_id
        ),
    }
