"""The reference world admins edit: conditions, therapies, hospitals, programs and trials.

Nothing here knows about patients or referrals; `referrals` depends on `trials`, never the
reverse.
"""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from carecrm.history import HistoricalRecords
from trials.criteria import (
    CriterionError,
    CriterionKind,
    CriterionRole,
    parse_rule,
    role_problem,
)
from trials.vocabulary import (
    AGE_LIMIT,
    HOME_COUNTRY,
    NCT_ID_PATTERN,
    SITE_CITY_MAX_LENGTH,
    SITE_COUNTRY_MAX_LENGTH,
    SITE_FACILITY_MAX_LENGTH,
    TRIAL_SHORT_NAME_MAX_LENGTH,
    TRIAL_SPONSOR_MAX_LENGTH,
    TRIAL_TITLE_MAX_LENGTH,
    CarTarget,
    TrialPhase,
    TrialStatus,
)

nct_id_validator = RegexValidator(
    NCT_ID_PATTERN, _("An NCT ID is 'NCT' followed by 8 digits, e.g. NCT05869955.")
)
TRANSLATED_LANGUAGES = ("he", "ru", "ar")


class LocalizedName(models.Model):
    """A name shown to the public in the intake form's languages; staff see `name`."""

    name_translations = models.JSONField(
        default=dict,
        blank=True,
        help_text=_('The name in Hebrew, Russian and Arabic: {"he": "…", "ru": "…", "ar": "…"}.'),
    )

    class Meta:
        abstract = True

    def localized_name(self, language: str) -> str:
        return self.name_translations.get(language) or self.name


class ConditionGroup(models.TextChoices):
    CONNECTIVE_TISSUE = "connective_tissue", _("Connective tissue disease")
    INFLAMMATORY_ARTHRITIS = "inflammatory_arthritis", _("Inflammatory arthritis")
    VASCULITIS = "vasculitis", _("Vasculitis")
    MYOSITIS = "myositis", _("Myositis")
    NEUROMUSCULAR = "neuromuscular", _("Neuromuscular")
    NEUROINFLAMMATORY = "neuroinflammatory", _("Neuroinflammatory")
    DERMATOLOGICAL = "dermatological", _("Autoimmune blistering / skin")
    OTHER = "other", _("Other")


