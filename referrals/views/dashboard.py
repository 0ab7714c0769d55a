"""The admin index as the service's dashboard (Unfold's DASHBOARD_CALLBACK)."""

import datetime

from django.http import HttpRequest
from django.utils import timezone

from referrals import access, dashboard, selectors
from referrals.forms import DashboardPeriodForm


def dashboard_callback(request: HttpRequest, context: dict) -> dict:
    if access.is_liaison(request.user):
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
        **dashboard.summary_for(first_day=first_day, last_day=last_day, now=now),
        # Live, unlike the figures: whether anyone refreshes them (and sends the e-mails).
        "task_queue": selectors.task_queue(now),
    }


def _liaison_dashboard(request: HttpRequest) -> dict:
    """A hospital liaison's index: their own hospital's side only, never the coordinators'
    figures (and never from the shared cache)."""
    profile = access.liaison_profile_of(request.user)
    if profile is None:
        return {}
    now = timezone.now()
    today = timezone.localdate(now)
    year = selectors.Period(
        start=dashboard.day_start(today - datetime.timedelta(days=364)),
        end=dashboard.day_start(today + datetime.timedelta(days=1)),
    )
    return {
        "liaison_dashboard": True,
        "liaison_hospital": profile.hospital,
        "hospital_counts": selectors.hospital_open_counts(request.user),
        "hospital_side": selectors.dashboard_hospital_side(
            year, today, hospital_id=profile.hospital_id
        ),
    }
