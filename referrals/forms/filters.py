"""The filters of the queue, the board and the dashboard."""

import datetime

from django import forms
from django.contrib.auth.models import User
from unfold.widgets import (
    UnfoldAdminDateWidget,
    UnfoldAdminTextInputWidget,
)

from carecrm.forms import CleanTextForm
from referrals import selectors
from referrals.forms.base import DATE_INPUT, SelectWidget
from referrals.models import (
    Stage,
)
from trials.models import Condition, Program


class QueueFilterForm(CleanTextForm):
    q = forms.CharField(
        label="Search", required=False, max_length=100, widget=UnfoldAdminTextInputWidget
    )
    stage = forms.ChoiceField(
        choices=[("", "All open stages")]
        + [(s.value, s.label) for s in Stage if s != Stage.CLOSED],
        required=False,
        widget=SelectWidget,
    )
    overdue = forms.BooleanField(label="Overdue only", required=False)
    # Bounded: a larger page is empty anyway, and an unbounded OFFSET overflows the database.
    page = forms.IntegerField(min_value=1, max_value=10_000, required=False)


class BoardFilterForm(CleanTextForm):
    coordinator = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, widget=SelectWidget
    )
    condition = forms.ModelChoiceField(
        queryset=Condition.objects.only("id", "name"),
        required=False,
        widget=SelectWidget,
    )
    program = forms.ModelChoiceField(
        queryset=Program.objects.select_related("hospital"),
        required=False,
        widget=SelectWidget,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["coordinator"].queryset = selectors.coordinators()


class DashboardPeriodForm(CleanTextForm):
    period = forms.ChoiceField(
        choices=[
            ("30", "Last 30 days"),
            ("90", "Last 90 days"),
            ("365", "Last 365 days"),
            ("custom", "Custom"),
        ],
        required=False,
        widget=SelectWidget,
    )
    start = forms.DateField(required=False, widget=UnfoldAdminDateWidget(attrs=DATE_INPUT))
    end = forms.DateField(required=False, widget=UnfoldAdminDateWidget(attrs=DATE_INPUT))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("period") == "custom":
            start, end = cleaned.get("start"), cleaned.get("end")
            if not start or not end:
                raise forms.ValidationError("A custom period needs a start and an end date.")
            if start > end:
                raise forms.ValidationError("The period starts after it ends.")
        return cleaned

    def dates(self, today: datetime.date) -> tuple[datetime.date, datetime.date]:
        """First and last day of the chosen period (the last 30 days when nothing valid)."""
        data = self.cleaned_data if self.is_valid() else {}
        if data.get("period") == "custom":
            return data["start"], data["end"]
        days = int(data.get("period") or 30)
        return today - datetime.timedelta(days=days - 1), today
