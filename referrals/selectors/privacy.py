"""Privacy: everything held about one patient (the subject access export) and the patients
due for erasure."""

import datetime

from django.db.models import Prefetch, QuerySet

from referrals.models import Patient, PriorTreatmentLine, Referral, ReferralEvent
from referrals.selectors.common import _plain
from referrals.vocabulary import OPEN_STAGES


def patient_data_export(patient_id: int) -> dict:
    """Everything CareCRM holds about one patient, as plain JSON-ready data (GDPR art. 15)."""
    patient = (
        Patient.objects.select_related("primary_condition")
        .prefetch_related(
            "other_conditions",
            Prefetch(
                "treatment_lines", queryset=PriorTreatmentLine.objects.prefetch_related("therapies")
            ),
            "clinical_facts",
            Prefetch(
                "referrals",
                queryset=Referral.objects.select_related(
                    "assigned_to", "target_program__hospital", "target_trial", "treatment_outcome"
                ).prefetch_related(
                    Prefetch("events", queryset=ReferralEvent.objects.select_related("author")),
                    "screenings",
                    "criterion_overrides",
                    "tasks",
                    "documents",
                    "treatment_outcome__visits",
                    "snapshots",
                ),
            ),
        )
        .get(pk=patient_id)
    )
    return {
        "patient": {
            **_plain(
                patient,
                [
                    "id",
                    "first_name",
                    "last_name",
                    "date_of_birth",
                    "stated_age",
                    "sex",
                    "phone",
                    "email",
                    "city",
                    "preferred_language",
                    "condition_other",
                    "diagnosis_year",
                    "exclusions",
                    "notes",
                    "created_at",
                    "erased_at",
                ],
            ),
            "primary_condition": str(patient.primary_condition or "") or None,
            "other_conditions": [str(c) for c in patient.other_conditions.all()],
        },
        "treatment_lines": [
            {
                **_plain(
                    line,
                    [
                        "line_number",
                        "start_date",
                        "end_date",
                        "best_response",
                        "reason_stopped",
                        "notes",
                    ],
                ),
                "therapies": [t.name for t in line.therapies.all()],
            }
            for line in patient.treatment_lines.all()
        ],
        "clinical_facts": [
            {
                "kind": fact.kind,
                "value": fact.value_label,
                "observed_on": fact.observed_on.isoformat(),
                "source": fact.source,
                "note": fact.note,
            }
            for fact in patient.clinical_facts.all()
        ],
        "referrals": [
            {
                **_plain(
                    referral,
                    [
                        "id",
                        "source",
                        "stage",
                        "close_reason",
                        "close_detail",
                        "screen_failure_criterion",
                        "referring_physician_name",
                        "referring_physician_contact",
                        "submitter_role",
                        "submitter_name",
                        "contact_channel",
                        "intake_message",
                        "consent_version",
                        "consent_text",
                        "consented_at",
                        "infusion_date",
                        "created_at",
                        "referred_at",
                        "receipt_confirmed_at",
                        "hospital_decision_at",
                        "hospital_decline_reason",
                        "consult_date",
                        "apheresis_date",
                    ],
                ),
                "coordinator": str(referral.assigned_to or "") or None,
                "target": str(referral.target_program or referral.target_trial or "") or None,
                "timeline": [
                    {
                        **_plain(e, ["created_at", "kind", "from_stage", "to_stage", "body"]),
                        "author": str(e.author or ""),
                    }
                    for e in referral.events.all()
                ],
                "screenings": [
                    _plain(s, ["recorded_at", "candidate_name", "verdict", "criteria"])
                    for s in referral.screenings.all()
                ],
                "tasks": [_plain(t, ["title", "due_on", "done_at"]) for t in referral.tasks.all()],
                "criterion_overrides": [
                    _plain(
                        o,
                        ["decided_at", "candidate_kind", "criterion_name", "result", "reason"],
                    )
                    for o in referral.criterion_overrides.all()
                ],
                # What was received and when; the files themselves are downloaded from the lead.
                "documents": [
                    _plain(d, ["uploaded_at", "kind", "original_filename", "content_type", "size"])
                    for d in referral.documents.all()
                ],
                "treatment_outcome": _outcome_export(referral),
                # What each hospital was sent, as it was sent.
                "sent_to_hospital": [
                    {**_plain(snapshot, ["taken_at"]), "packet": snapshot.data}
                    for snapshot in referral.snapshots.all()
                ],
            }
            for referral in patient.referrals.all()
        ],
    }


def _outcome_export(referral: Referral) -> dict | None:
    outcome = getattr(referral, "treatment_outcome", None)
    if outcome is None:
        return None
    return {
        **_plain(
            outcome,
            [
                "infusion_date",
                "product",
                "crs_grade",
                "icans_grade",
                "infections",
                "relapse",
                "relapse_date",
            ],
        ),
        "follow_up_visits": [
            {
                **_plain(
                    visit,
                    ["month", "due_on", "done_on", "sledai_2k", "mrss", "mg_adl"],
                ),
                "das28": str(visit.das28) if visit.das28 is not None else None,
                **_plain(visit, ["drug_free_remission", "notes"]),
            }
            for visit in outcome.visits.all()
        ],
    }


def closed_leads_past_retention(cutoff: datetime.datetime) -> QuerySet[Patient]:
    """Patients not yet erased whose every lead is closed and was closed before `cutoff`."""
    return (
        Patient.objects.filter(erased_at__isnull=True, referrals__isnull=False)
        .exclude(referrals__stage__in=OPEN_STAGES)
        .exclude(referrals__stage_changed_at__gte=cutoff)
        .distinct()
    )
