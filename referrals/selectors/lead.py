"""The lead page: the lead with everything it shows, and the rows its actions act on."""

from django.db.models import F, Prefetch

from referrals.models import (
    FollowUpVisit,
    LeadDocument,
    PriorTreatmentLine,
    Referral,
    ReferralEvent,
    ScreeningRecord,
    Task,
)
from referrals.selectors.common import TIMELINE_LIMIT, referral_with_patient
from trials.models import Program, Trial


def referral_for_lead_page(referral_id: int) -> Referral:
    """The lead with its patient, lines, target, tasks, screenings, documents and outcome.

    Raises Referral.DoesNotExist.
    """
    return (
        referral_with_patient()
        .prefetch_related(
            Prefetch("possible_duplicates", queryset=Referral.objects.select_related("patient")),
            Prefetch(
                "tasks",
                queryset=Task.objects.select_related("assignee").order_by(
                    F("done_at").asc(nulls_first=True), "due_on"
                ),
            ),
            Prefetch(
                "screenings",
                queryset=ScreeningRecord.objects.select_related("recorded_by"),
            ),
            Prefetch("documents", queryset=LeadDocument.objects.select_related("uploaded_by")),
            "treatment_outcome__visits",
        )
        .get(pk=referral_id)
    )


def lead_timeline(referral: Referral) -> list[ReferralEvent]:
    return list(referral.events.select_related("author")[:TIMELINE_LIMIT])


def lead_has_eligible_screening(referral: Referral) -> bool:
    return referral.screenings.filter(verdict="eligible").exists()


def lead_treatment_line(referral: Referral, line_id: int) -> PriorTreatmentLine | None:
    """One of the lead's patient's treatment lines, or None."""
    return PriorTreatmentLine.objects.filter(patient_id=referral.patient_id, pk=line_id).first()


def lead_task(referral: Referral, task_id: int) -> Task | None:
    return Task.objects.select_related("referral").filter(pk=task_id, referral=referral).first()


def lead_follow_up_visit(referral: Referral, visit_id: int) -> FollowUpVisit | None:
    return FollowUpVisit.objects.filter(pk=visit_id, outcome__referral=referral).first()


def lead_document(referral: Referral, document_id: int) -> LeadDocument | None:
    return LeadDocument.objects.filter(pk=document_id, referral=referral).first()


def screening_candidate(kind: str, candidate_id: int) -> Program | Trial | None:
    """The program or trial a coordinator picked on the lead page, if it still exists."""
    model = Program if kind == "program" else Trial
    return model.objects.filter(pk=candidate_id).first()
