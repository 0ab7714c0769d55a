"""Patients and their prior treatment lines, with the one rule for a failed line."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from carecrm.history import HistoricalRecords
from referrals.models.display import QuickChoiceDisplay
from referrals.search import search_filter
from referrals.vocabulary import (
    FAILURE_REASONS,
    BestResponse,
    Language,
    ReasonStopped,
    Sex,
)
from trials.clinical import age_on, counts_as_failed
from trials.models import Condition, Therapy


class PatientQuerySet(models.QuerySet):
    def with_failed_line_count(self):
        """Each patient's `failed_line_count` counted by the database, for list pages."""
        return self.annotate(**{FAILED_LINES_COUNTED: failed_line_count_sql("pk")})

    def matching(self, term: str):
        """Every word of `term` in the patient's first or last name, phone or e-mail."""
        return search_filter(self, term, patient_field="pk")


class Patient(QuickChoiceDisplay, models.Model):
    first_name = models.CharField(max_length=80)
    last_name = models.CharField(max_length=80)
    date_of_birth = models.DateField(null=True, blank=True)
    stated_age = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(120)],
        help_text=_("Age the lead gave instead of a date of birth."),
    )
    stated_age_on = models.DateField(null=True, blank=True)
    sex = models.CharField(max_length=8, choices=Sex.choices, default=Sex.UNKNOWN)
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)
    city = models.CharField(max_length=80, blank=True)
    preferred_language = models.CharField(
        max_length=2, choices=Language.choices, default=Language.HEBREW
    )
    primary_condition = models.ForeignKey(
        Condition, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    condition_other = models.CharField(
        _("condition in the patient's words"),
        max_length=200,
        blank=True,
        help_text=_("What the lead wrote when the diagnosis was not in our list."),
    )
    other_conditions = models.ManyToManyField(Condition, blank=True, related_name="+")
    diagnosis_year = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1900)]
    )
    exclusions = models.TextField(
        blank=True,
        help_text=_(
            "Exclusions found in screening, one per line (e.g. active CNS lupus, pregnancy). "
            "Any recorded exclusion makes every candidate ineligible until removed."
        ),
    )
    notes = models.TextField(blank=True)
    erased_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the patient's identifying data was erased.")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PatientQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        indexes = [
            models.Index(fields=["last_name", "first_name"]),
            # The list filtered by condition, in its order: a page without sorting the
            # condition's patients first (30,000 with SLE at 100,000: 16 ms on SQLite).
            models.Index(
                fields=["primary_condition", "last_name", "first_name", "id"],
                name="patient_condition_list_idx",
            ),
            models.Index(fields=["phone"]),
            models.Index(fields=["email"]),
            # Duplicate checks on every intake: e-mail in any case, date of birth then names.
            models.Index(Lower("email"), name="patient_email_lower_idx"),
            models.Index(fields=["date_of_birth"], name="patient_birth_date_idx"),
        ]
        permissions = [
            ("export_patient_data", "Can export all data about a patient"),
            ("erase_patient", "Can erase (anonymise) a patient"),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def clean(self) -> None:
        today = timezone.localdate()
        if self.date_of_birth and self.date_of_birth > today:
            raise ValidationError({"date_of_birth": _("The date of birth is in the future.")})
        if self.diagnosis_year and self.diagnosis_year > today.year:
            raise ValidationError({"diagnosis_year": _("The diagnosis year is in the future.")})
        if (
            self.diagnosis_year
            and self.date_of_birth
            and self.diagnosis_year < self.date_of_birth.year
        ):
            raise ValidationError({"diagnosis_year": _("The diagnosis year is before birth.")})

    @property
    def age(self) -> int | None:
        """From the date of birth; failing that, the stated age plus the years since."""
        today = timezone.localdate()
        if self.date_of_birth is not None:
            return age_on(self.date_of_birth, today)
        if self.stated_age is not None and self.stated_age_on is not None:
            return self.stated_age + age_on(self.stated_age_on, today)
        return None

    @property
    def failed_line_count(self) -> int:
        """Lines that failed and contain at least one therapy that counts.

        Lists read it counted by the database (`with_failed_line_count()`); otherwise it is
        counted from `treatment_lines` and their therapies (prefetch
        `treatment_lines__therapies` so that this costs no query per patient).
        """
        counted = self.__dict__.get(FAILED_LINES_COUNTED)
        if counted is not None:
            return counted
        return sum(1 for line in self.treatment_lines.all() if line.counts_as_failed)

    @property
    def exclusion_list(self) -> list[str]:
        return [line.strip() for line in self.exclusions.splitlines() if line.strip()]


class PriorTreatmentLineQuerySet(models.QuerySet):
    def failed(self):
        """`counts_as_failed` in SQL: stopped for a failure, with a therapy that counts."""
        return self.filter(
            models.Exists(
                Therapy.objects.filter(
                    treatment_lines=models.OuterRef("pk"), counts_toward_failed_lines=True
                )
            ),
            reason_stopped__in=FAILURE_REASONS,
        )


# The annotation `with_failed_line_count()` puts on each row, read by `failed_line_count`.
FAILED_LINES_COUNTED = "failed_lines_counted"


def failed_line_count_sql(patient: str) -> Coalesce:
    """`failed_line_count` of each row of a list, counted by the database.

    `patient` leads from the row to its patient ("pk" on patients, "patient" on leads). A
    subquery per row reads the patient's few lines from their index: loading the page's lines
    instead cost a query and a model instance per line (1,000 on the board).
    """
    failed = (
        PriorTreatmentLine.objects.filter(patient=models.OuterRef(patient))
        .failed()
        .order_by()
        .values("patient")
        .annotate(n=models.Count("pk"))
        .values("n")
    )
    return Coalesce(models.Subquery(failed), 0)


class PriorTreatmentLine(QuickChoiceDisplay, models.Model):
    # Indexed by `line_failed_count_idx` and the line-number constraint, both led by the patient.
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="treatment_lines", db_index=False
    )
    line_number = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    therapies = models.ManyToManyField(Therapy, related_name="treatment_lines")
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    best_response = models.CharField(
        max_length=16, choices=BestResponse.choices, default=BestResponse.UNKNOWN
    )
    reason_stopped = models.CharField(
        max_length=24, choices=ReasonStopped.choices, default=ReasonStopped.UNKNOWN
    )
    notes = models.TextField(blank=True)

    objects = PriorTreatmentLineQuerySet.as_manager()
    history = HistoricalRecords(m2m_fields=[therapies])

    class Meta:
        ordering = ["patient", "line_number"]
        indexes = [
            # The lists' failed-line counts (one subquery per row) read a patient's lines and
            # their reason from this index alone, with no read of the table (400,000 lines at
            # 100,000 leads) for each line.
            models.Index(fields=["patient", "reason_stopped", "id"], name="line_failed_count_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "line_number"], name="treatment_line_number_unique"
            ),
            models.CheckConstraint(
                condition=Q(line_number__gte=1), name="treatment_line_number_positive"
            ),
            models.CheckConstraint(
                condition=Q(start_date__isnull=True)
                | Q(end_date__isnull=True)
                | Q(end_date__gte=models.F("start_date")),
                name="treatment_line_end_after_start",
                violation_error_message=_("A line cannot end before it starts."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient} · line {self.line_number}"

    def clean(self) -> None:
        today = timezone.localdate()
        errors = {}
        if self.start_date and self.start_date > today:
            errors["start_date"] = _("The start date is in the future.")
        if self.end_date and self.end_date > today:
            errors["end_date"] = _("The end date is in the future.")
        if self.start_date and self.end_date and self.end_date < self.start_date:
            errors["end_date"] = _("A line cannot end before it starts.")
        if errors:
            raise ValidationError(errors)

    @property
    def counts_as_failed(self) -> bool:
        """The single rule for a failed line.

        `PriorTreatmentLineQuerySet.failed()` is the same rule in SQL; when reading many lines
        here, prefetch `therapies`.
        """
        return counts_as_failed(
            self.reason_stopped,
            any(therapy.counts_toward_failed_lines for therapy in self.therapies.all()),
        )
