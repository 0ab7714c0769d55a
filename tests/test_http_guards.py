"""What every request meets before a view: the client's address, body size and charset limits,
the frame policy, and the shared rate-limit store (issue 24, findings 3 to 6)."""

import logging
import os
import subprocess
import sys
from urllib.parse import urlencode

import pytest
from axes.models import AccessAttempt
from django.core.checks import run_checks
from django.urls import reverse

from carecrm.settings import BASE_DIR
from referrals.models import AccessAction, AccessLog, EventKind, Referral
from tests.factories import ReferralFactory

PROXY = "10.0.0.2"
CLIENT = "203.0.113.7"
OTHER_CLIENT = "198.51.100.9"
PASSWORD = "correct horse battery staple"
FIFTY_MB = str(50 * 1024 * 1024)


class UnreadableBody:
    """A request body that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the body was read before it was refused")

    readline = read


def _notes(lead) -> list[str]:
    return list(lead.events.filter(kind=EventKind.NOTE).values_list("body", flat=True))


def _password_step(client, username: str, password: str, **extra):
    return client.post(
        reverse("admin:login"),
        {"login_view-current_step": "auth", "auth-username": username, "auth-password": password},
        **extra,
    )


@pytest.fixture
def lead(db, coordinator):
    return ReferralFactory(assigned_to=coordinator)


def _public_urls(lead) -> list[str]:
    return [
        reverse("intake:form"),
        reverse("intake:thanks"),
        reverse("admin:login"),
        reverse("two_factor:setup"),
        reverse("admin:index"),
        reverse("referrals:lead_note", args=[lead.pk]),
        reverse("admin:referrals_referral_export_csv"),
    ]


# --- the client's address ---------------------------------------------------------------------


def test_it_locks_out_the_client_behind_a_proxy_not_everyone(client, coordinator, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    attacker = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": f"1.2.3.4, {CLIENT}"}
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _password_step(client, "coordinator", "wrong", **attacker)

    assert _password_step(client, "coordinator", "wrong", **attacker).status_code == 429
    colleague = _password_step(
        client, "coordinator", PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=OTHER_CLIENT
    )

    assert colleague.status_code == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {CLIENT}


def test_it_ignores_forwarded_addresses_unless_a_proxy_is_trusted(client, coordinator):
    for n in range(5):
        _password_step(
            client, "coordinator", "wrong", REMOTE_ADDR=CLIENT, HTTP_X_FORWARDED_FOR=f"10.9.9.{n}"
        )

    assert _password_step(client, "coordinator", PASSWORD, REMOTE_ADDR=CLIENT).status_code == 429


def test_it_logs_the_client_address_behind_a_proxy(coordinator_client, lead, settings):
    settings.TRUSTED_PROXY_COUNT = 1

    coordinator_client.get(
        reverse("referrals:lead", args=[lead.pk]),
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=f"6.6.6.6, {CLIENT}",
    )

    entry = AccessLog.objects.get(action=AccessAction.VIEW_LEAD, referral=lead)
    assert entry.ip_address == CLIENT


@pytest.mark.parametrize(
    ("trusted", "forwarded", "expected"),
    [
        (2, f"6.6.6.6, {CLIENT}, 10.0.0.1", CLIENT),
        (2, CLIENT, PROXY),  # shorter than the trusted chain: a direct connection
        (1, "not-an-address", PROXY),
        (1, "", PROXY),
    ],
)
def test_it_logs_the_connecting_address_when_the_forwarded_one_is_unusable(
    coordinator_client, lead, settings, trusted, forwarded, expected
):
    settings.TRUSTED_PROXY_COUNT = trusted

    response = coordinator_client.get(
        reverse("referrals:lead", args=[lead.pk]),
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded,
    )

    assert response.status_code == 200
    assert AccessLog.objects.get(action=AccessAction.VIEW_LEAD).ip_address == expected


def _setting_in_a_fresh_process(name: str, **environment: str) -> str:
    code = (
        f"import django; django.setup(); from django.conf import settings; print(settings.{name})"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"TRUSTED_PROXY_COUNT", "DJANGO_ENV"}
    }
    env |= {"DJANGO_SETTINGS_MODULE": "carecrm.settings", **environment}
    finished = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True
    )
    assert finished.returncode == 0, finished.stderr
    return finished.stdout.strip()


@pytest.mark.parametrize("environment", [{}, {"DJANGO_ENV": "production"}])
def test_it_trusts_x_forwarded_proto_only_behind_a_configured_proxy(environment):
    production = {
        "SECRET_KEY": "test-only-" + "k" * 50,
        "ALLOWED_HOSTS": "example.org",
        **environment,
    }

    assert _setting_in_a_fresh_process("SECURE_PROXY_SSL_HEADER", **production) == "None"
    assert _setting_in_a_fresh_process(
        "SECURE_PROXY_SSL_HEADER", TRUSTED_PROXY_COUNT="1", **production
    ) == str(("HTTP_X_FORWARDED_PROTO", "https"))


def test_it_redirects_a_spoofed_https_request_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    response = client.get(reverse("intake:form"), HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 301
    assert response.url.startswith("https://")


# --- the shared cache ------------------------------------------------------------------------


def test_it_refuses_a_per_process_shared_cache_on_deploy_check(settings):
    assert "carecrm.E001" not in {m.id for m in run_checks(include_deployment_checks=True)}

    settings.CACHES = {
        **settings.CACHES,
        "shared": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }

    found = [m for m in run_checks(include_deployment_checks=True) if m.id == "carecrm.E001"]
    assert found
    assert "not shared between server processes" in found[0].msg


# --- body sizes -------------------------------------------------------------------------------


def test_it_refuses_a_large_anonymous_body_before_reading_it_on_every_url(client, lead):
    for url in _public_urls(lead):
        response = client.generic(
            "POST",
            url,
            content_type="application/x-www-form-urlencoded",
            CONTENT_LENGTH=FIFTY_MB,
            **{"wsgi.input": UnreadableBody()},
        )

        assert response.status_code == 413, url
        assert "Too much data" in response.content.decode(), url
    assert _notes(lead) == []


def test_it_answers_the_refusal_in_the_visitors_language(client):
    response = client.generic(
        "POST",
        reverse("intake:form") + "?lang=he",
        CONTENT_LENGTH=FIFTY_MB,
        **{"wsgi.input": UnreadableBody()},
    )

    assert response.status_code == 413
    assert response["Content-Language"] == "he"


def test_it_refuses_a_large_staff_body_before_reading_it(coordinator_client, lead):
    response = coordinator_client.generic(
        "POST",
        reverse("referrals:lead_note", args=[lead.pk]),
        CONTENT_LENGTH=FIFTY_MB,
        **{"wsgi.input": UnreadableBody()},
    )

    assert response.status_code == 413
    assert _notes(lead) == []


def test_it_reads_a_staff_body_above_the_public_limit(coordinator_client, lead, settings):
    body = urlencode({"kind": "note", "body": "Called the patient. " * 4000})
    assert len(body) > settings.PUBLIC_MAX_BODY_BYTES

    response = coordinator_client.post(
        reverse("referrals:lead_note", args=[lead.pk]),
        body,
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code != 413


# --- charsets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("charset", ["latin-1", "utf-16", "iso-8859-8", "no-such-charset"])
def test_it_answers_400_to_a_form_in_another_charset(client, lead, charset, caplog):
    body = "auth-username=coordinator&first_name=Élodie".encode("latin-1")
    with caplog.at_level(logging.ERROR):
        for url in _public_urls(lead):
            response = client.generic(
                "POST", url, body, f"application/x-www-form-urlencoded; charset={charset}"
            )

            assert response.status_code == 400, url
            assert "character set" in response.content.decode(), url
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert Referral.objects.count() == 1


def test_it_answers_400_to_a_staff_form_in_another_charset(coordinator_client, lead):
    response = coordinator_client.generic(
        "POST",
        reverse("referrals:lead_note", args=[lead.pk]),
        "kind=note&body=Appel à la patiente".encode("iso-8859-1"),
        "application/x-www-form-urlencoded; charset=iso-8859-1",
    )

    assert response.status_code == 400
    assert _notes(lead) == []


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", '"utf-8"'])
def test_it_reads_a_utf8_form_whatever_the_spelling(coordinator_client, lead, charset):
    response = coordinator_client.generic(
        "POST",
        reverse("referrals:lead_note", args=[lead.pk]),
        "kind=note&body=Appel à la patiente".encode(),
        f"application/x-www-form-urlencoded; charset={charset}",
    )

    assert response.status_code == 302
    assert _notes(lead) == ["Appel à la patiente"]


# --- framing ----------------------------------------------------------------------------------


def test_it_forbids_framing_of_every_page_including_the_admins(admin_client_, lead):
    for url in [
        reverse("admin:referrals_referral_changelist"),
        reverse("admin:referrals_referral_change", args=[lead.pk]),
        reverse("admin:referrals_patient_changelist"),
        reverse("referrals:lead", args=[lead.pk]),
        reverse("admin:index"),
    ]:
        response = admin_client_.get(url)

        assert response.status_code == 200, url
        assert response["X-Frame-Options"] == "DENY", url


def test_it_forbids_framing_of_the_public_form(client, db):
    assert client.get(reverse("intake:form"))["X-Frame-Options"] == "DENY"


def test_it_lets_only_the_admin_itself_frame_its_pop_up_forms(admin_client_):
    popup = admin_client_.get(reverse("admin:trials_hospital_add") + "?_popup=1")
    page = admin_client_.get(reverse("admin:trials_hospital_add"))
    public = admin_client_.get(reverse("intake:form") + "?_popup=1")

    assert popup["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in popup["Content-Security-Policy"]
    assert page["X-Frame-Options"] == public["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in public["Content-Security-Policy"]