class Condition(LocalizedName):
    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    icd10_codes = models.CharField(
        _("ICD-10 codes"), max_length=120, blank=True, help_text=_("Comma-separated, e.g. M32.1")
    )
    group = models.CharField(max_length=32, choices=ConditionGroup.choices)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="subtypes",
        help_text=_(
            "The broader condition this is a subtype of (lupus nephritis → SLE): a program or "
            "trial for the parent takes its subtypes."
        ),
    )
    synonyms = models.TextField(
        blank=True,
        help_text=_("One per line; used to match trial registry condition names."),
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(parent=F("pk")),
                name="condition_not_its_own_parent",
                violation_error_message=_("A condition cannot be its own subtype."),
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        ancestor, seen = self.parent, {self.pk}
        while ancestor is not None:
            if ancestor.pk in seen:
                raise ValidationError({"parent": _("That parent would make a loop of subtypes.")})
            seen.add(ancestor.pk)
            ancestor = ancestor.parent


class DrugClass(models.TextChoices):
    GLUCOCORTICOID = "glucocorticoid", _("Glucocorticoid")
    ANTIMALARIAL = "antimalarial", _("Antimalarial")
    CSDMARD = "csdmard", _("Conventional synthetic DMARD / immunosuppressant")
    ALKYLATING = "alkylating", _("Alkylating agent")
    CALCINEURIN = "calcineurin", _("Calcineurin inhibitor")
    ANTI_CD20 = "anti_cd20", _("Anti-CD20")
    BLYS = "blys", _("BLyS inhibitor")
    IFNAR = "ifnar", _("Type-I IFN receptor antagonist")
    TNF = "tnf", _("TNF inhibitor")
    IL6R = "il6r", _("IL-6R inhibitor")
    COSTIMULATION = "costimulation", _("T-cell co-stimulation modulator")
    JAK = "jak", _("JAK inhibitor")
    COMPLEMENT = "complement", _("Complement inhibitor")
    FCRN = "fcrn", _("FcRn blocker")
    IVIG_PLEX = "ivig_plex", _("IVIG / plasma exchange")
    OTHER = "other", _("Other")


# A line of only these does not make a patient "refractory": glucocorticoids bridge flares and
# hydroxychloroquine is background therapy for everyone with SLE (EULAR 2023).
NON_COUNTING_DRUG_CLASSES = frozenset({DrugClass.GLUCOCORTICOID, DrugClass.ANTIMALARIAL})


class Therapy(LocalizedName):
    name = models.CharField(max_length=120, unique=True)
    generic_name = models.CharField(max_length=120, blank=True)
    drug_class = models.CharField(max_length=32, choices=DrugClass.choices)
    counts_toward_failed_lines = models.BooleanField(
        default=True,
        help_text=_(
            "Whether a failed line containing this therapy counts toward failed lines. "
            "Off for glucocorticoids and antimalarials: a line of only those does not count."
        ),
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "therapies"

    def __str__(self) -> str:
        return self.name


class Hospital(models.Model):
    name = models.CharField(max_length=160, unique=True)
    city = models.CharField(max_length=80)
    country = models.CharField(max_length=80, default=HOME_COUNTRY)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    website = models.URLField(blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def _age_range_constraint(name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(min_age__isnull=True) | Q(max_age__isnull=True) | Q(min_age__lte=F("max_age")),
        name=name,
        violation_error_message=_("The minimum age cannot be above the maximum age."),
    )


class TrialQuerySet(models.QuerySet):
    def recruiting(self):
        return self.filter(overall_status=TrialStatus.RECRUITING)


class Trial(models.Model):
    nct_id = models.CharField(
        _("NCT ID"), max_length=11, unique=True, validators=[nct_id_validator]
    )
    short_name = models.CharField(max_length=TRIAL_SHORT_NAME_MAX_LENGTH, blank=True)
    title = models.CharField(max_length=TRIAL_TITLE_MAX_LENGTH)
    sponsor = models.CharField(max_length=TRIAL_SPONSOR_MAX_LENGTH, blank=True)
    product = models.CharField(max_length=200, blank=True)
    car_target = models.CharField(max_length=16, choices=CarTarget.choices)
    phase = models.CharField(max_length=16, choices=TrialPhase.choices, blank=True)
    overall_status = models.CharField(
        max_length=32, choices=TrialStatus.choices, default=TrialStatus.UNKNOWN
    )
    conditions = models.ManyToManyField(Condition, related_name="trials", blank=True)
    conditions_text = models.TextField(
        blank=True, help_text=_("Registry condition names that match none of our conditions.")
    )
    min_age = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(AGE_LIMIT)]
    )
    max_age = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(AGE_LIMIT)]
    )
    min_failed_lines = models.PositiveSmallIntegerField(default=2)
    eligibility_text = models.TextField(blank=True)
    source_url = models.URLField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TrialQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["nct_id"]
        indexes = [models.Index(fields=["overall_status"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(nct_id__regex=NCT_ID_PATTERN),
                name="trial_nct_id_format",
                violation_error_message=nct_id_validator.message,
            ),
            _age_range_constraint("trial_age_range_valid"),
        ]

    def __str__(self) -> str:
        label = self.short_name or self.title
        return f"{self.nct_id} · {label}"

    @property
    def registry_url(self) -> str:
        return f"https://clinicaltrials.gov/study/{self.nct_id}"


class TrialSite(models.Model):
    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="sites")
    hospital = models.ForeignKey(
        Hospital, on_delete=models.PROTECT, null=True, blank=True, related_name="trial_sites"
    )
    facility = models.CharField(max_length=SITE_FACILITY_MAX_LENGTH, blank=True)
    city = models.CharField(max_length=SITE_CITY_MAX_LENGTH, blank=True)
    country = models.CharField(max_length=SITE_COUNTRY_MAX_LENGTH, blank=True)
    status = models.CharField(max_length=32, choices=TrialStatus.choices, blank=True)

    class Meta:
        ordering = ["trial", "country", "city", "facility"]
        constraints = [
            models.CheckConstraint(
                condition=Q(hospital__isnull=False) | ~Q(facility=""),
                name="trialsite_has_hospital_or_facility",
                violation_error_message=_("A site needs a hospital or a facility name."),
            )
        ]

    def __str__(self) -> str:
        where = self.hospital.name if self.hospital_id else self.facility
        return f"{self.trial.nct_id} @ {where}"


class ProgramKind(models.TextChoices):
    HOSPITAL_PROGRAM = "hospital_program", _("Hospital program")
    TRIAL_SITE = "trial_site", _("Trial site")
    COMPASSIONATE_USE = "compassionate_use", _("Compassionate use")


