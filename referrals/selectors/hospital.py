"""The hospital side: what a hospital is sent, the liaison's pages and the dashboard's
hospital panel.

Which referrals a liaison may see is decided in `referrals.access`.
"""

import datetime
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import (
    Case,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.expressions import Window
from django.db.models.functions import RowNumber, TruncDate
from django.utils import timezone

from referrals.access import referrals_visible_to
from referrals.models import (
    LeadDocument,
    Referral,
    ReferralEvent,
    ReferralSnapshot,
    ScreeningRecord,
)
from referrals.selectors.common import TIMELINE_LIMIT, _plain
from referrals.selectors.dashboard import Period
from referrals.selectors.eligibility import current_facts, patient_for_eligibility
from referrals.vocabulary import (
    AWAITING_DECISION,
    HOSPITAL_OPEN_STAGES,
    EventKind,
    HospitalSide,
    Stage,
)

HOSPITAL_PAGE_SIZE = 50


def referral_snapshot_data(referral: Referral) -> dict:
    """What the hospital is sent: the patient, lines, failed-line count and the latest
    eligibility check for the target, as plain JSON (the `ReferralSnapshot`)."""
    patient = patient_for_eligibility(referral.patient_id)
    lines = sorted(patient.treatment_lines.all(), key=lambda line: line.line_number)
    program, trial = referral.target_program, referral.target_trial
    checks = ScreeningRecord.objects.filter(referral=referral).select_related("recorded_by")
    check = (checks.filter(program=program) if program else checks.filter(trial=trial)).first()
    coordinator = referral.assigned_to
    iso = _plain
    return {
        "referral": {
            "id": referral.pk,
            "received": referral.created_at.isoformat(),
            "source": referral.get_source_display(),
            "referring_physician": referral.referring_physician_name,
        },
        "target": {
            "kind": "program" if program else "trial",
            "name": str(program or trial or ""),
            "hospital": program.hospital.name if program else "",
        },
        "coordinator": {
            "name": (coordinator.get_full_name() or coordinator.get_username())
            if coordinator
            else "",
            "email": coordinator.email if coordinator else "",
        },
        "patient": {
            "name": str(patient),
            **iso(patient, ["first_name", "last_name", "date_of_birth", "phone", "email"]),
            "age": patient.age,
            "sex": patient.get_sex_display(),
            "city": patient.city,
            "preferred_language": patient.get_preferred_language_display(),
            "primary_condition": str(patient.primary_condition or ""),
            "condition_other": patient.condition_other,
            "other_conditions": [
                str(c) for c in patient.other_conditions.all() if c != patient.primary_condition
            ],
            "diagnosis_year": patient.diagnosis_year,
            "exclusions": patient.exclusion_list,
        },
        "failed_line_count": patient.failed_line_count,
        "treatment_lines": [
            {
                **iso(line, ["line_number", "start_date", "end_date", "notes"]),
                "regimen": [therapy.name for therapy in line.therapies.all()],
                "best_response": line.get_best_response_display(),
                "reason_stopped": line.get_reason_stopped_display(),
                "counts_as_failed": line.counts_as_failed,
            }
            for line in lines
        ],
        "clinical_facts": [
            {
                "label": row["fact"].get_kind_display(),
                "value": row["fact"].value_label,
                "observed_on": row["fact"].observed_on.isoformat(),
                "source": row["fact"].get_source_display(),
                "too_old": row["stale"],
            }
            for row in current_facts(patient, timezone.localdate())
        ],
        "eligibility": {
            "candidate_name": check.candidate_name,
            "verdict": check.verdict,
            "verdict_label": check.get_verdict_display(),
            "criteria": check.criteria,
            "recorded_at": check.recorded_at.isoformat(),
            "recorded_by": str(check.recorded_by or ""),
        }
        if check
        else None,
        "documents": [
            {"kind": document.get_kind_display(), "filename": document.original_filename}
            for document in referral.documents.all()
        ],
    }


def sent_snapshot(referral: Referral) -> ReferralSnapshot | None:
    """The snapshot sent to the lead's current target, from `referral.sent_snapshots`."""
    return next(
        (s for s in referral.sent_snapshots if s.program_id == referral.target_program_id), None
    )


SENT_SNAPSHOTS = Prefetch(
    "snapshots",
    queryset=ReferralSnapshot.objects.order_by("-taken_at", "-id"),
    to_attr="sent_snapshots",
)


@dataclass(frozen=True)
class HospitalFilters:
    search: str = ""
    show: str = "open"  # open, closed or all


def liaison_referrals(
    user: AbstractBaseUser, filters: HospitalFilters, page: int = 1
) -> list[Referral]:
    """The liaison's referrals: awaiting a decision first (longest waiting first), then the
    rest by referral date. Two queries: the page of referrals and their snapshots."""
    leads = referrals_visible_to(user).select_related("target_program__hospital", "assigned_to")
    if filters.show == "open":
        leads = leads.filter(stage__in=HOSPITAL_OPEN_STAGES)
    elif filters.show == "closed":
        leads = leads.exclude(stage__in=HOSPITAL_OPEN_STAGES)
    search = filters.search.strip().lstrip("#")
    if search.isdecimal():
        leads = leads.filter(pk=int(search))
    elif search:
        leads = leads.matching(search)
    awaiting = Case(
        When(hospital_side__in=AWAITING_DECISION, then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    )
    offset = (page - 1) * HOSPITAL_PAGE_SIZE
    ordered = leads.annotate(awaiting=awaiting).order_by(
        "awaiting",
        Case(When(awaiting=0, then=F("referred_at"))).asc(nulls_last=True),
        F("referred_at").desc(),
        "-id",
    )
    return list(ordered.prefetch_related(SENT_SNAPSHOTS)[offset : offset + HOSPITAL_PAGE_SIZE + 1])


HOSPITAL_EVENT_KINDS = (
    EventKind.STAGE_CHANGE,
    EventKind.RECEIPT_CONFIRMED,
    EventKind.DOCUMENTS_REQUESTED,
    EventKind.HOSPITAL_DATES,
    EventKind.DOCUMENT_RECEIVED,
)


def referral_for_liaison_page(referral: Referral) -> Referral:
    """The referral (already scoped) with its snapshots, documents and the hospital timeline:
    what happened since it was sent, without the coordinator's own notes and calls."""
    referral = (
        Referral.objects.select_related("target_program__hospital", "assigned_to")
        .prefetch_related(
            SENT_SNAPSHOTS,
            Prefetch("documents", queryset=LeadDocument.objects.order_by("-uploaded_at", "-id")),
        )
        .get(pk=referral.pk)
    )
    referral.hospital_timeline = list(
        referral.events.filter(kind__in=HOSPITAL_EVENT_KINDS, created_at__gte=referral.referred_at)
        .select_related("author")
        .order_by("-created_at", "-id")[:TIMELINE_LIMIT]
    )
    return referral


def hospital_open_counts(user: AbstractBaseUser) -> dict[str, int]:
    """The liaison's open referrals by what they wait for: one query."""
    return referrals_visible_to(user).aggregate(
        awaiting_receipt=Count("id", filter=Q(hospital_side=HospitalSide.SENT)),
        awaiting_decision=Count("id", filter=Q(hospital_side__in=AWAITING_DECISION)),
        accepted=Count("id", filter=Q(hospital_side=HospitalSide.ACCEPTED)),
        scheduled=Count("id", filter=Q(hospital_side=HospitalSide.SCHEDULED)),
    )


# The hospital's milestones, each as days after the referral: receipt confirmed, decision
# (accepted or declined), consult (once its date has passed), infusion (treated leads only).
HOSPITAL_MILESTONES = ("receipt confirmed", "hospital decision", "consult", "infusion")


@dataclass
class HospitalSideRow:
    hospital: str
    program: str  # "" for the hospital's total row
    referred: int
    treated: int
    median_days: list[int | None]

    @property
    def treated_share(self) -> float | None:
        return self.treated / self.referred if self.referred else None


def _days_after_referral(today: datetime.date) -> list:
    referred_on = TruncDate("referred_at")
    treated = Exists(
        ReferralEvent.objects.filter(
            referral=OuterRef("pk"), kind=EventKind.STAGE_CHANGE, to_stage=Stage.TREATED
        )
    )

    def days(end, condition: Q | None = None):
        wait = ExpressionWrapper(end - referred_on, output_field=DurationField())
        if condition is None:
            return wait
        return Case(When(condition, then=wait), output_field=DurationField())

    return [
        days(TruncDate("receipt_confirmed_at")),
        days(TruncDate("hospital_decision_at")),
        days(F("consult_date"), Q(consult_date__lte=today)),
        days(F("infusion_date"), Q(treated)),
    ]


def _hospital_side_leads(period: Period, hospital_id: int | None) -> QuerySet[Referral]:
    leads = Referral.objects.filter(
        target_program__isnull=False,
        referred_at__gte=period.start,
        referred_at__lt=period.end,
    )
    if hospital_id is not None:
        leads = leads.filter(target_program__hospital_id=hospital_id)
    return leads


def _group_medians(leads: QuerySet[Referral], group: str, today: datetime.date) -> dict:
    """{group id: [median days per milestone]}, nearest-rank, in one windowed query.

    Each milestone's waits are numbered within the group (nulls last) and counted; the rows
    holding a median (row number = ceil(count / 2)) are the only ones returned.
    """
    waits = _days_after_referral(today)
    annotated = leads.annotate(
        **{f"wait_{i}": wait for i, wait in enumerate(waits)},
    )
    windows = {}
    for i in range(len(waits)):
        windows[f"rank_{i}"] = Window(
            RowNumber(),
            partition_by=[F(group)],
            order_by=[F(f"wait_{i}").asc(nulls_last=True), F("id").asc()],
        )
        windows[f"count_{i}"] = Window(Count(f"wait_{i}"), partition_by=[F(group)])
    annotated = annotated.annotate(**windows)
    is_median = Q()
    for i in range(len(waits)):
        is_median |= Q(**{f"rank_{i}": (F(f"count_{i}") + 1) / 2})
    rows = annotated.filter(is_median).values(
        group,
        *(f"wait_{i}" for i in range(len(waits))),
        *(f"rank_{i}" for i in range(len(waits))),
        *(f"count_{i}" for i in range(len(waits))),
    )
    medians: dict = {}
    for row in rows:
        found = medians.setdefault(row[group], [None] * len(waits))
        for i in range(len(waits)):
            if row[f"count_{i}"] and row[f"rank_{i}"] == (row[f"count_{i}"] + 1) // 2:
                found[i] = row[f"wait_{i}"].days
    return medians


def dashboard_hospital_side(
    period: Period, today: datetime.date, hospital_id: int | None = None
) -> list[HospitalSideRow]:
    """Per hospital (a total row) and program: leads referred in the period, how many were
    treated, and the median days from referral to each hospital milestone. Three queries."""
    leads = _hospital_side_leads(period, hospital_id)
    treated = Exists(
        ReferralEvent.objects.filter(
            referral=OuterRef("pk"), kind=EventKind.STAGE_CHANGE, to_stage=Stage.TREATED
        )
    )
    counts = (
        leads.values(
            "target_program_id",
            "target_program__name",
            "target_program__hospital_id",
            "target_program__hospital__name",
        )
        .annotate(referred=Count("id"), treated=Count("id", filter=Q(treated)))
        .order_by("target_program__hospital__name", "target_program__name")
    )
    by_program = _group_medians(leads, "target_program_id", today)
    by_hospital = _group_medians(leads, "target_program__hospital_id", today)
    rows: list[HospitalSideRow] = []
    totals: dict[int, HospitalSideRow] = {}
    for count in counts:
        hospital_id_ = count["target_program__hospital_id"]
        total = totals.get(hospital_id_)
        if total is None:
            total = totals[hospital_id_] = HospitalSideRow(
                hospital=count["target_program__hospital__name"],
                program="",
                referred=0,
                treated=0,
                median_days=by_hospital.get(hospital_id_, [None] * len(HOSPITAL_MILESTONES)),
            )
            rows.append(total)
        total.referred += count["referred"]
        total.treated += count["treated"]
        rows.append(
            HospitalSideRow(
                hospital=count["target_program__hospital__name"],
                program=count["target_program__name"],
                referred=count["referred"],
                treated=count["treated"],
                median_days=by_program.get(
                    count["target_program_id"], [None] * len(HOSPITAL_MILESTONES)
                ),
            )
        )
    return rows
