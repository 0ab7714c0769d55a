"""Hand-off to the hospital: the referral packet (page, PDF, stored when sent) and the FHIR R4
export (validated with fhir.resources, every reference resolving inside the bundle)."""

import datetime
import io
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from fhir.resources.R4B.bundle import Bundle
from pypdf import PdfReader

from referrals import fhir, packet, selectors, services
from referrals.models import (
    AccessLog,
    BestResponse,
    DocumentKind,
    EventKind,
    LeadDocument,
    ReasonStopped,
    Stage,
)
from tests.factories import (
    ClinicalFactFactory,
    ConditionFactory,
    HospitalFactory,
    LeadDocumentFactory,
    PatientFactory,
    PriorTreatmentLineFactory,
    ProgramFactory,
    ReferralFactory,
    ScreeningRecordFactory,
    TherapyFactory,
    TrialFactory,
)
from trials.models import DrugClass

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path


@pytest.fixture
def lupus(db):
    return ConditionFactory(
        name="Systemic lupus erythematosus", slug="sle", icd10_codes="M32.1, M32.9"
    )


@pytest.fixture
def program(lupus):
    return ProgramFactory(
        name="CD19 CAR-T",
        hospital=HospitalFactory(name="Sheba Medical Center", city="Ramat Gan"),
        conditions=[lupus],
        contact_name="Dr. Noa Cohen",
        contact_email="car-t@sheba.example",
        required_documents="Signed consent form\nRecent labs (CBC, creatinine, complement)\n"
        "Kidney biopsy report\nEchocardiogram",
    )


@pytest.fixture
def lead(coordinator, lupus, program):
    """דנה לוי (Dana Levi), SLE since 2015, two failed lines and a steroid line, target Sheba."""
    patient = PatientFactory(
        first_name="דנה",
        last_name="לוי",
        primary_condition=lupus,
        diagnosis_year=2015,
        sex="female",
        preferred_language="he",
        city="חיפה",
    )
    ClinicalFactFactory(patient=patient, kind="sledai_2k", value_number=14)
    ClinicalFactFactory(patient=patient, kind="das28", value_number=Decimal("3.20"))
    mmf = TherapyFactory(name="Mycophenolate mofetil")
    rituximab = TherapyFactory(name="Rituximab", drug_class=DrugClass.ANTI_CD20)
    prednisone = TherapyFactory(name="Prednisone", counts_toward_failed_lines=False)
    PriorTreatmentLineFactory(
        patient=patient,
        line_number=1,
        therapies=[mmf, prednisone],
        start_date=datetime.date(2016, 3, 1),
        end_date=datetime.date(2019, 6, 30),
        best_response=BestResponse.PARTIAL,
        reason_stopped=ReasonStopped.INADEQUATE_RESPONSE,
    )
    PriorTreatmentLineFactory(
        patient=patient,
        line_number=2,
        therapies=[rituximab],
        start_date=datetime.date(2019, 8, 1),
        end_date=datetime.date(2022, 2, 28),
        best_response=BestResponse.COMPLETE,
        reason_stopped=ReasonStopped.LOSS_OF_RESPONSE,
    )
    PriorTreatmentLineFactory(
        patient=patient,
        line_number=3,
        therapies=[prednisone],
        start_date=datetime.date(2022, 3, 1),
        end_date=None,
        reason_stopped=ReasonStopped.ONGOING,
    )
    referral = ReferralFactory(patient=patient, assigned_to=coordinator, target_program=program)
    ScreeningRecordFactory(referral=referral, program=program, recorded_by=coordinator)
    LeadDocumentFactory(
        referral=referral, kind=DocumentKind.CONSENT_FORM, original_filename="consent-signed.pdf"
    )
    LeadDocumentFactory(
        referral=referral, kind=DocumentKind.LAB_RESULT, original_filename="labs-2026-10.pdf"
    )
    LeadDocumentFactory(
        referral=referral, kind=DocumentKind.MEDICAL_RECORD, original_filename="discharge.pdf"
    )
    return referral


def _pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


# --- which required documents are attached -----------------------------------------------


def test_it_matches_required_documents_by_kind_and_file_name():
    def document(pk, kind, name):
        return LeadDocument(pk=pk, kind=kind, original_filename=name, file=f"documents/{pk}.pdf")

    consent = document(1, DocumentKind.CONSENT_FORM, "c.pdf")
    labs = document(2, DocumentKind.LAB_RESULT, "blood.pdf")
    echo = document(3, DocumentKind.OTHER, "Echocardiogram 2026.pdf")
    old_packet = document(4, DocumentKind.REFERRAL_LETTER, "referral-packet-lead-9-x.pdf")
    other = document(5, DocumentKind.OTHER, "insurance-approval.pdf")
    erased = LeadDocument(pk=6, kind=DocumentKind.CONSENT_FORM, original_filename="[erased]")

    required, others = packet.required_documents(
        ["Signed consent form", "Recent labs", "Echocardiogram", "Referral letter", "HLA typing"],
        [consent, labs, echo, old_packet, other, erased],
    )

    assert [(r.name, [d.pk for d in r.attached]) for r in required] == [
        ("Signed consent form", [1]),
        ("Recent labs", [2]),
        ("Echocardiogram", [3]),
        ("Referral letter", []),  # our own earlier packet is not the physician's letter
        ("HLA typing", []),
    ]
    assert others == [other]


