"""Hostile request bodies against every public URL and every staff form (issue 24).

Each example takes a real form as the page renders it, replaces some of its fields with hostile
text (control, bidi and zero-width characters, NUL bytes, very long values), may declare another
charset or pad the body past the size limits, and posts it. Whatever is drawn:

- the answer is never a 500;
- a refusal (4xx) writes nothing: every row of every clinical and reference table is as before;
- the CSV and XLSX exports still build from whatever was written.

Examples run in a transaction rolled back afterwards, so each starts from the same data.
"""

from html.parser import HTMLParser
from io import BytesIO
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.db import transaction
from django.test import Client, override_settings
from django.urls import reverse
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from referrals.models import AccessLog
from tests.factories import ConditionFactory, ReferralFactory, TherapyFactory, UserFactory

HOSTILE_CHARACTERS = [
    "\x00",
    "\x01",
    "\x1b",
    "\x7f",
    "\r\n",
    "\u202e",  # right-to-left override
    "\u2066",  # left-to-right isolate
    "\u200b",  # zero-width space
    "\ufeff",
    "\u2028",
    "=cmd|' /C calc'!A0",
    "<script>alert(1)</script>",
    "'; DROP TABLE referrals_patient; --",
    "שלום",
    "😀",
]
CHARSETS = [None, "utf-8", "latin-1", "utf-16", "iso-8859-8", "x-no-such-charset"]

hostile_text = st.lists(
    st.one_of(
        st.sampled_from(HOSTILE_CHARACTERS),
        st.text(st.characters(blacklist_categories=["Cs"]), max_size=12),
    ),
    max_size=8,
).map("".join)


