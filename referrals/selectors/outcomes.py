"""Outcomes after CAR-T: the dashboard's treatment and follow-up figures."""

from dataclasses import dataclass

from django.db.models import Count, Q

from referrals.models import TreatmentOutcome


@dataclass(frozen=True)
class OutcomeFigures:
    patients_treated: int  # patients with an infusion recorded
    infusions: int
    crs_assessed: int  # infusions with a CRS grade recorded
    crs_grade_2_plus: int
    six_month_assessed: int  # 6-month visits done with remission assessed
    six_month_remission: int  # of those, in drug-free remission

    @property
    def crs_grade_2_plus_rate(self) -> float | None:
        return self.crs_grade_2_plus / self.crs_assessed if self.crs_assessed else None

    @property
    def six_month_remission_rate(self) -> float | None:
        return (
            self.six_month_remission / self.six_month_assessed if self.six_month_assessed else None
        )


def dashboard_outcomes() -> OutcomeFigures:
    """Patients treated, drug-free remission at the 6-month visit, CRS ≥ grade 2: one query.

    Every infusion recorded to date counts. Outcome rows are joined to their visits, so the
    per-infusion counts are distinct; a 6-month visit counts once it is done and remission was
    assessed (yes or no).
    """
    six_months = Q(
        visits__month=6, visits__done_on__isnull=False, visits__drug_free_remission__isnull=False
    )
    figures = TreatmentOutcome.objects.aggregate(
        patients_treated=Count("referral__patient", distinct=True),
        infusions=Count("id", distinct=True),
        crs_assessed=Count("id", distinct=True, filter=Q(crs_grade__isnull=False)),
        crs_grade_2_plus=Count("id", distinct=True, filter=Q(crs_grade__gte=2)),
        six_month_assessed=Count("visits", filter=six_months),
        six_month_remission=Count(
            "visits", filter=six_months & Q(visits__drug_free_remission=True)
        ),
    )
    return OutcomeFigures(**figures)