class ProgramStatus(models.TextChoices):
    ACCEPTING = "accepting", _("Accepting referrals")
    PAUSED = "paused", _("Paused")
    CLOSED = "closed", _("Closed")


class ProgramQuerySet(models.QuerySet):
    def accepting(self):
        return self.filter(status=ProgramStatus.ACCEPTING)


class Program(models.Model):
    hospital = models.ForeignKey(Hospital, on_delete=models.PROTECT, related_name="programs")
    name = models.CharField(max_length=200)
    conditions = models.ManyToManyField(Condition, related_name="programs", blank=True)
    car_target = models.CharField(max_length=16, choices=CarTarget.choices)
    kind = models.CharField(
        max_length=24, choices=ProgramKind.choices, default=ProgramKind.HOSPITAL_PROGRAM
    )
    min_failed_lines = models.PositiveSmallIntegerField(default=2)
    min_age = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(AGE_LIMIT)]
    )
    max_age = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(AGE_LIMIT)]
    )
    status = models.CharField(
        max_length=16, choices=ProgramStatus.choices, default=ProgramStatus.ACCEPTING
    )
    monthly_capacity = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text=_("Patients the program can take per month.")
    )
    required_documents = models.TextField(blank=True, help_text=_("One document per line."))
    contact_name = models.CharField(max_length=120, blank=True)
    contact_email = models.EmailField(blank=True)
    contact_phone = models.CharField(max_length=40, blank=True)
    trial = models.ForeignKey(
        Trial, on_delete=models.SET_NULL, null=True, blank=True, related_name="programs"
    )
    notes = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProgramQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["hospital__name", "name"]
        indexes = [models.Index(fields=["status"])]
        constraints = [
            models.UniqueConstraint(
                fields=["hospital", "name"], name="program_unique_per_hospital"
            ),
            _age_range_constraint("program_age_range_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.hospital.name})"

    @property
    def required_document_list(self) -> list[str]:
        return [line.strip() for line in self.required_documents.splitlines() if line.strip()]


class EligibilityCriterionQuerySet(models.QuerySet):
    def confirmed(self):
        return self.filter(confirmed=True)


class EligibilityCriterion(models.Model):
    """One typed inclusion or exclusion criterion of a program or a trial, beside the registry
    sentence it comes from. Its parameters are checked by `trials.criteria.parse_rule`."""

    program = models.ForeignKey(
        Program, on_delete=models.CASCADE, null=True, blank=True, related_name="criteria"
    )
    trial = models.ForeignKey(
        Trial, on_delete=models.CASCADE, null=True, blank=True, related_name="criteria"
    )
    role = models.CharField(max_length=9, choices=CriterionRole.choices)
    kind = models.CharField(max_length=16, choices=CriterionKind.choices)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    source_text = models.TextField(
        _("source sentence"),
        help_text=_("The registry or protocol sentence this criterion encodes, word for word."),
    )
    position = models.PositiveSmallIntegerField(default=0)
    confirmed = models.BooleanField(
        default=True,
        help_text=_(
            "Counts for matching. Criteria proposed from the registry text wait unconfirmed "
            "until an admin has checked them against their sentence."
        ),
    )

    objects = EligibilityCriterionQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["position", "id"]
        verbose_name_plural = "eligibility criteria"
        indexes = [
            models.Index(fields=["program", "position"], name="criterion_program_idx"),
            models.Index(fields=["trial", "position"], name="criterion_trial_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(program__isnull=True, trial__isnull=False)
                | Q(program__isnull=False, trial__isnull=True),
                name="criterion_belongs_to_one_candidate",
                violation_error_message=_("A criterion belongs to a program or a trial."),
            ),
            models.CheckConstraint(
                condition=~Q(source_text=""),
                name="criterion_quotes_its_source",
                violation_error_message=_("Quote the sentence the criterion comes from."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.get_kind_display()}"

    def clean(self) -> None:
        if problem := role_problem(self.kind, self.role):
            raise ValidationError({"role": problem})
        try:
            parse_rule(self.kind, self.params, **reference_slugs())
        except CriterionError as error:
            raise ValidationError({"params": str(error)}) from None


def reference_slugs() -> dict[str, frozenset[str]]:
    """The names a criterion may use: every condition slug, therapy name and drug class."""
    return {
        "condition_slugs": frozenset(Condition.objects.values_list("slug", flat=True)),
        "therapy_names": frozenset(Therapy.objects.values_list("name", flat=True)),
        "drug_classes": frozenset(DrugClass.values),
    }