class _Forms(HTMLParser):
    """The POST forms of a page: their action and the fields with the values the page fills in."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._fields: dict[str, str] | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs) -> None:
        attrs = {name: value or "" for name, value in attrs}
        if tag == "form" and attrs.get("method", "").lower() == "post":
            self._fields = {}
            self.forms.append((attrs.get("action", ""), self._fields))
        if self._fields is None or ("name" not in attrs and tag != "option"):
            return
        if tag == "input" and attrs.get("type") not in {"submit", "button", "file", "image"}:
            if attrs.get("type") not in {"checkbox", "radio"} or "checked" in attrs:
                self._fields[attrs["name"]] = attrs.get("value", "")
        elif tag == "select":
            self._select = attrs["name"]
            self._fields.setdefault(attrs["name"], "")
        elif tag == "option" and self._select and "selected" in attrs:
            self._fields[self._select] = attrs.get("value", "")
        elif tag == "textarea":
            self._textarea = attrs["name"]
            self._fields[attrs["name"]] = ""

    def handle_data(self, data) -> None:
        if self._textarea and self._fields is not None:
            self._fields[self._textarea] += data

    def handle_endtag(self, tag) -> None:
        if tag == "form":
            self._fields = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def _forms_on(client: Client, *urls: str) -> list[tuple[str, dict[str, str]]]:
    """The POST forms of these pages, but signing out (which would end the session)."""
    found = []
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        parser = _Forms()
        parser.feed(response.content.decode())
        found += [(action or url, fields) for action, fields in parser.forms]
    return [(action, fields) for action, fields in found if action != reverse("admin:logout")]


def _snapshot() -> dict[str, list[tuple]]:
    """Every row of the clinical and reference tables (the access log records reads)."""
    models = [
        model
        for label in ("referrals", "trials")
        for model in apps.get_app_config(label).get_models()
        if model is not AccessLog and not model.__name__.startswith("Historical")
    ]
    return {model._meta.label: list(model.objects.order_by("pk").values_list()) for model in models}


def _body(fields: dict[str, str], charset: str | None, padding: int) -> bytes:
    text = urlencode(fields | ({"padding": "x" * padding} if padding else {}))
    codec = "latin-1" if charset == "x-no-such-charset" else charset or "utf-8"
    return text.encode(codec, errors="replace")


def _post_hostile(client: Client, targets, data) -> tuple[int, str | None]:
    action, fields = data.draw(st.sampled_from(targets), label="form")
    hostile = dict(fields)
    for name in data.draw(st.lists(st.sampled_from(sorted(fields) or ["x"]), unique=True)):
        hostile[name] = data.draw(hostile_text, label=name)
    charset = data.draw(st.sampled_from(CHARSETS), label="charset")
    padding = data.draw(
        st.sampled_from([0, 0, 0, django_settings.PUBLIC_MAX_BODY_BYTES]), label="padding"
    )
    content_type = "application/x-www-form-urlencoded" + (f"; charset={charset}" if charset else "")
    response = client.generic("POST", action, _body(hostile, charset, padding), content_type)
    event(f"{response.status_code}")
    assert response.status_code < 500, action
    if charset not in {None, "utf-8"}:
        assert response.status_code == 400, action
    return response.status_code, charset


def _exports_build(admin_client: Client) -> None:
    for export in ("export_csv", "export_xlsx"):
        response = admin_client.get(reverse(f"admin:referrals_referral_{export}"))
        assert response.status_code == 200
        # Reading to the end closes the response, as a WSGI server would; closing it again
        # would fire request_finished, which ends the test's database connection.
        content = b"".join(response.streaming_content)
        if export == "export_xlsx":
            load_workbook(BytesIO(content), read_only=True).close()


def _check_one(client, admin_client, targets, data) -> None:
    with override_settings(INTAKE_RATE_LIMIT=10**6), transaction.atomic():
        before = _snapshot()
        status, _charset = _post_hostile(client, targets, data)
        if status >= 400:
            assert _snapshot() == before
        _exports_build(admin_client)
        transaction.set_rollback(True)


@pytest.fixture
def reference(db):
    condition = ConditionFactory(name="Systemic lupus erythematosus", slug="sle")
    TherapyFactory(name="Rituximab")
    return condition


@pytest.fixture
def staff(coordinator, reference):
    lead = ReferralFactory(assigned_to=coordinator)
    lead.patient.condition = reference
    lead.patient.save()
    return lead


@pytest.fixture
def export_client(db):
    client = Client()
    client.force_login(UserFactory(username="exporter", role="Admin"))
    return client


HYPOTHESIS = hypothesis_settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@HYPOTHESIS
@given(data=st.data())
def test_it_never_fails_on_a_hostile_body_to_a_public_url(client, reference, export_client, data):
    targets = [
        *_forms_on(client, reverse("intake:form")),
        *_forms_on(client, reverse("admin:login")),
        (reverse("intake:thanks"), {"message": ""}),
        (reverse("two_factor:setup"), {"setup_view-current_step": "welcome"}),
        (reverse("admin:index"), {"q": ""}),
    ]

    _check_one(client, export_client, targets, data)


@HYPOTHESIS
@given(data=st.data())
def test_it_never_fails_on_a_hostile_body_to_a_staff_form(
    client, coordinator, staff, export_client, data
):
    client.force_login(coordinator)
    targets = [
        *_forms_on(client, reverse("referrals:lead", args=[staff.pk])),
        *_forms_on(client, reverse("two_factor:setup")),
    ]

    _check_one(client, export_client, targets, data)


@hypothesis_settings(HYPOTHESIS, max_examples=50)  # an admin form takes half a second
@given(data=st.data())
def test_it_never_fails_on_a_hostile_body_to_an_admin_form(
    admin_client_, staff, export_client, data
):
    targets = [
        *_forms_on(admin_client_, reverse("admin:referrals_patient_add")),
        *_forms_on(admin_client_, reverse("admin:referrals_referral_change", args=[staff.pk])),
        *_forms_on(admin_client_, reverse("admin:trials_hospital_add")),
        *_forms_on(admin_client_, reverse("admin:trials_program_add")),
        *_forms_on(admin_client_, reverse("admin:trials_trial_add")),
    ]

    _check_one(admin_client_, export_client, targets, data)


@pytest.mark.parametrize("key", ["9" * 30, "-9" + "9" * 25, "\x00", "1e3"])
def test_it_refuses_a_key_no_row_could_have_as_an_invalid_choice(coordinator_client, staff, key):
    response = coordinator_client.post(
        reverse("referrals:lead_task", args=[staff.pk]),
        {"title": "Call back", "due_on": "2026-12-10", "assignee": key},
    )

    assert response.status_code == 200  # the lead page again, with the form's errors
    assert "Select a valid choice" in response.content.decode()
    assert not staff.tasks.exists()
