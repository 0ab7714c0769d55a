"""One referral as a FHIR R4 Bundle: Patient, Condition, MedicationStatements, ServiceRequest,
Organization.

Built and validated with the `fhir.resources` models of the R4 line (`fhir.resources.R4B`,
FHIR 4.3, which leaves these five resources as R4 defined them; no element beyond R4 is used).
Every resource has a stable `urn:uuid:` full URL derived from its primary key, so exporting the
same referral twice gives the same identities, and every reference points inside the bundle.
Stored text goes in cleaned (`_conforming`), as FHIR's strings allow it.
"""

import uuid

from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle

from carecrm.text import one_line
from referrals.exports import pseudonymous_id
from referrals.models import PriorTreatmentLine, Referral
from referrals.selectors.eligibility import current_facts
from referrals.vocabulary import ReasonStopped, Sex, Stage
from trials.clinical import FACTS, FactGroup

NAMESPACE = uuid.UUID("6f0b9a3e-3c1d-4d8e-9a43-0c9d5e1b7a21")
IDENTIFIER_SYSTEM = "urn:carecrm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
SNOMED = "http://snomed.info/sct"
GENDER = {Sex.FEMALE: "female", Sex.MALE: "male", Sex.OTHER: "other", Sex.UNKNOWN: "unknown"}


def _urn(kind: str, key) -> str:
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'carecrm:{kind}:{key}')}"


def _ref(url: str, display: str = "") -> dict:
    return {"reference": url, **({"display": display} if display else {})}


def _conforming(value):
    """`value` with every string cleaned (FHIR forbids control characters in strings; bidi and
    invisible ones would spoof a name at the hospital) and without the strings, lists and
    objects left empty, which FHIR forbids too: a name typed as invisible characters only, or
    written before the forms cleaned text, must not make the export fail."""
    if isinstance(value, str):
        return one_line(value)
    if isinstance(value, dict):
        items = ((key, _conforming(item)) for key, item in value.items())
        return {key: item for key, item in items if item not in ("", [], {})}
    if isinstance(value, list):
        return [item for item in map(_conforming, value) if item not in ("", [], {})]
    return value


def _patient(referral: Referral) -> dict:
    patient = referral.patient
    resource = {
        "resourceType": "Patient",
        "identifier": [
            {"system": f"{IDENTIFIER_SYSTEM}:patient", "value": pseudonymous_id(patient.pk)}
        ],
        "name": [{"family": patient.last_name, "given": [patient.first_name]}],
        "gender": GENDER.get(patient.sex, "unknown"),
        "communication": [
            {
                "language": {
                    "coding": [{"system": "urn:ietf:bcp:47", "code": patient.preferred_language}],
                    "text": patient.get_preferred_language_display(),
                },
                "preferred": True,
            }
        ],
    }
    if patient.date_of_birth:
        resource["birthDate"] = patient.date_of_birth.isoformat()
    telecom = []
    if patient.phone:
        telecom.append({"system": "phone", "value": patient.phone})
    if patient.email:
        telecom.append({"system": "email", "value": patient.email})
    if telecom:
        resource["telecom"] = telecom
    if patient.city:
        resource["address"] = [{"city": patient.city, "country": "IL"}]
    return resource


def _condition(referral: Referral, patient_url: str) -> dict | None:
    patient = referral.patient
    condition = patient.primary_condition
    if condition is None and not patient.condition_other:
        return None
    if condition is not None:
        codes = [c.strip() for c in condition.icd10_codes.split(",") if c.strip()]
        code = {
            "coding": [{"system": ICD10, "code": c, "display": condition.name} for c in codes],
            "text": condition.name,
        }
        if not codes:
            del code["coding"]
    else:
        code = {"text": patient.condition_other}
    resource = {
        "resourceType": "Condition",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "code": code,
        "subject": _ref(patient_url),
    }
    if patient.diagnosis_year:
        resource["onsetDateTime"] = str(patient.diagnosis_year)
    measures = [
        f"{row['fact'].get_kind_display()} {row['fact'].value_label} "
        f"({row['fact'].observed_on:%d %b %Y})"
        for row in current_facts(patient, timezone.localdate())
        if FACTS[row["fact"].kind].group == FactGroup.ACTIVITY
    ]
    if measures:
        resource["note"] = [{"text": "Disease activity at referral: " + ", ".join(measures)}]
    return resource


def _statement_status(line: PriorTreatmentLine) -> str:
    if line.reason_stopped == ReasonStopped.ONGOING:
        return "active"
    if line.reason_stopped == ReasonStopped.UNKNOWN and not line.end_date:
        return "unknown"
    return "stopped" if line.reason_stopped != ReasonStopped.REMISSION else "completed"


