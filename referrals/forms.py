"""Forms of the coordinator pages. They validate input; services decide what the domain allows."""

from django import forms
from django.contrib.auth.models import User
from unfold.widgets import (
    UnfoldAdminDateWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
)

from referrals import pipeline, selectors
from referrals.models import CloseReason, EventKind, PriorTreatmentLine, Referral, Stage
from referrals.services import NOTE_KINDS
from trials.models import Condition, Program, Therapy

DATE_INPUT = {"type": "date"}


class VersionedForm(forms.Form):
    """Carries the lead's version as loaded, so a stale save is refused, not lost."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class TransitionForm(VersionedForm):
    to_stage = forms.ChoiceField(label="Move to", widget=UnfoldAdminSelectWidget)
    close_reason = forms.ChoiceField(
        choices=[("", "—"), *CloseReason.choices], required=False, widget=UnfoldAdminSelectWidget
    )
    close_detail = forms.CharField(
        label="Close detail / failed criterion",
        required=False,
        max_length=500,
        widget=UnfoldAdminTextInputWidget,
    )
    scheduled_for = forms.DateField(
        label="Treatment date", required=False, widget=UnfoldAdminDateWidget(attrs=DATE_INPUT)
    )
    note = forms.CharField(
        required=False,
        max_length=2000,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}),
        help_text="Required when reopening a closed lead.",
    )

    def __init__(self, *args, referral: Referral, **kwargs):
        super().__init__(*args, **kwargs)
        if referral.stage == Stage.CLOSED:
            choices = [(Stage.CONTACTED, "Reopen")]
        else:
            choices = [(s.value, s.label) for s in pipeline.allowed_targets(Stage(referral.stage))]
        self.fields["to_stage"].choices = choices


class BoardMoveForm(VersionedForm):
    referral = forms.IntegerField(min_value=1)
    to_stage = forms.ChoiceField(choices=Stage.choices)


class AssignForm(VersionedForm):
    assignee = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, widget=UnfoldAdminSelectWidget
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = selectors.coordinators()


class NextActionForm(VersionedForm):
    next_action = forms.CharField(max_length=200, required=False, widget=UnfoldAdminTextInputWidget)
    next_action_due = forms.DateField(
        label="Due", required=False, widget=UnfoldAdminDateWidget(attrs=DATE_INPUT)
    )


class NoteForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[(kind.value, kind.label) for kind in NOTE_KINDS],
        initial=EventKind.NOTE,
        widget=UnfoldAdminSelectWidget,
    )
    body = forms.CharField(
        label="Text", max_length=5000, widget=UnfoldAdminTextareaWidget(attrs={"rows": 3})
    )


class TaskForm(forms.Form):
    title = forms.CharField(max_length=200, widget=UnfoldAdminTextInputWidget)
    due_on = forms.DateField(label="Due", widget=UnfoldAdminDateWidget(attrs=DATE_INPUT))
    assignee = forms.ModelChoiceField(queryset=User.objects.none(), widget=UnfoldAdminSelectWidget)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = selectors.coordinators()


class CandidateForm(VersionedForm):
    kind = forms.ChoiceField(choices=[("program", "Program"), ("trial", "Trial")])
    candidate_id = forms.IntegerField(min_value=1)


class TreatmentLineForm(forms.ModelForm):
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
            "best_response": UnfoldAdminSelectWidget,
            "reason_stopped": UnfoldAdminSelectWidget,
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


class QueueFilterForm(forms.Form):
    q = forms.CharField(
        label="Search", required=False, max_length=100, widget=UnfoldAdminTextInputWidget
    )
    stage = forms.ChoiceField(
        choices=[("", "All open stages")]
        + [(s.value, s.label) for s in Stage if s != Stage.CLOSED],
        required=False,
        widget=UnfoldAdminSelectWidget,
    )
    overdue = forms.BooleanField(label="Overdue only", required=False)
    # Bounded: a larger page is empty anyway, and an unbounded OFFSET overflows the database.
    page = forms.IntegerField(min_value=1, max_value=10_000, required=False)


class BoardFilterForm(forms.Form):
    coordinator = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, widget=UnfoldAdminSelectWidget
    )
    condition = forms.ModelChoiceField(
        queryset=Condition.objects.only("id", "name"),
        required=False,
        widget=UnfoldAdminSelectWidget,
    )
    program = forms.ModelChoiceField(
        queryset=Program.objects.select_related("hospital"),
        required=False,
        widget=UnfoldAdminSelectWidget,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["coordinator"].queryset = selectors.coordinators()
