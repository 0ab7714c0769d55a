"""What several of the pages' reads share: the coordinators, the first-contact deadline, a
coordinator's open-lead count, plain values for JSON, the fields a row shows, a whole lead."""

import datetime

from django.contrib.auth.models import User
from django.db.models import Count, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from referrals.models import ClinicalFact, CriterionOverride, PriorTreatmentLine, Referral
from referrals.pipeline import first_day_on_time
from referrals.vocabulary import OPEN_STAGES

TIMELINE_LIMIT = 200


def referral_with_patient() -> QuerySet[Referral]:
    """Leads with their patient, conditions, treatment lines (with their therapies), clinical
    facts, coordinator, target, outcome and criterion overrides: what the lead page and the
    hand-off both start from."""
    return Referral.objects.select_related(
        "patient__primary_condition",
        "assigned_to",
        "target_program__hospital",
        "target_trial",
        "treatment_outcome",
    ).prefetch_related(
        "patient__other_conditions",
        Prefetch(
            "patient__treatment_lines",
            queryset=PriorTreatmentLine.objects.prefetch_related("therapies").order_by(
                "line_number"
            ),
        ),
        Prefetch(
            "patient__clinical_facts",
            queryset=ClinicalFact.objects.select_related("recorded_by").order_by(
                "-observed_on", "-id"
            ),
        ),
        Prefetch(
            "criterion_overrides",
            queryset=CriterionOverride.objects.select_related("decided_by"),
        ),
    )


# The patient as a queue row or a board card shows it (`QUEUE_ROW`, `BOARD_CARD`).
# The condition shows as its name: its other columns (codes, synonyms, the translations as JSON)
# are neither read nor decoded.
PATIENT_NAME = ("patient__first_name", "patient__last_name", "patient__primary_condition__name")


def coordinators() -> QuerySet[User]:
    return User.objects.filter(is_active=True, groups__name="Coordinator").order_by(
        "first_name", "username"
    )


def _contact_overdue_before(today: datetime.date) -> datetime.datetime:
    """New leads received before this moment are overdue for first contact today."""
    start = datetime.datetime.combine(first_day_on_time(today), datetime.time.min)
    return timezone.make_aware(start, timezone.get_current_timezone())


def _open_leads_of(coordinator: OuterRef, *conditions: Q) -> Subquery:
    """How many open leads (matching `conditions`) a coordinator carries, read from the
    queue's (assigned_to, stage, …) index alone: the work is the coordinator's open leads, not
    every lead, and no lead row is read (the count is of a column the index holds)."""
    leads = (
        Referral.objects.filter(*conditions, assigned_to=coordinator, stage__in=OPEN_STAGES)
        .order_by()
        .values("assigned_to")
        .annotate(n=Count("assigned_to"))
        .values("n")
    )
    return Coalesce(Subquery(leads, output_field=IntegerField()), 0)


def _plain(instance, fields: list[str]) -> dict:
    values = {}
    for name in fields:
        value = getattr(instance, name)
        values[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return values
