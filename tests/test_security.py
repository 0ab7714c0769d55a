"""Sign-in hardening: lockout, two-factor, session lifetimes, password hashing, CSP."""

import subprocess
import sys
import time
from base64 import b32decode

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from carecrm import security
from carecrm import settings as carecrm_settings
from tests.browser.conftest import PASSWORD

pytestmark = pytest.mark.django_db

QUEUE = "/admin/work/queue/"


def _code(key: bytes) -> str:
    return f"{totp(key):06d}"


def _password_step(client, username: str, password: str = PASSWORD, next_url: str = QUEUE):
    return client.post(
        f"{reverse('admin:login')}?next={next_url}",
        {
            "login_view-current_step": "auth",
            "auth-username": username,
            "auth-password": password,
        },
    )


def _code_step(client, code: str, step: str = "token", next_url: str = QUEUE):
    return client.post(
        f"{reverse('admin:login')}?next={next_url}",
        {"login_view-current_step": step, f"{step}-otp_token": code},
    )


def test_it_locks_a_username_out_after_five_failed_sign_ins(client, coordinator):
    for _ in range(4):
        assert _password_step(client, "coordinator", "wrong").status_code == 200
    assert _password_step(client, "coordinator", "wrong").status_code == 429

    locked = _password_step(client, "coordinator")  # even the right password is refused now

    assert locked.status_code == 429
    assert client.get(QUEUE).status_code == 302


def test_it_lets_a_correct_password_in(client, coordinator):
    response = _password_step(client, "coordinator")

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


@pytest.fixture
def phone(coordinator):
    """The coordinator's authenticator app, set up before."""
    return TOTPDevice.objects.create(user=coordinator, name="default", confirmed=True)


def test_it_opens_no_session_on_the_password_alone_when_the_account_has_a_device(
    otp_required, client, coordinator, phone
):
    response = _password_step(client, "coordinator")

    assert response.status_code == 200
    assert "Enter the 6-digit code" in response.text
    # The probe's bypass: enrol a new device with the password-only session.
    setup = client.get(reverse("two_factor:setup"))
    assert setup.status_code == 302
    assert setup["Location"].startswith(reverse("admin:login"))
    for url in (QUEUE, reverse("admin:index"), "/admin/work/leads/1/fhir.json"):
        assert reverse("admin:login") in client.get(url)["Location"], url
    assert list(TOTPDevice.objects.filter(user=coordinator)) == [phone]


def test_it_signs_in_with_the_password_and_the_code(otp_required, client, coordinator, phone):
    _password_step(client, "coordinator")

    response = _code_step(client, _code(phone.bin_key))

    assert response.status_code == 302
    assert response["Location"] == QUEUE
    assert client.get(QUEUE).status_code == 200


def test_it_refuses_a_wrong_code(otp_required, client, coordinator, phone):
    _password_step(client, "coordinator")

    refused = _code_step(client, "123456")

    assert refused.status_code == 200
    assert "Invalid token" in refused.text
    assert reverse("admin:login") in client.get(QUEUE)["Location"]


def test_it_signs_in_with_a_recovery_code_once(otp_required, client, coordinator, phone):
    recovery = StaticDevice.objects.create(user=coordinator, name="backup")
    recovery.token_set.create(token="rcv12345")
    _password_step(client, "coordinator")

    signed_in = _code_step(client, "rcv12345", step="backup")

    assert signed_in.status_code == 302
    assert client.get(QUEUE).status_code == 200
    client.logout()
    _password_step(client, "coordinator")
    assert _code_step(client, "rcv12345", step="backup").status_code == 200  # used up
    assert reverse("admin:login") in client.get(QUEUE)["Location"]


def test_it_ends_an_unverified_session_of_an_account_with_a_device(
    otp_required, coordinator_client, phone
):
    response = coordinator_client.get(QUEUE)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert "_auth_user_id" not in coordinator_client.session


