import datetime

from django import template

register = template.Library()


@register.filter
def duration_days(value: datetime.timedelta) -> str:
    """A wait as coordinators say it: hours under a day, else days with one decimal."""
    hours = value.total_seconds() / 3600
    if hours < 24:
        return f"{hours:.0f} h"
    return f"{hours / 24:.1f} d"
