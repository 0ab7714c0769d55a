"""Sign-in hardening: lockout, two-factor, session lifetimes, password hashing, CSP."""

import subprocess
import sys
import time

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from carecrm import security
from carecrm import settings as carecrm_settings
from tests.browser.conftest import PASSWORD

pytestmark = pytest.mark.django_db

QUEUE = "/admin/work/queue/"


def _sign_in(client, username: str, password: str = PASSWORD):
    return client.post(
        reverse("admin:login"), {"username": username, "password": password, "next": QUEUE}
    )


def test_it_locks_a_username_out_after_five_failed_sign_ins(client, coordinator):
    for _ in range(4):
        assert _sign_in(client, "coordinator", "wrong").status_code == 200
    assert _sign_in(client, "coordinator", "wrong").status_code == 429

    locked = _sign_in(client, "coordinator")  # even the right password is refused now

    assert locked.status_code == 429
    assert client.get(QUEUE).status_code == 302


def test_it_lets_a_correct_password_in(client, coordinator):
    response = _sign_in(client, "coordinator")

    assert response.status_code == 302
    assert client.get(QUEUE).status_code == 200


def test_it_hashes_passwords_with_argon2():
    assert carecrm_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_it_signs_out_after_30_idle_minutes(coordinator_client, monkeypatch):
    assert coordinator_client.get(QUEUE).status_code == 200
    later = time.time() + 31 * 60
    monkeypatch.setattr(security.time, "time", lambda: later)

    response = coordinator_client.get(QUEUE)

    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_it_keeps_an_active_session_and_ends_it_after_12_hours(coordinator_client, monkeypatch):
    start = time.time()
    for minutes in range(20, 12 * 60, 20):  # a request every 20 minutes for 12 hours
        monkeypatch.setattr(security.time, "time", lambda m=minutes: start + m * 60)
        assert coordinator_client.get(QUEUE).status_code == 200, minutes
    monkeypatch.setattr(security.time, "time", lambda: start + 12 * 3600 + 60)

    assert coordinator_client.get(QUEUE).status_code == 302


@pytest.fixture
def otp_required(settings):
    settings.OTP_REQUIRED = True


def test_it_sends_staff_without_a_device_to_set_up_two_factor(
    otp_required, coordinator_client, coordinator
):
    response = coordinator_client.get(QUEUE)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("twofactor:setup"))
    setup = coordinator_client.get(response["Location"])
    device = TOTPDevice.objects.get(user=coordinator, confirmed=False)
    assert "data:image/svg+xml;base64," in setup.text

    token = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    confirmed = coordinator_client.post(
        reverse("twofactor:setup"), {"token": f"{token:06d}", "next": QUEUE}
    )

    assert confirmed.status_code == 302
    assert coordinator_client.get(QUEUE).status_code == 200
    device.refresh_from_db()
    assert device.confirmed


def test_it_refuses_a_wrong_code_when_setting_up(otp_required, coordinator_client):
    coordinator_client.get(reverse("twofactor:setup"))

    wrong = coordinator_client.post(reverse("twofactor:setup"), {"token": "000000"})

    assert "did not match" in wrong.text
    assert coordinator_client.get(QUEUE).status_code == 302


def test_it_refuses_a_wrong_code(otp_required, coordinator_client, coordinator):
    device = TOTPDevice.objects.create(user=coordinator, name="phone", confirmed=True)

    refused = coordinator_client.post(
        reverse("twofactor:verify"), {"otp_device": device.persistent_id, "otp_token": "123"}
    )

    assert refused.status_code == 200
    assert coordinator_client.get(QUEUE).status_code == 302


def test_it_asks_staff_with_a_device_for_a_code(otp_required, coordinator_client, coordinator):
    device = TOTPDevice.objects.create(user=coordinator, name="phone", confirmed=True)

    response = coordinator_client.get(QUEUE)
    assert response["Location"].startswith(reverse("twofactor:verify"))

    token = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    coordinator_client.post(
        reverse("twofactor:verify"),
        {"otp_device": device.persistent_id, "otp_token": f"{token:06d}", "next": QUEUE},
    )

    assert coordinator_client.get(QUEUE).status_code == 200


def test_it_does_not_ask_for_a_second_factor_in_development(coordinator_client):
    assert coordinator_client.get(QUEUE).status_code == 200


def test_it_never_redirects_off_site_after_two_factor(otp_required, coordinator_client):
    response = coordinator_client.get(reverse("twofactor:verify"), {"next": "//evil.example"})

    assert 'value="//evil.example"' not in response.text


def test_it_sends_a_content_security_policy_without_inline_scripts(coordinator_client, client):
    for response in (coordinator_client.get(QUEUE), client.get("/check-eligibility/")):
        policy = response["Content-Security-Policy"]
        script_src = policy.split("script-src")[1].split(";")[0]
        assert "'self'" in script_src
        assert "'unsafe-inline'" not in script_src
        assert "frame-ancestors 'none'" in policy
        assert "object-src 'none'" in policy


def test_it_marks_our_scripts_with_the_policy_nonce(coordinator_client):
    response = coordinator_client.get(reverse("referrals:board"))

    nonce = response["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert f'src="/static/carecrm/board.js" defer nonce="{nonce}"' in response.text


def test_it_passes_the_deployment_checklist_in_production():
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_ENV": "production",
        "SECRET_KEY": "x" * 30 + "a-long-random-production-secret-key-value",
        "ALLOWED_HOSTS": "carecrm.example.org",
    }
    completed = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "no issues" in completed.stdout


def test_it_refuses_to_start_in_production_without_a_secret_key():
    completed = subprocess.run(
        [sys.executable, "manage.py", "check"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "DJANGO_ENV": "production", "ALLOWED_HOSTS": "x.org"},
        check=False,
    )

    assert completed.returncode != 0
    assert "SECRET_KEY must be set" in completed.stderr
