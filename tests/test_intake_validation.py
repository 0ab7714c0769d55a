"""The intake form refuses invalid input field by field, in a 400 page, and writes
nothing."""

import datetime
import html

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tests.intake import (
    NOTHING,
    PHONE_ERROR,
    REQUIRED,
    field_error_shown,
    management,
    submit,
    valid_post,
    written,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


def _next_year() -> str:
    return str(timezone.localdate().year + 1)


def _tomorrow() -> str:
    return str(timezone.localdate() + datetime.timedelta(days=1))


INVALID = (
    [
        pytest.param({"phone": "123"}, "phone", PHONE_ERROR, id="phone-too-short"),
        pytest.param({"phone": "abc"}, "phone", PHONE_ERROR, id="phone-letters"),
        pytest.param({"phone": "+1 555 123 4567"}, "phone", PHONE_ERROR, id="phone-invalid-us"),
        pytest.param(
            {"phone": "054-765-4321" * 4},
            "phone",
            "Ensure this value has at most 40 characters (it has 48).",
            id="phone-too-long",
        ),
        pytest.param({"email": "dana.levi"}, "email", "Enter a valid email address.", id="email"),
        pytest.param(
            {"email": "dana@example"}, "email", "Enter a valid email address.", id="email-tld"
        ),
        pytest.param(
            {"date_of_birth": _tomorrow},
            "date_of_birth",
            "The date of birth cannot be in the future.",
            id="born-tomorrow",
        ),
        pytest.param(
            {"date_of_birth": "1850-01-01"},
            "date_of_birth",
            "Enter a real date of birth.",
            id="born-1850",
        ),
        pytest.param(
            {"date_of_birth": "2020-02-30"},
            "date_of_birth",
            "Enter a valid date.",
            id="born-feb-30",
        ),
        pytest.param(
            {"date_of_birth": "", "age": ""},
            "date_of_birth",
            "Give the date of birth or the age.",
            id="no-birth-no-age",
        ),
        pytest.param(
            {"date_of_birth": "", "age": "130"},
            "age",
            "Ensure this value is less than or equal to 120.",
            id="age-130",
        ),
        pytest.param(
            {"date_of_birth": "", "age": "-1"},
            "age",
            "Ensure this value is greater than or equal to 0.",
            id="age-negative",
        ),
        pytest.param(
            {"date_of_birth": "", "age": "forty"}, "age", "Enter a whole number.", id="age-words"
        ),
        pytest.param(
            {"diagnosis_year": _next_year},
            "diagnosis_year",
            "Ensure this value is less than or equal to {this_year}.",
            id="diagnosed-next-year",
        ),
        pytest.param(
            {"diagnosis_year": "1980"},
            "diagnosis_year",
            "The diagnosis cannot be before birth.",
            id="diagnosed-before-birth",
        ),
        pytest.param(
            {"condition": "other", "condition_other": ""},
            "condition_other",
            "Tell us the diagnosis, even roughly.",
            id="other-without-text",
        ),
        pytest.param(
            {"condition": "smallpox"},
            "condition",
            "Select a valid choice. smallpox is not one of the available choices.",
            id="unknown-condition",
        ),
        pytest.param(
            {"submitter_role": "family", "submitter_name": ""},
            "submitter_name",
            "Tell us your name.",
            id="family-without-name",
        ),
        pytest.param(
            {"submitter_role": "physician", "submitter_name": "   "},
            "submitter_name",
            "Tell us your name.",
            id="physician-blank-name",
        ),
        pytest.param(
            {"submitter_role": "robot"},
            "submitter_role",
            "Select a valid choice. robot is not one of the available choices.",
            id="unknown-role",
        ),
        pytest.param(
            {"preferred_language": "de"},
            "preferred_language",
            "Select a valid choice. de is not one of the available choices.",
            id="unknown-language",
        ),
        pytest.param({"consent": ""}, "consent", REQUIRED, id="consent-unchecked"),
        pytest.param({"consent": None}, "consent", REQUIRED, id="consent-missing"),
        pytest.param({"consent": "false"}, "consent", REQUIRED, id="consent-false"),
        pytest.param(
            {"treatments-0-therapy": "{therapy}", "treatments-0-outcome": ""},
            "treatments-0-outcome",
            "Tell us how it went.",
            id="therapy-without-outcome",
        ),
        pytest.param(
            {"treatments-2-therapy": "", "treatments-2-outcome": "did_not_help"},
            "treatments-2-therapy",
            "Choose the treatment.",
            id="outcome-without-therapy",
        ),
        pytest.param(
            {"treatments-0-therapy": "999999", "treatments-0-outcome": "did_not_help"},
            "treatments-0-therapy",
            "Select a valid choice. 999999 is not one of the available choices.",
            id="unknown-therapy",
        ),
        pytest.param(
            {"treatments-0-therapy": "{therapy}", "treatments-0-outcome": "cured"},
            "treatments-0-outcome",
            "Select a valid choice. cured is not one of the available choices.",
            id="unknown-outcome",
        ),
        pytest.param(
            {"first_name": "x" * 500},
            "first_name",
            "Ensure this value has at most 80 characters (it has 500).",
            id="first-name-500",
        ),
        pytest.param(
            {"message": "x" * 5000},
            "message",
            "Ensure this value has at most 2000 characters (it has 5000).",
            id="message-5000",
        ),
        # NUL and the other hidden characters are removed (tests/test_text.py); nothing is left.
        pytest.param({"first_name": "\x00\u200b\u202e"}, "first_name", REQUIRED, id="nul"),
    ]
    + [
        pytest.param({name: None}, name, REQUIRED, id=f"missing-{name}")
        for name in [
            "submitter_role",
            "first_name",
            "last_name",
            "phone",
            "condition",
            "preferred_language",
            "contact_channel",
        ]
    ]
    + [pytest.param({"first_name": "   "}, "first_name", REQUIRED, id="blank-first-name")]
)


@pytest.mark.parametrize(("fields", "field", "message"), INVALID)
def test_it_refuses_an_invalid_submission_and_writes_nothing(
    client, lupus, rituximab, coordinator, fields, field, message
):
    fields = {name: (value() if callable(value) else value) for name, value in fields.items()}
    fields = {
        name: value.replace("{therapy}", str(rituximab.pk)) if isinstance(value, str) else value
        for name, value in fields.items()
    }
    message = message.replace("{this_year}", str(timezone.localdate().year))

    response = submit(client, valid_post(lupus, **fields))

    assert response.status_code == 400
    assert field_error_shown(response, field, message), response.content.decode()
    assert "Nothing has been sent yet." in response.content.decode()
    assert written() == NOTHING
    assert DBTaskResult.objects.count() == 0


def test_it_marks_every_missing_field_of_an_empty_post(client, lupus):
    response = submit(client, {})

    assert response.status_code == 400
    for field in [
        "submitter_role",
        "first_name",
        "last_name",
        "phone",
        "condition",
        "preferred_language",
        "contact_channel",
        "consent",
    ]:
        assert field_error_shown(response, field, REQUIRED), field
    assert written() == NOTHING


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        pytest.param(management(total=50), "Please submit at most 12 forms.", id="50-rows"),
        pytest.param(management(total=13), "Please submit at most 12 forms.", id="13-rows"),
        pytest.param(
            {"treatments-TOTAL_FORMS": None, "treatments-INITIAL_FORMS": None},
            "ManagementForm data is missing or has been tampered with",
            id="no-management-form",
        ),
        pytest.param(
            {"treatments-TOTAL_FORMS": "abc"},
            "ManagementForm data is missing or has been tampered with",
            id="total-not-a-number",
        ),
        pytest.param(
            {"treatments-TOTAL_FORMS": "9" * 5000},
            "ManagementForm data is missing or has been tampered with",
            id="total-5000-digits",
        ),
    ],
)
def test_it_refuses_a_tampered_treatment_list(client, lupus, rituximab, fields, error):
    data = valid_post(lupus, treatments=[(rituximab, "did_not_help")], **fields)

    response = submit(client, data)

    assert response.status_code == 400
    assert f'<p class="intake-error">{html.escape(error)}' in response.content.decode()
    assert written() == NOTHING


def test_it_accepts_the_largest_allowed_treatment_list(client, lupus, rituximab, mycophenolate):
    therapies = [rituximab, mycophenolate] * 6
    data = valid_post(lupus, treatments=[(t, "did_not_help") for t in therapies])

    assert submit(client, data).status_code == 302
    assert written() == (1, 1, 12)