# --- the packet -------------------------------------------------------------------------


def test_it_shows_the_print_ready_packet(coordinator_client, lead):
    response = coordinator_client.get(reverse("referrals:lead_packet", args=[lead.pk]))

    assert response.status_code == 200
    assert "private, no-store" in response["Cache-Control"]
    text = response.text
    assert '<span dir="rtl">דנה לוי</span>' in text
    assert "Mycophenolate mofetil + Prednisone" in text
    assert "2 failed lines" in text
    assert "Record as sent" in text
    assert AccessLog.objects.filter(detail__startswith="Referral packet page").count() == 1


def test_it_renders_the_packet_pdf_with_everything_the_hospital_needs(coordinator_client, lead):
    response = coordinator_client.get(reverse("referrals:lead_packet_pdf", args=[lead.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "attachment" in response["Content-Disposition"]
    text = _pdf_text(response.content)
    flat = " ".join(text.split())
    # The patient, whose Hebrew name comes out in logical order.
    assert "דנה לוי" in text
    assert "P-" in flat and "Systemic lupus erythematosus" in flat and "M32.1" in flat
    assert "2015" in flat
    # Disease measures.
    assert "SLEDAI-2K 14" in flat and "DAS28 3.2" in flat
    # Every prior line with dates and outcome, and the failed-line count.
    assert "Mycophenolate mofetil + Prednisone" in flat
    assert "Mar 2016 Jun 2019 Partial response Inadequate response yes" in flat
    assert "Rituximab Aug 2019 Feb 2022 Complete response Loss of response yes" in flat
    assert "Prednisone Mar 2022 — Unknown Ongoing no" in flat
    assert "2 failed lines" in flat
    # The eligibility check with each criterion.
    assert "Eligibility check against CD19 CAR-T (Sheba Medical Center)" in flat
    assert "Verdict: Eligible" in flat
    for criterion in ("Condition", "Age", "Failed lines"):
        assert criterion in flat
    assert "recorded in our screening log" in flat
    # The program's required documents, attached or missing.
    assert "Signed consent form Attached consent-signed.pdf" in flat
    assert "Recent labs (CBC, creatinine, complement) Attached labs-2026-10.pdf" in flat
    assert "Kidney biopsy report Missing" in flat
    assert "Echocardiogram Missing" in flat
    assert "Also enclosed: discharge.pdf" in flat
    assert AccessLog.objects.filter(detail__startswith="Referral packet PDF").count() == 1


def test_it_keeps_the_sent_packet_privately_and_puts_it_on_the_timeline(
    coordinator_client, coordinator, lead, tmp_path
):
    response = coordinator_client.post(
        reverse("referrals:lead_packet_send", args=[lead.pk]),
        {"sent_to": "car-t@sheba.example (secure mail)"},
    )

    assert response.status_code == 302
    document = LeadDocument.objects.get(kind=DocumentKind.REFERRAL_LETTER)
    assert document.original_filename.startswith(f"referral-packet-lead-{lead.pk}-")
    assert document.uploaded_by == coordinator
    stored = (tmp_path / document.file.name).read_bytes()
    assert stored.startswith(b"%PDF-") and len(stored) == document.size
    assert (tmp_path / document.file.name).stat().st_mode & 0o777 == 0o600
    assert "דנה לוי" in _pdf_text(stored)
    event = lead.events.get(kind=EventKind.PACKET_SENT)
    assert "sent to car-t@sheba.example (secure mail)" in event.body
    download = coordinator_client.get(
        reverse("referrals:lead_document", args=[lead.pk, document.pk])
    )
    assert download.status_code == 200
    download.close()


def test_it_refuses_to_record_a_packet_sent_to_nobody(coordinator_client, lead):
    response = coordinator_client.post(
        reverse("referrals:lead_packet_send", args=[lead.pk]), {"sent_to": " "}
    )

    assert response.status_code == 200
    assert "This field is required." in response.text
    assert not LeadDocument.objects.filter(kind=DocumentKind.REFERRAL_LETTER).exists()
    assert not lead.events.filter(kind=EventKind.PACKET_SENT).exists()


def test_it_sends_back_to_the_lead_when_no_target_is_chosen(coordinator_client, coordinator):
    referral = ReferralFactory(assigned_to=coordinator)

    for name in ("lead_packet", "lead_packet_pdf"):
        response = coordinator_client.get(reverse(f"referrals:{name}", args=[referral.pk]))
        assert response.status_code == 302
        assert response["Location"] == reverse("referrals:lead", args=[referral.pk])
    response = coordinator_client.post(
        reverse("referrals:lead_packet_send", args=[referral.pk]), {"sent_to": "x"}
    )
    assert response.status_code == 302
    assert not LeadDocument.objects.exists()


def test_it_refuses_the_send_service_without_a_target(coordinator):
    referral = ReferralFactory(assigned_to=coordinator)

    with pytest.raises(services.ReferralError, match="Choose the target"):
        services.referral_packet_send(
            referral=referral, pdf=b"%PDF-1.7", sent_to="x", by=coordinator
        )


def test_it_links_the_packet_and_fhir_export_from_the_lead_page(coordinator_client, lead):
    response = coordinator_client.get(reverse("referrals:lead", args=[lead.pk]))

    assert reverse("referrals:lead_packet", args=[lead.pk]) in response.text
    assert reverse("referrals:lead_fhir", args=[lead.pk]) in response.text


# --- FHIR ---------------------------------------------------------------------------------


def _references(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [ref for value in node.values() for ref in _references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _references(value)]
    return []


def _bundle(lead) -> dict:
    return json.loads(fhir.referral_bundle_json(selectors.referral_for_handoff(lead.pk)))


def test_it_exports_a_valid_fhir_bundle_whose_references_resolve(lead):
    data = _bundle(lead)

    bundle = Bundle.model_validate(data)  # the library's validation of every resource
    assert bundle.type == "collection"
    kinds = [entry["resource"]["resourceType"] for entry in data["entry"]]
    assert kinds.count("Patient") == 1
    assert kinds.count("Condition") == 1
    assert kinds.count("MedicationStatement") == 4  # MMF + prednisone, rituximab, prednisone
    assert kinds.count("ServiceRequest") == 1
    assert kinds.count("Organization") == 1
    full_urls = {entry["fullUrl"] for entry in data["entry"]}
    assert len(full_urls) == len(data["entry"])
    references = _references(data["entry"])
    assert references and set(references) <= full_urls


def test_it_fills_the_fhir_resources_from_the_lead(lead):
    resources = {}
    for entry in _bundle(lead)["entry"]:
        resources.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    [patient], [condition], [request], [organization] = (
        resources[kind] for kind in ("Patient", "Condition", "ServiceRequest", "Organization")
    )

    assert patient["name"] == [{"family": "לוי", "given": ["דנה"]}]
    assert patient["gender"] == "female"
    assert patient["birthDate"] == "1985-06-15"
    assert condition["code"]["coding"][0] == {
        "system": "http://hl7.org/fhir/sid/icd-10",
        "code": "M32.1",
        "display": "Systemic lupus erythematosus",
    }
    assert condition["onsetDateTime"] == "2015"
    rituximab = next(
        s
        for s in resources["MedicationStatement"]
        if s["medicationCodeableConcept"]["text"] == "Rituximab"
    )
    assert rituximab["effectivePeriod"] == {"start": "2019-08-01", "end": "2022-02-28"}
    assert rituximab["statusReason"] == [{"text": "Loss of response"}]
    assert rituximab["status"] == "stopped"
    assert organization["name"] == "Sheba Medical Center"
    assert request["intent"] == "order"
    assert request["status"] == "draft"  # not referred yet
    assert "CD19 CAR-T (Sheba Medical Center)" in request["note"][0]["text"]
    assert len(request["supportingInfo"]) == 4


def test_it_exports_a_trial_referral_and_a_bare_lead(coordinator):
    trial = TrialFactory(nct_id="NCT06106893")
    bare = ReferralFactory(
        patient=PatientFactory(primary_condition=None, date_of_birth=None),
        target_trial=trial,
        stage=Stage.REFERRED,
    )

    data = _bundle(bare)

    Bundle.model_validate(data)
    kinds = sorted(entry["resource"]["resourceType"] for entry in data["entry"])
    assert kinds == ["Patient", "ServiceRequest"]  # no condition, lines or known site
    assert set(_references(data["entry"])) <= {entry["fullUrl"] for entry in data["entry"]}


def test_it_downloads_the_fhir_bundle_from_the_lead_page(coordinator_client, lead):
    response = coordinator_client.get(reverse("referrals:lead_fhir", args=[lead.pk]))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    assert "attachment" in response["Content-Disposition"]
    Bundle.model_validate_json(response.content)
    assert AccessLog.objects.filter(detail__startswith="FHIR bundle").count() == 1


def test_it_prints_the_bundle_from_the_command(lead):
    out = StringIO()

    call_command("export_fhir", str(lead.pk), stdout=out)

    bundle = Bundle.model_validate_json(out.getvalue())
    assert len(bundle.entry) == 8
    assert AccessLog.objects.filter(detail__contains="(command line)").count() == 1


def test_it_refuses_an_unknown_referral_in_the_command():
    with pytest.raises(CommandError, match="No referral with id 999999"):
        call_command("export_fhir", "999999")
