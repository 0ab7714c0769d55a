"""Hand-off: the lead as the referral packet and the FHIR export read it."""

import datetime
from dataclasses import dataclass

from django.db.models import Prefetch
from django.utils import timezone

from referrals.eligibility import Evaluation
from referrals.models import LeadDocument, Patient, PriorTreatmentLine, Referral, ScreeningRecord
from referrals.selectors.common import referral_with_patient
from referrals.selectors.eligibility import current_facts, referral_evaluations
from trials.models import Program, Trial, TrialSite


@dataclass
class ReferralPacket:
    """Everything the referral letter says, read in a fixed number of queries."""

    referral: Referral
    patient: Patient
    lines: list[PriorTreatmentLine]
    failed_line_count: int
    facts: list[dict]  # the current clinical fact of each kind (`current_facts`)
    target: Program | Trial | None
    evaluation: Evaluation | None  # the target, evaluated now with the same engine
    recorded_check: ScreeningRecord | None  # the latest check of the target in the log
    required: list  # packet.RequiredDocument
    other_documents: list[LeadDocument]
    today: datetime.date


def referral_for_handoff(referral_id: int) -> Referral:
    """The lead with what a packet or a FHIR bundle needs; raises Referral.DoesNotExist."""
    return (
        referral_with_patient()
        .prefetch_related(
            Prefetch("screenings", queryset=ScreeningRecord.objects.select_related("recorded_by")),
            Prefetch("documents", queryset=LeadDocument.objects.order_by("uploaded_at", "id")),
            Prefetch(
                "target_trial__sites",
                queryset=TrialSite.objects.select_related("hospital").order_by("id"),
            ),
        )
        .get(pk=referral_id)
    )


def referral_packet(referral_id: int) -> ReferralPacket:
    from referrals import packet  # the module renders templates; selectors stay import-light

    referral = referral_for_handoff(referral_id)
    patient = referral.patient
    target = referral.target_program or referral.target_trial
    evaluation = recorded = None
    if target is not None:
        kind = "program" if referral.target_program_id else "trial"
        evaluation = next(
            (
                e
                for e in referral_evaluations(referral)
                if e.candidate.kind == kind and e.candidate.id == target.pk
            ),
            None,
        )
        recorded = next(
            (
                s
                for s in referral.screenings.all()
                if (s.program_id if kind == "program" else s.trial_id) == target.pk
            ),
            None,
        )
    names = referral.target_program.required_document_list if referral.target_program else []
    required, others = packet.required_documents(names, list(referral.documents.all()))
    return ReferralPacket(
        referral=referral,
        patient=patient,
        lines=list(patient.treatment_lines.all()),
        failed_line_count=patient.failed_line_count,
        facts=current_facts(patient, timezone.localdate()),
        target=target,
        evaluation=evaluation,
        recorded_check=recorded,
        required=required,
        other_documents=others,
        today=timezone.localdate(),
    )
