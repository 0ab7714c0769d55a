import datetime
import functools
import unicodedata

from django import template
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.safestring import SafeString, mark_safe

from carecrm.reverse_once import url_with_pk

register = template.Library()


@register.filter
def duration_days(value: datetime.timedelta) -> str:
    """A wait as coordinators say it: hours under a day, else days with one decimal."""
    hours = value.total_seconds() / 3600
    if hours < 24:
        return f"{hours:.0f} h"
    return f"{hours / 24:.1f} d"


@register.filter
def text_direction(value) -> str:
    """The direction, "rtl" or "ltr", of the first letter that has one (as `dir="auto"`).

    For text the patient or a relative typed (names, their words for the diagnosis), set as an
    explicit `dir` so Hebrew and Arabic lay out right to left in browsers and in WeasyPrint,
    which does not implement `dir="auto"`.
    """
    for character in str(value or ""):
        direction = unicodedata.bidirectional(character)
        if direction in ("R", "AL"):
            return "rtl"
        if direction == "L":
            return "ltr"
    return "ltr"


@register.simple_tag
def label(text, variant: str = "") -> SafeString:
    """Unfold's label badge (`unfold/helpers/label.html`) for list rows.

    The same few badges (stages, "overdue", "due today") repeat on every row, so each text and
    variant is rendered once per process and language instead of once per row.
    """
    return _label(str(text), variant, translation.get_language())


@functools.lru_cache(maxsize=512)
def _label(text: str, variant: str, language: str) -> SafeString:
    return mark_safe(
        render_to_string("unfold/helpers/label.html", {"text": text, "variant": variant})
    )


@register.filter
def lead_url(pk: int) -> str:
    """The lead page's address, for the queue's rows and the board's cards, without resolving
    the pattern for every link (`carecrm.reverse_once`)."""
    return url_with_pk("referrals:lead", pk)


@register.filter
def days_since(moment: datetime.datetime, now: datetime.datetime) -> int:
    """Whole days from `moment` to `now`: the queue's lead age and the board's time in stage
    ("12 d")."""
    return (now - moment).days