def test_it_sends_staff_without_a_device_to_set_one_up(otp_required, client, coordinator):
    assert _password_step(client, "coordinator").status_code == 302  # no device: no code step
    response = client.get(QUEUE)
    assert response["Location"].startswith(reverse("two_factor:setup"))

    welcome = client.get(response["Location"])
    assert TOTPDevice.objects.count() == 0  # the setup page writes no device on GET
    assert welcome.status_code == 200
    generator = client.post(reverse("two_factor:setup"), {"setup_view-current_step": "welcome"})
    secret = generator.text.split('data-testid="totp-secret">')[1].split("<")[0]
    assert TOTPDevice.objects.count() == 0
    confirmed = client.post(
        reverse("two_factor:setup"),
        {"setup_view-current_step": "generator", "generator-token": _code(b32decode(secret))},
    )

    assert confirmed.status_code == 302
    assert client.get(QUEUE).status_code == 200
    device = TOTPDevice.objects.get(user=coordinator)
    assert device.confirmed and device.name == "default"


def test_it_refuses_a_wrong_code_when_setting_up(otp_required, client, coordinator):
    _password_step(client, "coordinator")
    client.post(reverse("two_factor:setup"), {"setup_view-current_step": "welcome"})

    wrong = client.post(
        reverse("two_factor:setup"),
        {"setup_view-current_step": "generator", "generator-token": "000000"},
    )

    assert security.WRONG_SETUP_CODE in wrong.text
    assert not TOTPDevice.objects.exists()
    assert client.get(QUEUE)["Location"].startswith(reverse("two_factor:setup"))


def test_it_never_enrols_a_second_device_on_a_verified_session(
    otp_required, client, coordinator, phone
):
    _password_step(client, "coordinator")
    _code_step(client, _code(phone.bin_key))

    setup = client.get(reverse("two_factor:setup"))
    posted = client.post(reverse("two_factor:setup"), {"setup_view-current_step": "welcome"})

    assert setup["Location"] == posted["Location"] == reverse("two_factor:profile")
    assert list(TOTPDevice.objects.filter(user=coordinator)) == [phone]


def test_it_makes_recovery_codes_only_on_a_verified_session(
    otp_required, client, coordinator, phone
):
    _password_step(client, "coordinator")
    assert client.post(reverse("two_factor:backup_tokens")).status_code == 302
    assert not StaticDevice.objects.exists()

    _code_step(client, _code(phone.bin_key))
    client.post(reverse("two_factor:backup_tokens"))
    page = client.get(reverse("two_factor:backup_tokens"))

    codes = StaticDevice.objects.get(user=coordinator).token_set.values_list("token", flat=True)
    assert len(codes) == 10
    assert all(code in page.text for code in codes)


def test_it_lets_an_admin_reset_a_lost_phone_and_logs_it(
    otp_required, client, admin_user, coordinator, phone
):
    StaticDevice.objects.create(user=coordinator, name="backup").token_set.create(token="x1")
    _password_step(client, "coordinator")
    _code_step(client, _code(phone.bin_key))
    admin_client = Client()
    admin_client.force_login(admin_user)
    admin_device = TOTPDevice.objects.create(user=admin_user, name="default")
    admin_session = admin_client.session
    admin_session[DEVICE_ID_SESSION_KEY] = admin_device.persistent_id
    admin_session.save()

    response = admin_client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "reset_two_factor", "_selected_action": [coordinator.pk]},
    )

    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=coordinator).exists()
    assert not StaticDevice.objects.filter(user=coordinator).exists()
    entry = LogEntry.objects.get(object_id=str(coordinator.pk))
    assert entry.user == admin_user
    assert "Two-factor sign-in reset" in entry.get_change_message()
    # The session verified with the lost phone ends at once.
    assert reverse("admin:login") in client.get(QUEUE)["Location"]
    assert "_auth_user_id" not in client.session


def test_it_lets_only_admins_reset_two_factor(coordinator_client, coordinator2):
    device = TOTPDevice.objects.create(user=coordinator2, name="default")

    response = coordinator_client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "reset_two_factor", "_selected_action": [coordinator2.pk]},
    )

    assert response.status_code == 403
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


def test_it_does_not_ask_for_a_second_factor_in_development(coordinator_client):
    assert coordinator_client.get(QUEUE).status_code == 200


def test_it_never_redirects_off_site_after_sign_in(client, coordinator):
    response = _password_step(client, "coordinator", next_url="//evil.example/")

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")


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
