"""A patient's prior treatment line, added or edited on the lead page."""

from django import forms
from unfold.widgets import (
    UnfoldAdminDateWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminTextInputWidget,
)

from carecrm.forms import CleanTextModelForm
from referrals.forms.base import DATE_INPUT, SelectWidget
from referrals.models import (
    PriorTreatmentLine,
)
from trials.models import Therapy


class TreatmentLineForm(CleanTextModelForm):
    class Meta:
        model = PriorTreatmentLine
        fields = [
            "line_number",
            "therapies",
            "start_date",
            "end_date",
            "best_response",
            "reason_stopped",
            "notes",
        ]
        widgets = {
            "line_number": UnfoldAdminIntegerFieldWidget,
            "therapies": forms.SelectMultiple(attrs={"size": 6, "class": "carecrm-multiselect"}),
            "start_date": UnfoldAdminDateWidget(attrs=DATE_INPUT),
            "end_date": UnfoldAdminDateWidget(attrs=DATE_INPUT),
            "best_response": SelectWidget,
            "reason_stopped": SelectWidget,
            "notes": UnfoldAdminTextInputWidget,
        }

    def __init__(self, *args, patient, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.patient = patient
        self.fields["therapies"].queryset = Therapy.objects.only("id", "name")

    def clean_line_number(self) -> int:
        number = self.cleaned_data["line_number"]
        clash = PriorTreatmentLine.objects.filter(
            patient=self.instance.patient, line_number=number
        ).exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError(f"The patient already has a line {number}.")
        return number
