"""Dated clinical facts about a patient: scores, serology, labs, organ involvement, onset dates,
infection screens, pregnancy, history. One row per measurement; the newest of a kind is current.

What each kind is (unit, range, values, freshness) is `trials.clinical.FACTS`; a fact is never
deleted by cascade, and a correction is a new row or an edit kept in the history.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from carecrm.history import HistoricalRecords
from trials.clinical import (
    FACT_CHOICES,
    FACT_DECIMALS,
    FACTS,
    FactValueError,
    ValueType,
    parse_fact_value,
    value_display,
)


class FactSource(models.TextChoices):
    LETTER = "letter", _("Physician's letter")
    DOCUMENT = "document", _("Medical record or lab report")
    PHONE = "phone", _("Phone call")
    INTAKE = "intake", _("Intake form")


class ClinicalFact(models.Model):
    patient = models.ForeignKey(
        "referrals.Patient", on_delete=models.PROTECT, related_name="clinical_facts"
    )
    kind = models.CharField(max_length=32, choices=FACT_CHOICES)
    value_number = models.DecimalField(
        max_digits=9, decimal_places=FACT_DECIMALS, null=True, blank=True
    )
    value_text = models.CharField(max_length=32, blank=True)
    value_date = models.DateField(null=True, blank=True)
    observed_on = models.DateField(
        help_text=_("When it was measured or found (the lab's or the letter's date).")
    )
    source = models.CharField(max_length=16, choices=FactSource.choices)
    note = models.CharField(max_length=200, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-observed_on", "-id"]
        indexes = [
            models.Index(fields=["patient", "-observed_on", "-id"], name="fact_patient_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(value_number__isnull=False, value_text="", value_date__isnull=True)
                | Q(value_number__isnull=True, value_date__isnull=True) & ~Q(value_text="")
                | Q(value_number__isnull=True, value_text="", value_date__isnull=False),
                name="fact_has_one_value",
                violation_error_message=_("A fact holds one value: a number, a choice or a date."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value_label} ({self.observed_on:%d %b %Y})"

    @property
    def value(self):
        value_type = FACTS[self.kind].value_type
        if value_type == ValueType.NUMBER:
            return self.value_number
        if value_type == ValueType.DATE:
            return self.value_date
        return self.value_text

    @value.setter
    def value(self, value) -> None:
        value_type = FACTS[self.kind].value_type
        self.value_number = value if value_type == ValueType.NUMBER else None
        self.value_date = value if value_type == ValueType.DATE else None
        self.value_text = value if value_type in (ValueType.CHOICE, ValueType.YES_NO) else ""

    @property
    def value_label(self) -> str:
        return value_display(self.kind, self.value)

    def clean(self) -> None:
        today = timezone.localdate()
        errors = {}
        if self.observed_on and self.observed_on > today:
            errors["observed_on"] = _("The date is in the future.")
        if self.kind in FACTS:
            try:
                parse_fact_value(self.kind, self.value)
            except FactValueError as error:
                errors["value_number"] = str(error)
            if self.value_date and self.value_date > today:
                errors["value_date"] = _("The date is in the future.")
        if errors:
            raise ValidationError(errors)


class CriterionOverride(models.Model):
    """A coordinator's decision on one criterion of one candidate for a lead, with the reason:
    shown beside the criterion, on the timeline, and in the screening record, never silent."""

    class Decision(models.TextChoices):
        PASS = "pass", _("Passes")
        FAIL = "fail", _("Fails")

    referral = models.ForeignKey(
        "referrals.Referral", on_delete=models.PROTECT, related_name="criterion_overrides"
    )
    candidate_kind = models.CharField(max_length=8)
    candidate_id = models.PositiveIntegerField()
    criterion_key = models.CharField(max_length=32)
    criterion_name = models.CharField(max_length=200)
    result = models.CharField(max_length=4, choices=Decision.choices)
    reason = models.TextField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(default=timezone.now)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-decided_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["referral", "candidate_kind", "candidate_id", "criterion_key"],
                name="override_once_per_criterion",
            ),
            models.CheckConstraint(
                condition=~Q(reason=""),
                name="override_has_reason",
                violation_error_message=_("An override needs its reason."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.criterion_name}: {self.get_result_display()} (lead #{self.referral_id})"
