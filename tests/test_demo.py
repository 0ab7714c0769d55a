from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

from referrals.models import Patient, PriorTreatmentLine, Referral, ReferralEvent, Stage

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
