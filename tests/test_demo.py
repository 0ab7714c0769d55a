from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import RequestFactory
from django.utils import timezone

from referrals import access
from referrals.demo import DEMO_LIAISONS
from referrals.models import (
    Patient,
    PriorTreatmentLine,
    Referral,
    ReferralEvent,
    ReferralSnapshot,
    Stage,
)

pytestmark = pytest.mark.django_db


def _run(*commands: str) -> str:
    out = StringIO()
    for command in commands:
        call_command(command, stdout=out)
    return out.getvalue()


def _counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count() for model in (Patient, PriorTreatmentLine, Referral, ReferralEvent)
    )


def test_it_seeds_a_few_hundred_leads_across_every_stage_with_demo_logins():
    _run("load_reference_data", "seed_demo")

    assert 250 <= Referral.objects.count() <= 400
    assert set(Referral.objects.values_list("stage", flat=True)) == set(Stage.values)
    for username, password in [
        ("admin", "carecrm-admin"),
        ("coordinator", "carecrm-coordinator"),
        ("coordinator2", "carecrm-coordinator2"),
    ]:
        request = RequestFactory().post("/admin/login/")
        assert authenticate(request, username=username, password=password) is not None
    referred = Referral.objects.filter(stage=Stage.REFERRED)
    assert all(r.target_program_id or r.target_trial_id for r in referred)


def test_it_changes_nothing_when_run_twice():
    _run("load_reference_data", "seed_demo")
    before = _counts()

    output = _run("load_reference_data", "seed_demo")

    assert _counts() == before
    assert "demo leads: 0 created" in output


def test_it_prints_the_demo_logins():
    output = _run("print_demo_logins")

    assert "coordinator2" in output
    assert "carecrm-admin" in output
    assert "liaison-sheba" in output
    assert "carecrm-liaison" in output


def test_it_seeds_a_liaison_per_hospital_and_the_hospital_side_of_referred_leads():
    _run("load_reference_data", "seed_demo")
    snapshots = ReferralSnapshot.objects.count()

    for liaison in DEMO_LIAISONS:
        request = RequestFactory().post("/admin/login/")
        user = authenticate(request, username=liaison.username, password="carecrm-liaison")
        assert user is not None
        assert user.liaison_profile.hospital.name == liaison.hospital
    sheba = access.referrals_visible_to(User.objects.get(username="liaison-sheba"))
    assert sheba.count() >= 10
    assert {r.target_program.hospital.name for r in sheba} == {"Sheba Medical Center"}
    assert sheba.filter(stage=Stage.REFERRED, receipt_confirmed_at__isnull=False).exists()
    for lead in sheba:
        assert lead.snapshots.filter(program=lead.target_program).exists()
        referred_on = timezone.localdate(lead.referred_at)
        if lead.stage != Stage.REFERRED:
            assert lead.hospital_decision_at >= lead.receipt_confirmed_at >= lead.referred_at
            assert lead.consult_date >= referred_on
        if lead.apheresis_date:
            assert lead.consult_date <= lead.apheresis_date <= lead.infusion_date
    assert Referral.objects.filter(hospital_update_at__isnull=False).exists()  # queue badges

    _run("seed_demo")

    assert ReferralSnapshot.objects.count() == snapshots
