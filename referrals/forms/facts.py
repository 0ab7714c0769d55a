"""A dated clinical fact typed on the lead page, and a coordinator's override of a criterion."""

from django import forms
from django.utils import timezone
from unfold.widgets import UnfoldAdminDateWidget, UnfoldAdminTextInputWidget

from carecrm.forms import CleanTextForm
from referrals.forms.base import DATE_INPUT, SelectWidget
from referrals.models import CriterionOverride, FactSource
from trials.clinical import FACTS, FactGroup, FactValueError, ValueType, parse_fact_value


def _kind_choices() -> list:
    """The facts grouped as the catalogue groups them, for one menu."""
    return [
        (group.label, [(kind, spec.label) for kind, spec in FACTS.items() if spec.group == group])
        for group in FactGroup
    ]


# Every word a choice or yes/no fact accepts, offered as the value box's suggestions.
VALUE_SUGGESTIONS = sorted(
    {
        str(label)
        for spec in FACTS.values()
        if spec.value_type == ValueType.CHOICE
        for _value, label in spec.choices
    }
    | {"Yes", "No"}
)


class ClinicalFactForm(CleanTextForm):
    kind = forms.ChoiceField(label="Fact", choices=_kind_choices, widget=SelectWidget)
    value = forms.CharField(
        max_length=32,
        widget=UnfoldAdminTextInputWidget(attrs={"list": "fact-values", "autocomplete": "off"}),
        help_text="A number, a date (YYYY-MM-DD), Yes/No or one of the listed values.",
    )
    observed_on = forms.DateField(label="Date", widget=UnfoldAdminDateWidget(attrs=DATE_INPUT))
    source = forms.ChoiceField(choices=FactSource.choices, widget=SelectWidget)
    note = forms.CharField(max_length=200, required=False, widget=UnfoldAdminTextInputWidget)

    def clean_observed_on(self):
        day = self.cleaned_data["observed_on"]
        if day > timezone.localdate():
            raise forms.ValidationError("The date is in the future.")
        return day

    def clean(self):
        data = super().clean()
        if "kind" in data and "value" in data:
            try:
                parse_fact_value(data["kind"], data["value"])
            except FactValueError as error:
                self.add_error("value", str(error))
        return data


class CriterionKeyForm(CleanTextForm):
    """Which criterion of which candidate: the override's address."""

    candidate_kind = forms.ChoiceField(choices=[("program", "program"), ("trial", "trial")])
    candidate_id = forms.IntegerField(min_value=1)
    criterion_key = forms.CharField(max_length=32)


class CriterionOverrideForm(CriterionKeyForm):
    result = forms.ChoiceField(choices=CriterionOverride.Decision.choices, widget=SelectWidget)
    reason = forms.CharField(
        max_length=1000,
        widget=UnfoldAdminTextInputWidget,
        help_text="Why: the letter, result or clinician's decision this rests on.",
    )
