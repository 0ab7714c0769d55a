"""Every write to referrals: keyword-only, atomic, and leaving a timeline event behind; one
module per capability (see the README's "Where things live"). Re-exported here: what callers
outside this package use, so they write `services.referral_transition(...)`.

Services raise `ReferralError` for anything the domain refuses; views and admin actions turn it
into a message and nothing is written.
"""

from referrals.services.access_log import access_log_record
from referrals.services.common import ReferralConflict, ReferralError
from referrals.services.documents import document_upload
from referrals.services.facts import (
    clinical_fact_record,
    criterion_override_clear,
    criterion_override_set,
)
from referrals.services.follow_up import follow_up_visit_record, treatment_outcome_save
from referrals.services.handoff import referral_packet_send
from referrals.services.hospital import (
    coordinator_seen_mark,
    hospital_accept,
    hospital_confirm_receipt,
    hospital_decline,
    hospital_report_treatment,
    hospital_request_documents,
    hospital_set_dates,
)
from referrals.services.import_write import ImportedReferral, referral_import
from referrals.services.intake import IntakeSubmission, intake_submit
from referrals.services.leads import (
    referral_add_note,
    referral_assign,
    referral_create,
    referral_merge,
    referral_set_next_action,
    referral_set_target,
    referral_update,
)
from referrals.services.lines import treatment_line_save
from referrals.services.privacy import ERASED, patient_erase
from referrals.services.screening import screening_record
from referrals.services.transitions import referral_transition
from referrals.services.work_tasks import task_complete, task_create

__all__ = [
    "ERASED",
    "ImportedReferral",
    "IntakeSubmission",
    "ReferralConflict",
    "ReferralError",
    "access_log_record",
    "clinical_fact_record",
    "coordinator_seen_mark",
    "criterion_override_clear",
    "criterion_override_set",
    "document_upload",
    "follow_up_visit_record",
    "hospital_accept",
    "hospital_confirm_receipt",
    "hospital_decline",
    "hospital_report_treatment",
    "hospital_request_documents",
    "hospital_set_dates",
    "intake_submit",
    "patient_erase",
    "referral_add_note",
    "referral_assign",
    "referral_create",
    "referral_import",
    "referral_merge",
    "referral_packet_send",
    "referral_set_next_action",
    "referral_set_target",
    "referral_transition",
    "referral_update",
    "screening_record",
    "task_complete",
    "task_create",
    "treatment_line_save",
    "treatment_outcome_save",
]
