"""The lead page's actions: move, assign, next action, note, task, document, candidate; and the
board's drag-and-drop move."""

from django import forms
from django.contrib.auth.models import User
from unfold.widgets import (
    UnfoldAdminDateWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
)

from carecrm.forms import CleanTextForm
from referrals import pipeline, selectors
from referrals.forms.base import DATE_INPUT, SelectWidget, VersionedForm
from referrals.models import (
    CloseReason,
    DocumentKind,
    EventKind,
    Referral,
    ScreenFailureCriterion,
    Stage,
)
from referrals.vocabulary import NOTE_KINDS


class TransitionForm(VersionedForm):
    to_stage = forms.ChoiceField(label="Move to", widget=SelectWidget)
    close_reason = forms.ChoiceField(
        choices=[("", "—"), *CloseReason.choices], required=False, widget=SelectWidget
    )
    screen_failure_criterion = forms.ChoiceField(
        label="Failed criterion (screen failure)",
        choices=[("", "—"), *ScreenFailureCriterion.choices],
        required=False,
        widget=SelectWidget,
    )
    close_detail = forms.CharField(
        label="Close detail",
        required=False,
        max_length=500,
        widget=UnfoldAdminTextInputWidget,
    )
    infusion_date = forms.DateField(
        label="Infusion date", required=False, widget=UnfoldAdminDateWidget(attrs=DATE_INPUT)
    )
    note = forms.CharField(
        required=False,
        max_length=2000,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}),
        help_text="Required when reopening a closed lead.",
    )

    def __init__(self, *args, referral: Referral, **kwargs):
        super().__init__(*args, **kwargs)
        stage = Stage(referral.stage)
        if stage == Stage.CLOSED:
            choices = [(Stage.CONTACTED, "Reopen")]
        else:
            choices = [(s.value, s.label) for s in pipeline.allowed_targets(stage)]
            forward = pipeline.forward_target(stage)
            if forward is None:
                # Nothing ahead (only closing): no move is chosen until one is picked.
                choices.insert(0, ("", "Choose a move"))
            self.fields["to_stage"].initial = forward
        self.fields["to_stage"].choices = choices


class BoardMoveForm(VersionedForm):
    referral = forms.IntegerField(min_value=1)
    to_stage = forms.ChoiceField(choices=Stage.choices)


class AssignForm(VersionedForm):
    assignee = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, widget=SelectWidget
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = selectors.coordinators()


class NextActionForm(VersionedForm):
    next_action = forms.CharField(max_length=200, required=False, widget=UnfoldAdminTextInputWidget)
    next_action_due = forms.DateField(
        label="Due", required=False, widget=UnfoldAdminDateWidget(attrs=DATE_INPUT)
    )


class NoteForm(CleanTextForm):
    kind = forms.ChoiceField(
        choices=[(kind.value, kind.label) for kind in NOTE_KINDS],
        initial=EventKind.NOTE,
        widget=SelectWidget,
    )
    body = forms.CharField(
        label="Text", max_length=5000, widget=UnfoldAdminTextareaWidget(attrs={"rows": 3})
    )


class TaskForm(CleanTextForm):
    title = forms.CharField(max_length=200, widget=UnfoldAdminTextInputWidget)
    due_on = forms.DateField(label="Due", widget=UnfoldAdminDateWidget(attrs=DATE_INPUT))
    assignee = forms.ModelChoiceField(queryset=User.objects.none(), widget=SelectWidget)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = selectors.coordinators()


class DocumentForm(CleanTextForm):
    """A document for the lead; `services.document_upload` checks its size, type and name."""

    # No default: a medical record filed as a consent form would be worse than a second click.
    kind = forms.ChoiceField(
        label="Kind",
        choices=[("", "Choose…"), *DocumentKind.choices],
        widget=SelectWidget,
    )
    file = forms.FileField(
        label="File (PDF, PNG or JPEG)",
        widget=forms.FileInput(attrs={"accept": ".pdf,.png,.jpg,.jpeg", "class": "crm-file"}),
    )


class CandidateForm(VersionedForm):
    kind = forms.ChoiceField(choices=[("program", "Program"), ("trial", "Trial")])
    candidate_id = forms.IntegerField(min_value=1)
