"""Generated hostile input to the public form: whatever is posted the answer is a page
(302, 400 or 413), never a 500, and nothing is written unless the whole submission is
valid."""

from urllib.parse import urlencode

import pytest
from django import forms
from django.conf import settings as django_settings
from django.db import transaction
from django.test import override_settings
from django.urls import reverse
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from referrals.models import (
    Referral,
    Stage,
)
from tests.intake import (
    OUTCOMES,
    ROWS,
    form_url,
    management,
    submit,
    written,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


FIELD_NAMES = [
    "submitter_role",
    "submitter_name",
    "first_name",
    "last_name",
    "date_of_birth",
    "age",
    "phone",
    "email",
    "condition",
    "condition_other",
    "diagnosis_year",
    "message",
    "preferred_language",
    "contact_channel",
    "consent",
    "website",
    "treatments-TOTAL_FORMS",
    "treatments-INITIAL_FORMS",
    "treatments-MIN_NUM_FORMS",
    "treatments-MAX_NUM_FORMS",
    *(f"treatments-{row}-{part}" for row in range(5) for part in ("therapy", "outcome")),
]
HOSTILE_STRINGS = [
    "' OR '1'='1' --",
    "'; DROP TABLE referrals_patient; --",
    "1; SELECT pg_sleep(5)",
    '"><script>alert(1)</script>',
    "<img src=x onerror=alert(1)>",
    "{{ settings.SECRET_KEY }}",
    "{% debug %}",
    "%s%s%s%n",
    "../../../../etc/passwd",
    "\x00",
    "a\x00b",
    "\u202e\u200f",
    "\ufeff",
    "𝕯𝖆𝖓𝖆 🧬",
    "١٩٨٨-٠٣-١٤",
    "٣٠",
    "NaN",
    "Infinity",
    "-0",
    "1e309",
    "0x1F",
    "9" * 5000,
    "null",
    "None",
    "[]",
    "{}",
    "\r\n\r\n",
    "\\",
    "%00",
    "other",
    "on",
    "0",
    "-1",
    "99999999999999999999",
]
LENGTHS = [79, 80, 81, 160, 161, 200, 201, 254, 255, 2000, 2001, 10_000]

hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x9F, categories=["Cc"]), max_size=8),
    st.sampled_from(HOSTILE_STRINGS),
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    # Form fields travel as UTF-8, which cannot carry lone surrogates; raw bytes are drawn apart.
    st.builds(lambda ch, n: ch * n, st.characters(codec="utf-8"), st.sampled_from(LENGTHS)),
    st.dates().map(str),
    st.just(""),
)
total_forms = st.one_of(st.integers(min_value=-3, max_value=60).map(str), hostile_text)


THERAPY_TOKENS = ["{therapy0}", "{therapy1}"]  # replaced by real ids inside the test
VALID_VALUES = {
    "submitter_role": st.sampled_from(["patient", "family", "physician"]),
    "submitter_name": st.sampled_from(["", "Yossi Levi"]),
    "first_name": st.sampled_from(["Dana", "דנה", "Дана"]),
    "last_name": st.sampled_from(["Levi", "לוי"]),
    "date_of_birth": st.sampled_from(["", "1988-03-14", "2001-12-31"]),
    "age": st.sampled_from(["", "0", "47", "120"]),
    "phone": st.sampled_from(["054-765-4321", "+972 52 555 1234", "03-123-4567"]),
    "email": st.sampled_from(["", "dana@example.org"]),
    "condition": st.sampled_from(["sle", "other"]),
    "condition_other": st.sampled_from(["", "Still's disease"]),
    "diagnosis_year": st.sampled_from(["", "2015"]),
    "message": st.sampled_from(["", "Biopsy in 2021."]),
    "preferred_language": st.sampled_from(["en", "he", "ru", "ar"]),
    "contact_channel": st.sampled_from(["phone", "whatsapp", "email"]),
    "consent": st.sampled_from(["on", "", "true"]),
    "website": st.just(""),
    "treatments-TOTAL_FORMS": total_forms,
    "treatments-INITIAL_FORMS": st.sampled_from(["0", "1", "5"]),
    "treatments-MIN_NUM_FORMS": st.just("0"),
    "treatments-MAX_NUM_FORMS": st.just("12"),
    **{
        f"treatments-{row}-{part}": st.sampled_from(["", *choices])
        for row in range(5)
        for part, choices in (("therapy", THERAPY_TOKENS), ("outcome", OUTCOMES))
    },
}
BASE = {
    **dict.fromkeys(FIELD_NAMES, ""),
    "submitter_role": "patient",
    "first_name": "Dana",
    "last_name": "Levi",
    "date_of_birth": "1988-03-14",
    "phone": "054-765-4321",
    "email": "dana@example.org",
    "condition": "sle",
    "preferred_language": "he",
    "contact_channel": "phone",
    "consent": "on",
    **management(),
}
del BASE["treatments-4-therapy"], BASE["treatments-4-outcome"]


@st.composite
def random_bodies(draw):
    """Any subset of the real fields, each valid or hostile, plus keys nobody expects."""
    fields = draw(
        st.fixed_dictionaries(
            {},
            optional={
                name: st.one_of(VALID_VALUES[name], hostile_text)
                for name in FIELD_NAMES
                if name != "website"
            },
        )
    )
    if draw(st.integers(min_value=0, max_value=9)) == 0:  # now and then, a bot
        fields["website"] = draw(hostile_text)
    extra = draw(st.dictionaries(st.text(max_size=30), hostile_text, max_size=4))
    return {**fields, **extra}


