"""The public intake form: the patient, the diagnosis and the treatments tried, in the
visitor's language, with menus kept in the cache."""

import phonenumbers
from django import forms
from django.conf import settings
from django.core.cache import cache
from django.core.validators import MaxValueValidator
from django.db.models import TextChoices
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from unfold.widgets import (
    UnfoldAdminEmailInputWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanWidget,
)

from carecrm.forms import CleanTextForm
from referrals.consent import CONSENT_TEXT
from referrals.forms.base import SelectWidget
from referrals.models import (
    ContactChannel,
    ReasonStopped,
    SubmitterRole,
)
from trials.models import Condition, Therapy


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
