"""What guards the public form besides validation: CSRF, the honeypot for bots and the
body size limit."""

from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from tests.intake import (
    NOTHING,
    form_url,
    submit,
    valid_post,
    written,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


# --- CSRF ----------------------------------------------------------------------------------------


def test_it_refuses_a_post_without_a_csrf_token(lupus):
    browser = Client(enforce_csrf_checks=True)

    response = browser.post(form_url(), valid_post(lupus))

    assert response.status_code == 403
    assert written() == NOTHING


def test_it_accepts_a_post_with_the_pages_csrf_token(lupus):
    browser = Client(enforce_csrf_checks=True)
    browser.get(form_url())
    token = browser.cookies["csrftoken"].value

    response = browser.post(form_url(), {**valid_post(lupus), "csrfmiddlewaretoken": token})

    assert response.status_code == 302
    assert written() == (1, 1, 0)


# --- the honeypot --------------------------------------------------------------------------------


@pytest.mark.parametrize("valid", [True, False])
def test_it_answers_a_bot_as_if_it_succeeded_and_writes_nothing(client, lupus, valid):
    data = valid_post(lupus, website="http://cheap-pills.example")
    if not valid:
        data["phone"] = "nope"

    response = submit(client, data)

    assert response.status_code == 302
    assert response.url == reverse("intake:thanks")
    assert written() == NOTHING
    assert DBTaskResult.objects.count() == 0


# --- oversize bodies -----------------------------------------------------------------------------


def test_it_refuses_an_oversize_body_before_reading_it(client, lupus, settings):
    data = valid_post(lupus, message="x" * settings.PUBLIC_MAX_BODY_BYTES)

    response = submit(client, data)

    assert response.status_code == 413
    assert "Too much data" in response.content.decode()
    assert written() == NOTHING


def test_it_refuses_an_oversize_urlencoded_body(client, lupus, settings):
    body = urlencode(valid_post(lupus)) + "&padding=" + "a" * settings.PUBLIC_MAX_BODY_BYTES

    response = client.post(form_url(), body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 413
    assert written() == NOTHING


@pytest.mark.parametrize(
    "declared", ["abc", "-1", "1e3", "0x10", " 12", "99999999999999999999", "9" * 5000]
)
def test_it_refuses_a_bogus_content_length(client, lupus, declared):
    response = submit(client, valid_post(lupus), CONTENT_LENGTH=declared)

    assert response.status_code == 413
    assert written() == NOTHING
