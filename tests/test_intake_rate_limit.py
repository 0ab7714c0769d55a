"""The public form's rate limit: submissions per client address and window, counted in
the shared cache, behind a trusted proxy or not."""

from types import SimpleNamespace

import pytest
from django.core.cache import cache

from carecrm.models import RateCount
from referrals.models import Patient
from tests.intake import (
    NOTHING,
    submit,
    valid_post,
    written,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


def _people(condition, count):
    return [
        valid_post(condition, first_name=f"Person{n}", phone=f"052-555-{1000 + n}")
        for n in range(count)
    ]


def test_it_limits_submissions_per_address(client, lupus, settings):
    settings.INTAKE_RATE_LIMIT = 3
    first, second, third, fourth, fifth = _people(lupus, 5)
    here = {"REMOTE_ADDR": "203.0.113.7"}

    assert [submit(client, d, **here).status_code for d in (first, second, third)] == [302] * 3
    refused = submit(client, fourth, **here)

    assert refused.status_code == 429
    assert "Please try again later" in refused.content.decode()
    assert written() == (3, 3, 0)
    assert not Patient.objects.filter(first_name="Person3").exists()
    elsewhere = submit(client, fifth, REMOTE_ADDR="198.51.100.9")
    assert elsewhere.status_code == 302
    assert written() == (4, 4, 0)


def test_it_keeps_counting_when_a_process_forgets_its_own_cache(client, lupus, settings):
    settings.INTAKE_RATE_LIMIT = 2
    first, second, third = _people(lupus, 3)
    assert [submit(client, d).status_code for d in (first, second)] == [302] * 2

    cache.clear()  # the per-process cache, as another gunicorn worker would start with it
    refused = submit(client, third)

    assert refused.status_code == 429
    assert written() == (2, 2, 0)


def test_it_lets_the_address_submit_again_in_the_next_window(client, lupus, settings, monkeypatch):
    settings.INTAKE_RATE_LIMIT = 1
    first, second, third = _people(lupus, 3)
    clock = SimpleNamespace(now=1_800_000_000.0)
    monkeypatch.setattr("carecrm.rate_limit.time.time", lambda: clock.now)
    assert [submit(client, d).status_code for d in (first, second)] == [302, 429]

    clock.now += settings.INTAKE_RATE_WINDOW_SECONDS
    again = submit(client, third)

    assert again.status_code == 302
    assert written() == (2, 2, 0)
    assert RateCount.objects.count() == 1  # the ended window's count is gone


def test_it_counts_invalid_attempts_too(client, lupus, settings):
    settings.INTAKE_RATE_LIMIT = 3
    for _ in range(3):
        assert submit(client, valid_post(lupus, phone="1")).status_code == 400

    assert submit(client, valid_post(lupus)).status_code == 429
    assert written() == NOTHING


def test_it_counts_the_forwarded_address_behind_a_trusted_proxy(client, lupus, settings):
    settings.INTAKE_RATE_LIMIT = 3
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    people = _people(lupus, 6)

    statuses = [
        submit(client, people[0], **proxy, HTTP_X_FORWARDED_FOR="203.0.113.7").status_code,
        submit(client, people[1], **proxy, HTTP_X_FORWARDED_FOR="203.0.113.7").status_code,
        # A client cannot dodge the limit by prepending addresses of its own.
        submit(client, people[2], **proxy, HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.7").status_code,
        submit(client, people[3], **proxy, HTTP_X_FORWARDED_FOR="8.8.8.8, 203.0.113.7").status_code,
        submit(client, people[4], **proxy, HTTP_X_FORWARDED_FOR="198.51.100.9").status_code,
    ]

    assert statuses == [302, 302, 302, 429, 302]
    assert written() == (4, 4, 0)


def test_it_ignores_forwarded_addresses_without_a_trusted_proxy(client, lupus, settings):
    settings.INTAKE_RATE_LIMIT = 3
    settings.TRUSTED_PROXY_COUNT = 0
    here = {"REMOTE_ADDR": "203.0.113.7"}

    statuses = [
        submit(client, data, **here, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code
        for n, data in enumerate(_people(lupus, 4))
    ]

    assert statuses == [302, 302, 302, 429]
    assert written() == (3, 3, 0)


@pytest.mark.parametrize(
    "forwarded",
    ["", " ", ",,,", "not an address", "x" * 300, "1.2.3.4\x01", "::1, \t", "١٢٣.٤.٥.٦"],
)
def test_it_survives_a_hostile_forwarded_header(client, lupus, settings, forwarded):
    settings.TRUSTED_PROXY_COUNT = 1

    response = submit(client, valid_post(lupus), HTTP_X_FORWARDED_FOR=forwarded)

    assert response.status_code == 302
    assert written() == (1, 1, 0)
