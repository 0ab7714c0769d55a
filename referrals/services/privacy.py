"""Privacy: a patient's erasure, on request or at the end of retention."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from referrals.models import (
    ClinicalFact,
    CriterionOverride,
    FollowUpVisit,
    LeadDocument,
    Patient,
    PriorTreatmentLine,
    Referral,
    ReferralEvent,
    ReferralSnapshot,
    Task,
)
from referrals.services.common import ReferralError, _event
from referrals.vocabulary import NOTE_KINDS, EventKind

ERASED = "[erased]"


@transaction.atomic
def patient_erase(*, patient: Patient, by: AbstractBaseUser | None, reason: str) -> Patient:
    """Anonymise a patient on request or at the end of retention; nothing is deleted.

    Kept, for aggregate statistics and the pseudonymous screening log: the diagnosis, sex, the
    diagnosis year, treatment lines (therapies, dates, outcomes), clinical facts (not their
    notes), stages, dates, sources,
    screening verdicts, the CAR-T outcome and follow-up measures (not the visit notes), and each
    document's kind, type, size and date. Removed: names, contact details, date of birth, free
    text that may identify the person, the documents' files and file names (the files are
    deleted once the erasure commits), and the history rows that still hold the old values.
    """
    if not reason.strip():
        raise ReferralError("Say why the patient is erased (the request or the retention rule).")
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if patient.erased_at:
        raise ReferralError("This patient was already erased.")
    patient.first_name, patient.last_name = "Erased", f"patient #{patient.pk}"
    patient.date_of_birth = patient.stated_age_on = None
    patient.stated_age = None
    patient.phone = patient.email = patient.city = ""
    patient.notes = patient.exclusions = patient.condition_other = ""
    patient.erased_at = timezone.now()
    patient.save()
    patient.treatment_lines.update(notes="")
    patient.clinical_facts.update(note="")
    FollowUpVisit.objects.filter(outcome__referral__patient=patient).update(notes="")
    referrals = Referral.objects.filter(patient=patient)
    referrals.update(
        referring_physician_name="",
        referring_physician_contact="",
        submitter_name="",
        intake_message="",
        close_detail="",
        next_action="",
        consent_text="",
    )
    ReferralEvent.objects.filter(
        referral__patient=patient, kind__in=[*NOTE_KINDS, EventKind.DOCUMENTS_REQUESTED]
    ).update(body=ERASED)
    for snapshot in ReferralSnapshot.objects.filter(referral__patient=patient):
        snapshot.data = _erased_snapshot(snapshot.data)
        snapshot.save(update_fields=["data"])
    Task.objects.filter(referral__patient=patient).update(title=ERASED)
    CriterionOverride.objects.filter(referral__patient=patient).update(reason=ERASED)
    patient_documents = LeadDocument.objects.filter(referral__patient=patient)
    stored = [name for name in patient_documents.values_list("file", flat=True) if name]
    patient_documents.update(original_filename=ERASED, file="", sha256="")
    storage = LeadDocument._meta.get_field("file").storage

    def delete_files() -> None:
        for name in stored:
            storage.delete(name)

    transaction.on_commit(delete_files)
    # The audit history would otherwise keep every erased value.
    Patient.history.filter(id=patient.pk).delete()
    Referral.history.filter(patient_id=patient.pk).delete()
    PriorTreatmentLine.history.filter(patient_id=patient.pk).delete()
    ClinicalFact.history.filter(patient_id=patient.pk).delete()
    CriterionOverride.history.filter(referral__patient_id=patient.pk).delete()
    for referral in referrals:
        _event(referral, EventKind.NOTE, by, f"Patient data erased: {reason.strip()}")
    return patient


def _erased_snapshot(data: dict) -> dict:
    """A snapshot without the patient's identity or free text; the clinical summary stays."""
    patient = {
        **data.get("patient", {}),
        "name": f"{ERASED}",
        "first_name": ERASED,
        "last_name": ERASED,
        "date_of_birth": None,
        "age": None,
        "phone": "",
        "email": "",
        "city": "",
        "condition_other": "",
        "exclusions": [],
    }
    lines = [{**line, "notes": ""} for line in data.get("treatment_lines", [])]
    referral = {**data.get("referral", {}), "referring_physician": ""}
    documents = [{**d, "filename": ERASED} for d in data.get("documents", [])]
    return {
        **data,
        "patient": patient,
        "treatment_lines": lines,
        "referral": referral,
        "documents": documents,
    }
