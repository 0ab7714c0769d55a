"""Forms of the coordinator pages. They validate input; services decide what the domain allows.

Every form derives from `carecrm.forms.CleanTextForm` (or `CleanTextModelForm`), which cleans
the text typed into it before validation (`carecrm.text`).
"""

import datetime

import phonenumbers
from django import forms
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.validators import MaxValueValidator
from django.db.models import TextChoices
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from unfold.widgets import (
    UnfoldAdminDateWidget,
    UnfoldAdminEmailInputWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanWidget,
)

from carecrm.forms import CleanTextForm, CleanTextModelForm
from referrals import pipeline, selectors
from referrals.consent import CONSENT_TEXT
from referrals.models import (
    CloseReason,
    ContactChannel,
    DocumentKind,
    EventKind,
    HospitalDeclineReason,
    PriorTreatmentLine,
    ReasonStopped,
    Referral,
    ScreenFailureCriterion,
    Stage,
    SubmitterRole,
)
from referrals.vocabulary import (
    GRADE_CHOICES,
    GRADE_MAX,
    MEASURES,
    NOTE_KINDS,
    TREATMENT_DATE_STAGES,
)
from trials.models import Condition, Program, Therapy

DATE_INPUT = {"type": "date"}


class SelectWidget(UnfoldAdminSelectWidget):
    """Unfold's select with its options written in the select's own template.

    Django renders each option through a template include, and its attributes through another:
    0.1 ms an option, a quarter of the lead page's time with its 150 options (therapies,
    coordinators, stages).
    """

    template_name = "carecrm/widgets/select.html"


class VersionedForm(CleanTextForm):
    """Carries the lead's version as loaded, so a stale save is refused, not lost."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


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


# --- public intake --------------------------------------------------------------------------


class IntakeOutcome(TextChoices):
    """How a treatment went, in a patient's words; maps onto `ReasonStopped`."""

    DID_NOT_HELP = "did_not_help", _("It did not help")
    STOPPED_WORKING = "stopped_working", _("It helped at first, then stopped working")
    SIDE_EFFECTS = "side_effects", _("I had to stop because of side effects")
    STILL_TAKING = "still_taking", _("I am still taking it")
    HELPED = "helped", _("It helped and was stopped")
    NOT_SURE = "not_sure", _("Not sure")


OUTCOME_TO_REASON = {
    IntakeOutcome.DID_NOT_HELP: ReasonStopped.INADEQUATE_RESPONSE,
    IntakeOutcome.STOPPED_WORKING: ReasonStopped.LOSS_OF_RESPONSE,
    IntakeOutcome.SIDE_EFFECTS: ReasonStopped.INTOLERANCE,
    IntakeOutcome.STILL_TAKING: ReasonStopped.ONGOING,
    IntakeOutcome.HELPED: ReasonStopped.REMISSION,
    IntakeOutcome.NOT_SURE: ReasonStopped.UNKNOWN,
}
OTHER_CONDITION = "other"
PHONE_REGION = "IL"


# The public form's menus are the same for every visitor in a language and change only when an
# admin edits a condition or therapy, so they are kept in the cache (a tenth of a submission's
# work). An edit clears them (`localized_choices_clear`); with the per-process cache of a server
# without Redis, other processes see it within CHOICES_CACHE_SECONDS.
CHOICES_CACHE_SECONDS = 60


# The menus kept, and the field each one's options submit.
MENU_VALUES = {Condition: "slug", Therapy: "pk"}


def _choices_key(model, language: str) -> str:
    return f"intake:choices:{model._meta.label_lower}:{language}"


def _localized_choices(objects) -> list[tuple[str, str]]:
    """Names in the page's language, with the English name where it adds something, sorted
    as a reader of that language expects."""
    language = get_language() or "en"
    cache_key = _choices_key(objects.model, language)
    choices = cache.get(cache_key)
    if choices is None:
        key = MENU_VALUES[objects.model]
        choices = []
        for obj in objects:
            local = obj.localized_name(language)
            label = local if obj.name in local else f"{local} ({obj.name})"
            choices.append((str(getattr(obj, key)), label))
        choices.sort(key=lambda choice: choice[1].casefold())
        cache.set(cache_key, choices, CHOICES_CACHE_SECONDS)
    return choices


def localized_choices_clear(**kwargs) -> None:
    """Forget the menus of conditions and therapies (connected to their saves and deletes)."""
    cache.delete_many(
        [
            _choices_key(model, language)
            for model in MENU_VALUES
            for language, _name in settings.LANGUAGES
        ]
    )


