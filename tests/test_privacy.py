"""Subject access export, erasure on request and the retention rule."""

import datetime
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from referrals import services
from referrals.models import (
    AccessAction,
    AccessLog,
    CloseReason,
    EventKind,
    Patient,
    ReferralEvent,
    ScreeningRecord,
    Stage,
)
from tests.factories import (
    PatientFactory,
    PriorTreatmentLineFactory,
    ProgramFactory,
    ReferralFactory,
    TherapyFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead():
    patient = PatientFactory(
        first_name="Noa", last_name="Levi", phone="+972547654321", email="noa@example.org"
    )
    PriorTreatmentLineFactory(
        patient=patient, line_number=1, therapies=[TherapyFactory(name="Rituximab")]
    )
    referral = ReferralFactory(
        patient=patient, intake_message="Call after 5pm please", submitter_name="Dana Levi"
    )
    ReferralEvent.objects.create(referral=referral, kind=EventKind.CALL, body="Spoke with Noa")
    ScreeningRecord.objects.create(
        referral=referral,
        program=ProgramFactory(),
        candidate_name="Sheba CD19",
        verdict="eligible",
        criteria=[{"name": "Age", "result": "pass", "detail": "Age 40"}],
    )
    return referral


def _export_url(patient) -> str:
    return reverse("admin:referrals_patient_export_data", args=[patient.pk])


def _erase_url(patient) -> str:
    return reverse("admin:referrals_patient_erase", args=[patient.pk])


def test_it_exports_everything_about_a_patient_as_json(admin_client, admin_user, lead):
    response = admin_client.get(_export_url(lead.patient))

    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    data = json.loads(response.content)
    assert data["patient"]["phone"] == "+972547654321"
    assert data["treatment_lines"][0]["therapies"] == ["Rituximab"]
    [referral] = data["referrals"]
    assert referral["intake_message"] == "Call after 5pm please"
    assert any(event["body"] == "Spoke with Noa" for event in referral["timeline"])
    assert referral["screenings"][0]["candidate_name"] == "Sheba CD19"
    log = AccessLog.objects.get(action=AccessAction.EXPORT)
    assert (log.user, log.patient) == (admin_user, lead.patient)


def test_it_refuses_coordinators_the_export_and_the_erasure(coordinator_client, lead):
    assert coordinator_client.get(_export_url(lead.patient)).status_code == 403
    assert (
        coordinator_client.post(
            _erase_url(lead.patient), {"reason": "x", "confirm": "on"}
        ).status_code
        == 403
    )
    assert Patient.objects.get(pk=lead.patient.pk).erased_at is None


def test_it_exports_from_the_command_line(lead):
    out = StringIO()

    call_command("export_patient", str(lead.patient.pk), stdout=out)

    assert json.loads(out.getvalue())["patient"]["last_name"] == "Levi"
    with pytest.raises(CommandError, match="No patient with id 987654"):
        call_command("export_patient", "987654")


def test_it_erases_identifying_data_and_keeps_what_statistics_need(admin_client, lead):
    patient = lead.patient
    assert patient.history.exists()

    response = admin_client.post(
        _erase_url(patient), {"reason": "Patient's e-mail of 3 March", "confirm": "on"}
    )

    assert response.status_code == 302
    patient.refresh_from_db()
    assert (patient.first_name, patient.phone, patient.email, patient.date_of_birth) == (
        "Erased",
        "",
        "",
        None,
    )
    assert patient.erased_at is not None
    assert not patient.history.exists()
    lead.refresh_from_db()
    assert (lead.intake_message, lead.submitter_name) == ("", "")
    assert not lead.history.filter(intake_message="Call after 5pm please").exists()
    assert lead.stage == Stage.NEW
    assert patient.treatment_lines.get().therapies.get().name == "Rituximab"
    assert ScreeningRecord.objects.get(referral=lead).candidate_name == "Sheba CD19"
    assert lead.events.get(kind=EventKind.CALL).body == "[erased]"
    assert lead.events.filter(body__contains="Patient data erased").exists()
    exported = json.dumps(admin_client.get(_export_url(patient)).json())
    for identifying in ("Noa", "Levi", "+972547654321", "noa@example.org", "5pm"):
        assert identifying not in exported


def test_it_needs_a_reason_and_confirmation_to_erase(admin_client, lead):
    response = admin_client.post(_erase_url(lead.patient), {"reason": "", "confirm": ""})

    assert response.status_code == 200
    assert "This field is required." in response.text
    assert Patient.objects.get(pk=lead.patient.pk).first_name == "Noa"


def test_it_refuses_to_erase_twice(lead):
    services.patient_erase(patient=lead.patient, by=None, reason="request")

    with pytest.raises(services.ReferralError, match="already erased"):
        services.patient_erase(patient=lead.patient, by=None, reason="request")


def _closed_lead(days_ago: int):
    return ReferralFactory(
        stage=Stage.CLOSED,
        close_reason=CloseReason.NOT_REACHABLE,
        stage_changed_at=timezone.now() - datetime.timedelta(days=days_ago),
    )


def test_it_anonymises_only_patients_past_retention(settings):
    old = _closed_lead(800)
    recent = _closed_lead(100)
    still_open = _closed_lead(900)
    ReferralFactory(patient=still_open.patient)  # the same patient has an open lead
    out = StringIO()

    call_command("apply_retention", "--days", "730", stdout=out)

    assert "1 patients anonymised" in out.getvalue()
    assert Patient.objects.get(pk=old.patient.pk).erased_at is not None
    assert Patient.objects.get(pk=recent.patient.pk).erased_at is None
    assert Patient.objects.get(pk=still_open.patient.pk).erased_at is None


def test_it_changes_nothing_on_a_retention_dry_run():
    old = _closed_lead(800)
    out = StringIO()

    call_command("apply_retention", "--days", "730", "--dry-run", stdout=out)

    assert "1 patients would be anonymised" in out.getvalue()
    assert Patient.objects.get(pk=old.patient.pk).erased_at is None
