"""Read access to patient data is logged, append-only, and visible to admins only."""

import pytest
from django.urls import reverse

from referrals.models import AccessAction, AccessLog
from tests.factories import PatientFactory, ReferralFactory

pytestmark = pytest.mark.django_db


def test_it_logs_who_opened_a_lead(coordinator_client, coordinator):
    referral = ReferralFactory()

    coordinator_client.get(reverse("referrals:lead", args=[referral.pk]))

    entry = AccessLog.objects.get()
    assert (entry.user, entry.action, entry.referral, entry.patient) == (
        coordinator,
        AccessAction.VIEW_LEAD,
        referral,
        referral.patient,
    )
    assert entry.ip_address == "127.0.0.1"


def test_it_logs_who_opened_a_patient_in_the_admin(coordinator_client, coordinator):
    patient = PatientFactory()

    coordinator_client.get(reverse("admin:referrals_patient_change", args=[patient.pk]))

    entry = AccessLog.objects.get()
    assert (entry.user, entry.action, entry.patient) == (
        coordinator,
        AccessAction.VIEW_PATIENT,
        patient,
    )


def test_it_does_not_log_a_lead_that_was_not_shown(client, coordinator):
    referral = ReferralFactory()

    client.get(reverse("referrals:lead", args=[referral.pk]))  # anonymous: sent to log in

    assert not AccessLog.objects.exists()


def test_it_refuses_to_change_or_delete_log_lines(coordinator):
    entry = AccessLog.objects.create(user=coordinator, action=AccessAction.EXPORT)

    entry.detail = "tampered"
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    with pytest.raises(ValueError, match="append-only"):
        entry.delete()
    assert AccessLog.objects.get().detail == ""


def test_it_shows_the_log_to_admins_and_not_to_coordinators(admin_client, coordinator_client):
    url = reverse("admin:referrals_accesslog_changelist")

    assert admin_client.get(url).status_code == 200
    assert coordinator_client.get(url).status_code == 403