def _medication_statements(
    referral: Referral, patient_url: str, condition_url: str | None
) -> list[tuple[str, dict]]:
    """One MedicationStatement per therapy of each prior treatment line."""
    statements = []
    for line in referral.patient.treatment_lines.all():
        for therapy in line.therapies.all():
            resource = {
                "resourceType": "MedicationStatement",
                "identifier": [
                    {
                        "system": f"{IDENTIFIER_SYSTEM}:treatment-line",
                        "value": f"{line.pk}-{therapy.pk}",
                    }
                ],
                "status": _statement_status(line),
                "medicationCodeableConcept": {"text": therapy.name},
                "subject": _ref(patient_url),
                "note": [
                    {
                        "text": f"Prior treatment line {line.line_number}; best response: "
                        f"{line.get_best_response_display().lower()}; "
                        + ("counts" if line.counts_as_failed else "does not count")
                        + " as a failed line."
                    }
                ],
            }
            if line.reason_stopped not in (ReasonStopped.ONGOING, ReasonStopped.UNKNOWN):
                resource["statusReason"] = [{"text": line.get_reason_stopped_display()}]
            period = {}
            if line.start_date:
                period["start"] = line.start_date.isoformat()
            if line.end_date:
                period["end"] = line.end_date.isoformat()
            if period:
                resource["effectivePeriod"] = period
            if condition_url:
                resource["reasonReference"] = [_ref(condition_url)]
            statements.append((_urn("line-therapy", f"{line.pk}-{therapy.pk}"), resource))
    return statements


def _hospital(referral: Referral):
    if referral.target_program_id:
        return referral.target_program.hospital
    if referral.target_trial_id:
        return next(
            (site.hospital for site in referral.target_trial.sites.all() if site.hospital_id),
            None,
        )
    return None


def _organization(hospital) -> dict:
    resource = {
        "resourceType": "Organization",
        "identifier": [{"system": f"{IDENTIFIER_SYSTEM}:hospital", "value": str(hospital.pk)}],
        "active": True,
        "type": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                        "code": "prov",
                        "display": "Healthcare Provider",
                    }
                ]
            }
        ],
        "name": hospital.name,
        "address": [{"city": hospital.city, "country": hospital.country}],
    }
    telecom = [
        {"system": system, "value": value}
        for system, value in (
            ("phone", hospital.phone),
            ("email", hospital.email),
            ("url", hospital.website),
        )
        if value
    ]
    if telecom:
        resource["telecom"] = telecom
    return resource


def _request_status(referral: Referral) -> str:
    if referral.stage == Stage.CLOSED:
        return "revoked"
    if referral.stage in (Stage.TREATED, Stage.FOLLOW_UP):
        return "completed"
    if referral.stage in (Stage.REFERRED, Stage.ACCEPTED, Stage.SCHEDULED):
        return "active"
    return "draft"


def _service_request(
    referral: Referral,
    patient_url: str,
    condition_url: str | None,
    organization_url: str | None,
    statement_urls: list[str],
) -> dict:
    target = referral.target_program or referral.target_trial
    resource = {
        "resourceType": "ServiceRequest",
        "identifier": [{"system": f"{IDENTIFIER_SYSTEM}:referral", "value": str(referral.pk)}],
        "status": _request_status(referral),
        "intent": "order",
        "category": [
            {"coding": [{"system": SNOMED, "code": "3457005", "display": "Patient referral"}]}
        ],
        "code": {"text": "Evaluation for CAR-T cell therapy"},
        "subject": _ref(patient_url),
        "authoredOn": referral.created_at.isoformat(),
        "priority": "urgent" if referral.priority >= 4 else "routine",
    }
    if referral.assigned_to:
        coordinator = referral.assigned_to
        resource["requester"] = {
            "display": f"{coordinator.get_full_name() or coordinator.get_username()} "
            "(CareCRM referral coordinator)"
        }
    if organization_url:
        resource["performer"] = [_ref(organization_url)]
    if condition_url:
        resource["reasonReference"] = [_ref(condition_url)]
    if statement_urls:
        resource["supportingInfo"] = [_ref(url) for url in statement_urls]
    notes = []
    if target is not None:
        notes.append(f"Target: {target}")
    if referral.target_trial_id:
        notes.append(f"Trial {referral.target_trial.nct_id}")
    if notes:
        resource["note"] = [{"text": "; ".join(notes)}]
    return resource


def referral_bundle(referral: Referral) -> Bundle:
    """The referral as a validated FHIR Bundle (type "collection").

    Expects the lead loaded by `selectors.referral_for_handoff`; raises pydantic's
    ValidationError if a resource does not conform (a bug, never the user's input).
    """
    patient_url = _urn("patient", referral.patient_id)
    entries = [(patient_url, _patient(referral))]
    condition = _condition(referral, patient_url)
    condition_url = _urn("condition", referral.patient_id) if condition else None
    if condition:
        entries.append((condition_url, condition))
    statements = _medication_statements(referral, patient_url, condition_url)
    entries += statements
    hospital = _hospital(referral)
    organization_url = _urn("hospital", hospital.pk) if hospital else None
    if hospital:
        entries.append((organization_url, _organization(hospital)))
    entries.append(
        (
            _urn("referral", referral.pk),
            _service_request(
                referral,
                patient_url,
                condition_url,
                organization_url,
                [url for url, _ in statements],
            ),
        )
    )
    return Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "identifier": {
                "system": f"{IDENTIFIER_SYSTEM}:export",
                "value": f"referral-{referral.pk}",
            },
            "type": "collection",
            "timestamp": timezone.now().isoformat(),
            "entry": [
                {"fullUrl": url, "resource": _conforming(resource)} for url, resource in entries
            ],
        }
    )


def referral_bundle_json(referral: Referral) -> str:
    return referral_bundle(referral).model_dump_json(indent=2, exclude_none=True)