class IntakeForm(CleanTextForm):
    submitter_role = forms.ChoiceField(
        label=_("Who is filling in this form?"),
        choices=SubmitterRole.choices,
        widget=forms.RadioSelect,
    )
    submitter_name = forms.CharField(
        label=_("Your name (if you are not the patient)"),
        max_length=160,
        required=False,
        widget=UnfoldAdminTextInputWidget,
    )
    first_name = forms.CharField(
        label=_("Patient's first name"), max_length=80, widget=UnfoldAdminTextInputWidget
    )
    last_name = forms.CharField(
        label=_("Patient's last name"), max_length=80, widget=UnfoldAdminTextInputWidget
    )
    date_of_birth = forms.DateField(
        label=_("Patient's date of birth"),
        required=False,
        widget=UnfoldAdminTextInputWidget(attrs={"type": "date"}),
    )
    age = forms.IntegerField(
        label=_("…or the patient's age"),
        min_value=0,
        max_value=120,
        required=False,
        widget=UnfoldAdminIntegerFieldWidget,
    )
    phone = forms.CharField(
        label=_("Phone number"),
        max_length=40,
        widget=UnfoldAdminTextInputWidget(attrs={"type": "tel", "autocomplete": "tel"}),
    )
    email = forms.EmailField(
        label=_("E-mail (optional)"),
        max_length=254,
        required=False,
        widget=UnfoldAdminEmailInputWidget,
    )
    condition = forms.ChoiceField(label=_("Diagnosis"), widget=SelectWidget)
    condition_other = forms.CharField(
        label=_("If other, which diagnosis?"),
        max_length=200,
        required=False,
        widget=UnfoldAdminTextInputWidget,
    )
    diagnosis_year = forms.IntegerField(
        label=_("Year of diagnosis"),
        min_value=1900,
        required=False,
        widget=UnfoldAdminIntegerFieldWidget,
    )
    message = forms.CharField(
        label=_("Anything else we should know?"),
        max_length=2000,
        required=False,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 4}),
    )
    # Each language in its own name, so a reader finds theirs whatever the page's language.
    preferred_language = forms.ChoiceField(
        label=_("Preferred language"),
        choices=[("en", "English"), ("he", "עברית"), ("ru", "Русский"), ("ar", "العربية")],
        widget=SelectWidget,
    )
    contact_channel = forms.ChoiceField(
        label=_("How should we contact you?"),
        choices=ContactChannel.choices,
        widget=forms.RadioSelect,
        initial=ContactChannel.PHONE,
    )
    consent = forms.BooleanField(label=CONSENT_TEXT, widget=UnfoldBooleanWidget)
    # A honeypot: hidden from people by CSS, filled in by bots that fill every field.
    website = forms.CharField(required=False, max_length=200)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["condition"].choices = [
            ("", "—"),
            *_localized_choices(Condition.objects.all()),
            (OTHER_CONDITION, _("Other / not sure")),
        ]
        self.fields["preferred_language"].initial = get_language()
        self.fields["diagnosis_year"].max_value = timezone.localdate().year
        self.fields["diagnosis_year"].validators.append(
            MaxValueValidator(timezone.localdate().year)
        )
        self.fields["website"].widget.attrs.update(
            {"autocomplete": "off", "tabindex": "-1", "class": "crm-hp"}
        )

    def clean_phone(self) -> str:
        raw = self.cleaned_data["phone"]
        try:
            number = phonenumbers.parse(raw, PHONE_REGION)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            raise forms.ValidationError(
                _("Enter a valid phone number, e.g. 054-765-4321 or +972 54 765 4321.")
            )
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def clean_date_of_birth(self):
        born = self.cleaned_data["date_of_birth"]
        if born and born > timezone.localdate():
            raise forms.ValidationError(_("The date of birth cannot be in the future."))
        if born and born.year < 1900:
            raise forms.ValidationError(_("Enter a real date of birth."))
        return born

    def clean(self):
        cleaned = super().clean()
        no_birth_or_age = not cleaned.get("date_of_birth") and cleaned.get("age") is None
        if no_birth_or_age and not {"date_of_birth", "age"} & set(self.errors):
            self.add_error("date_of_birth", _("Give the date of birth or the age."))
        if cleaned.get("condition") == OTHER_CONDITION and not cleaned.get("condition_other"):
            self.add_error("condition_other", _("Tell us the diagnosis, even roughly."))
        role = cleaned.get("submitter_role")
        if role and role != SubmitterRole.PATIENT and not cleaned.get("submitter_name"):
            self.add_error("submitter_name", _("Tell us your name."))
        born, year = cleaned.get("date_of_birth"), cleaned.get("diagnosis_year")
        if born and year and year < born.year:
            self.add_error("diagnosis_year", _("The diagnosis cannot be before birth."))
        return cleaned

    @property
    def is_bot(self) -> bool:
        return bool(self.data.get("website"))


class TreatmentTriedForm(CleanTextForm):
    therapy = forms.ChoiceField(label=_("Treatment"), required=False, widget=SelectWidget)
    outcome = forms.ChoiceField(
        label=_("How did it go?"),
        choices=[("", "—"), *IntakeOutcome.choices],
        required=False,
        widget=SelectWidget,
    )

    def __init__(self, *args, therapies, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["therapy"].choices = [("", "—"), *therapies]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("outcome") and not cleaned.get("therapy"):
            self.add_error("therapy", _("Choose the treatment."))
        if cleaned.get("therapy") and not cleaned.get("outcome"):
            self.add_error("outcome", _("Tell us how it went."))
        return cleaned


class BaseTreatmentsTriedFormSet(forms.BaseFormSet):
    def __init__(self, *args, **kwargs):
        # One query for the therapy menu, shared by every row.
        therapies = _localized_choices(Therapy.objects.only("id", "name", "name_translations"))
        kwargs["form_kwargs"] = {"therapies": therapies}
        super().__init__(*args, **kwargs)

    def treatments(self) -> list[tuple[int, str]]:
        """(therapy id, reason stopped) for each filled-in row, in order."""
        return [
            (int(form.cleaned_data["therapy"]), OUTCOME_TO_REASON[form.cleaned_data["outcome"]])
            for form in self.forms
            if form.cleaned_data.get("therapy")
        ]


TreatmentsTriedFormSet = forms.formset_factory(
    TreatmentTriedForm,
    formset=BaseTreatmentsTriedFormSet,
    extra=4,
    max_num=12,
    validate_max=True,
    absolute_max=12,
)


# --- the hospital liaison's pages ----------------------------------------------------------


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
                "infusion_date": referral.scheduled_for,
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


# --- hand-off and follow-up --------------------------------------------------------------


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


class PacketSendForm(CleanTextForm):
    sent_to = forms.CharField(
        label="Sent to",
        max_length=200,
        widget=UnfoldAdminTextInputWidget,
        help_text="The program contact and how: e.g. dr.cohen@sheba.example by secure mail.",
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
