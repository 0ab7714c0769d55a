"""The hospital liaison's pages: the list's filter and the answers to a referral."""

from django import forms
from unfold.widgets import (
    UnfoldAdminDateWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
)

from carecrm.forms import CleanTextForm
from referrals.forms.base import DATE_INPUT, SelectWidget, VersionedForm
from referrals.models import (
    HospitalDeclineReason,
    Referral,
)
from referrals.vocabulary import TREATMENT_DATE_STAGES


class HospitalFilterForm(CleanTextForm):
    q = forms.CharField(
        label="Search", required=False, max_length=100, widget=UnfoldAdminTextInputWidget
    )
    show = forms.ChoiceField(
        choices=[("open", "Open"), ("closed", "Closed"), ("all", "All")],
        required=False,
        widget=SelectWidget,
    )
    page = forms.IntegerField(min_value=1, max_value=10_000, required=False)


class HospitalAcceptForm(VersionedForm):
    note = forms.CharField(
        label="Note for the coordinator",
        required=False,
        max_length=2000,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}),
    )


class HospitalDeclineForm(VersionedForm):
    reason = forms.ChoiceField(
        label="Reason",
        choices=[("", "Choose…"), *HospitalDeclineReason.choices],
        widget=SelectWidget,
    )
    detail = forms.CharField(
        label="Explanation",
        required=False,
        max_length=500,
        widget=UnfoldAdminTextInputWidget,
        help_text="Required for “Other”.",
    )


class DocumentsRequestForm(CleanTextForm):
    message = forms.CharField(
        label="Which documents the hospital needs",
        max_length=2000,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
    )


class HospitalDatesForm(VersionedForm):
    consult_date = forms.DateField(
        label="Consult", required=False, widget=UnfoldAdminDateWidget(attrs=DATE_INPUT)
    )
    apheresis_date = forms.DateField(
        label="Apheresis", required=False, widget=UnfoldAdminDateWidget(attrs=DATE_INPUT)
    )
    infusion_date = forms.DateField(
        label="Infusion", required=False, widget=UnfoldAdminDateWidget(attrs=DATE_INPUT)
    )

    def __init__(self, *args, referral: Referral, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "version": referral.version,
                "consult_date": referral.consult_date,
                "apheresis_date": referral.apheresis_date,
                "infusion_date": referral.infusion_date,
            },
        )
        super().__init__(*args, **kwargs)
        if referral.stage not in TREATMENT_DATE_STAGES:
            # Disabled fields keep the saved value whatever is posted.
            self.fields["apheresis_date"].disabled = True
            self.fields["infusion_date"].disabled = True


class HospitalTreatedForm(VersionedForm):
    infusion_date = forms.DateField(
        label="Infusion given on", widget=UnfoldAdminDateWidget(attrs=DATE_INPUT)
    )
    note = forms.CharField(
        required=False, max_length=2000, widget=UnfoldAdminTextareaWidget(attrs={"rows": 2})
    )
