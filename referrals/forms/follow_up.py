"""After the infusion: the treatment's outcome and each follow-up visit."""

from django import forms
from unfold.widgets import (
    UnfoldAdminDateWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanWidget,
)

from carecrm.forms import CleanTextForm
from referrals.forms.base import DATE_INPUT, SelectWidget
from referrals.vocabulary import GRADE_CHOICES, GRADE_MAX, MEASURES


def _grade_field(label: str) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=f"{label} grade (ASTCT)",
        choices=[("", "Not assessed yet"), *GRADE_CHOICES],
        coerce=int,
        empty_value=None,
        required=False,
        widget=SelectWidget,
        error_messages={
            "invalid_choice": f"The {label} grade must be 0 to {GRADE_MAX} (ASTCT grading); "
            "%(value)s is not a grade."
        },
    )


class TreatmentOutcomeForm(CleanTextForm):
    """The infusion and what followed; `services.treatment_outcome_save` checks the dates."""

    infusion_date = forms.DateField(widget=UnfoldAdminDateWidget(attrs=DATE_INPUT))
    product = forms.CharField(
        label="CAR-T product", max_length=200, widget=UnfoldAdminTextInputWidget
    )
    crs_grade = _grade_field("CRS")
    icans_grade = _grade_field("ICANS")
    infections = forms.CharField(
        max_length=2000,
        required=False,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}),
        help_text="Infections after the infusion, with dates; blank if none.",
    )
    relapse = forms.BooleanField(required=False, widget=UnfoldBooleanWidget)
    relapse_date = forms.DateField(required=False, widget=UnfoldAdminDateWidget(attrs=DATE_INPUT))


def _measure_field(name: str) -> forms.IntegerField:
    measure = MEASURES[name]
    return forms.IntegerField(
        label=measure.label,
        min_value=0,
        max_value=measure.high,
        required=False,
        widget=UnfoldAdminIntegerFieldWidget,
        error_messages={
            "min_value": f"{measure.label} is scored 0 to {measure.high}.",
            "max_value": f"{measure.label} is scored 0 to {measure.high}.",
        },
    )


class FollowUpVisitForm(CleanTextForm):
    done_on = forms.DateField(label="Visit date", widget=UnfoldAdminDateWidget(attrs=DATE_INPUT))
    sledai_2k = _measure_field("sledai_2k")
    das28 = forms.DecimalField(
        label=MEASURES["das28"].label,
        min_value=0,
        max_value=MEASURES["das28"].high,
        max_digits=4,
        decimal_places=2,
        required=False,
        widget=UnfoldAdminTextInputWidget(attrs={"inputmode": "decimal"}),
        error_messages={
            "min_value": f"DAS28 is 0 to {MEASURES['das28'].high}.",
            "max_value": f"DAS28 is 0 to {MEASURES['das28'].high}.",
        },
    )
    mrss = _measure_field("mrss")
    mg_adl = _measure_field("mg_adl")
    drug_free_remission = forms.TypedChoiceField(
        label="Drug-free remission",
        choices=[("", "Not assessed"), ("yes", "Yes"), ("no", "No")],
        coerce=lambda value: value == "yes",
        empty_value=None,
        required=False,
        widget=SelectWidget,
    )
    notes = forms.CharField(
        max_length=2000, required=False, widget=UnfoldAdminTextareaWidget(attrs={"rows": 2})
    )
