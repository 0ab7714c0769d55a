"""After treatment: the CAR-T infusion's outcome and the follow-up visits."""

import calendar
import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from referrals.models.referrals import Referral, Task
from referrals.vocabulary import FOLLOW_UP_MONTHS, GRADE_CHOICES, GRADE_MAX, MEASURES


def add_months(day: datetime.date, months: int) -> datetime.date:
    """The same day `months` later, or the month's last day if shorter (31 Jan + 1 → 28 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return datetime.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _grade_constraint(field: str, label: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{field}__isnull": True})
        | Q(**{f"{field}__gte": 0, f"{field}__lte": GRADE_MAX}),
        name=f"treatment_outcome_{field}_0_to_4",
        violation_error_message=f"The {label} grade is 0 to {GRADE_MAX} (ASTCT).",
    )


class TreatmentOutcome(models.Model):
    """The CAR-T infusion of a treated lead and what followed it: toxicity, infections, relapse.

    Written only through `services.treatment_outcome_save`, which refuses it before the lead is
    treated and creates the four follow-up visits (1, 3, 6 and 12 months) with a task for each.
    """

    referral = models.OneToOneField(
        Referral, on_delete=models.PROTECT, related_name="treatment_outcome"
    )
    infusion_date = models.DateField()
    product = models.CharField(
        max_length=200, help_text=_("The CAR-T product infused, e.g. the program's CD19 CAR-T.")
    )
    crs_grade = models.PositiveSmallIntegerField(
        _("CRS grade"),
        choices=GRADE_CHOICES,
        null=True,
        blank=True,
        help_text=_("Cytokine release syndrome, ASTCT grade 0–4; blank until assessed."),
    )
    icans_grade = models.PositiveSmallIntegerField(
        _("ICANS grade"),
        choices=GRADE_CHOICES,
        null=True,
        blank=True,
        help_text=_("Neurotoxicity (ICANS), ASTCT grade 0–4; blank until assessed."),
    )
    infections = models.TextField(blank=True, help_text=_("Infections after the infusion."))
    relapse = models.BooleanField(default=False)
    relapse_date = models.DateField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            _grade_constraint("crs_grade", "CRS"),
            _grade_constraint("icans_grade", "ICANS"),
            models.CheckConstraint(
                condition=Q(relapse=True, relapse_date__isnull=False)
                | Q(relapse=False, relapse_date__isnull=True),
                name="treatment_outcome_relapse_has_date",
                violation_error_message=_("A relapse needs its date, and only a relapse has one."),
            ),
            models.CheckConstraint(
                condition=Q(relapse_date__isnull=True)
                | Q(relapse_date__gte=models.F("infusion_date")),
                name="treatment_outcome_relapse_after_infusion",
                violation_error_message=_("A relapse cannot come before the infusion."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product} on {self.infusion_date:%d %b %Y}"


class FollowUpVisit(models.Model):
    """One scheduled follow-up after the infusion (1, 3, 6 or 12 months), done or still due."""

    outcome = models.ForeignKey(TreatmentOutcome, on_delete=models.PROTECT, related_name="visits")
    month = models.PositiveSmallIntegerField(choices=[(m, f"{m} months") for m in FOLLOW_UP_MONTHS])
    due_on = models.DateField(help_text=_("The infusion date plus the visit's months."))
    done_on = models.DateField(null=True, blank=True)
    sledai_2k = models.PositiveSmallIntegerField(
        "SLEDAI-2K",
        null=True,
        blank=True,
        validators=[MaxValueValidator(MEASURES["sledai_2k"].high)],
    )
    das28 = models.DecimalField(
        "DAS28",
        max_digits=4,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(MEASURES["das28"].high)],
    )
    mrss = models.PositiveSmallIntegerField(
        "mRSS", null=True, blank=True, validators=[MaxValueValidator(MEASURES["mrss"].high)]
    )
    mg_adl = models.PositiveSmallIntegerField(
        "MG-ADL", null=True, blank=True, validators=[MaxValueValidator(MEASURES["mg_adl"].high)]
    )
    drug_free_remission = models.BooleanField(
        null=True,
        blank=True,
        help_text=_("In remission without immunosuppression at this visit; blank if unknown."),
    )
    notes = models.TextField(blank=True)
    task = models.OneToOneField(
        Task, on_delete=models.SET_NULL, null=True, blank=True, related_name="follow_up_visit"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["outcome", "month"]
        constraints = [
            models.UniqueConstraint(fields=["outcome", "month"], name="follow_up_visit_unique"),
            models.CheckConstraint(
                condition=Q(month__in=FOLLOW_UP_MONTHS), name="follow_up_visit_month_1_3_6_12"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.month}-month follow-up"

    @property
    def is_done(self) -> bool:
        return self.done_on is not None

    @property
    def measures(self) -> list[tuple[str, object]]:
        """The disease activity measures recorded at this visit, as (label, value)."""
        return [
            (self._meta.get_field(name).verbose_name, getattr(self, name))
            for name in ("sledai_2k", "das28", "mrss", "mg_adl")
            if getattr(self, name) is not None
        ]