@st.composite
def corrupted_bodies(draw):
    """A valid submission with exactly one field removed or replaced by something hostile."""
    body = dict(BASE)
    name = draw(st.sampled_from(sorted(body)))
    if draw(st.booleans()):
        del body[name]
    else:
        body[name] = draw(hostile_text)
    return body


@st.composite
def valid_bodies(draw):
    body = dict(BASE)
    for name in ("submitter_role", "preferred_language", "contact_channel", "phone"):
        body[name] = draw(VALID_VALUES[name])
    if body["submitter_role"] != "patient":
        body["submitter_name"] = "Yossi Levi"
    for row in range(ROWS):
        if draw(st.booleans()):
            body[f"treatments-{row}-therapy"] = draw(st.sampled_from(THERAPY_TOKENS))
            body[f"treatments-{row}-outcome"] = draw(st.sampled_from(OUTCOMES))
    return body


hostile_requests = st.one_of(
    # Branches are picked about evenly, so the hostile ones are listed more than once.
    st.tuples(st.just("form"), random_bodies()),
    st.tuples(st.just("form"), random_bodies()),
    st.tuples(st.just("form"), random_bodies()),
    st.tuples(st.just("form"), corrupted_bodies()),
    st.tuples(st.just("form"), corrupted_bodies()),
    st.tuples(st.just("form"), valid_bodies()),
    st.tuples(st.just("multipart"), st.one_of(random_bodies(), corrupted_bodies())),
    st.tuples(st.sampled_from(["raw-form", "raw-multipart", "raw-json"]), st.binary(max_size=2000)),
    st.tuples(st.just("huge"), st.integers(min_value=-100, max_value=100)),
)
CONTENT_TYPES = {
    "form": "application/x-www-form-urlencoded",
    "raw-form": "application/x-www-form-urlencoded",
    "raw-multipart": "multipart/form-data; boundary=xYzZY",
    "raw-json": "application/json",
    "huge": "application/x-www-form-urlencoded",
}


def _encode(kind, body, therapies) -> bytes | dict[str, str]:
    """The request body: tokens replaced by real therapy ids; `huge` lands around the limit."""
    if kind.startswith("raw"):
        return body
    if kind == "huge":
        prefix = urlencode(_encode("multipart", BASE, therapies)).encode() + b"&message="
        return prefix + b"x" * (django_settings.PUBLIC_MAX_BODY_BYTES - len(prefix) + body)
    ids = dict(zip(THERAPY_TOKENS, therapies, strict=True))
    body = {name: ids.get(value, value) for name, value in body.items()}
    return body if kind == "multipart" else urlencode(body).encode()


def _posted_therapies(post) -> list[str]:
    """The therapy of each filled-in row, in order: the rows the formset reads are the first
    TOTAL_FORMS (Django's number parsing, at most the 12 allowed)."""
    rows = min(forms.IntegerField().clean(post["treatments-TOTAL_FORMS"]), 12)
    therapies = (post.get(f"treatments-{row}-therapy", "") for row in range(rows))
    return [therapy for therapy in therapies if therapy]


@hypothesis_settings(
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_it_never_fails_or_writes_half_a_lead_on_hostile_input(
    client, lupus, rituximab, mycophenolate, coordinator, data
):
    kind, drawn = data.draw(hostile_requests, label="request")
    body = _encode(kind, drawn, [str(rituximab.pk), str(mycophenolate.pk)])

    # Per example, not via the `settings` fixture: that stacks one layer per assignment.
    with override_settings(INTAKE_RATE_LIMIT=10**9), transaction.atomic():
        before = written()
        if kind == "multipart":
            response = client.post(form_url(), body)
            size = int(response.wsgi_request.META["CONTENT_LENGTH"])
        else:
            response = client.post(form_url(), body, content_type=CONTENT_TYPES[kind])
            size = len(body)
        after = written()
        event(f"{kind} -> {response.status_code}")

        assert response.status_code in {302, 400, 413}
        assert (response.status_code == 413) == (size > django_settings.PUBLIC_MAX_BODY_BYTES)
        if response.status_code == 302:
            assert response.url == reverse("intake:thanks")
            if response.wsgi_request.POST.get("website"):  # the honeypot: a bot is told "thanks"
                event("honeypot")
                assert after == before
            else:
                new = Referral.objects.select_related("patient").latest("id")
                lines = [
                    (line.line_number, str(line.therapies.get().pk))
                    for line in new.patient.treatment_lines.order_by("line_number")
                ]
                posted = _posted_therapies(response.wsgi_request.POST)
                assert after == (before[0] + 1, before[1] + 1, before[2] + len(posted))
                assert lines == list(enumerate(posted, start=1))
                assert new.stage == Stage.NEW
                assert new.consented_at is not None
        else:
            assert after == before
        transaction.set_rollback(True)  # each example leaves the database as it found it


@hypothesis_settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_it_accepts_every_well_formed_submission(client, lupus, rituximab, mycophenolate, data):
    """The generator's valid bodies really are valid, so the property test reaches the writes."""
    body = _encode(
        "multipart", data.draw(valid_bodies()), [str(rituximab.pk), str(mycophenolate.pk)]
    )
    rows = sum(1 for row in range(ROWS) if body[f"treatments-{row}-therapy"])

    with override_settings(INTAKE_RATE_LIMIT=10**9), transaction.atomic():
        before = written()
        response = submit(client, body)
        assert response.status_code == 302
        assert written() == (before[0] + 1, before[1] + 1, before[2] + rows)
        transaction.set_rollback(True)
