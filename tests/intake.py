"""The public intake form as a visitor posts it, for the intake test modules (test_intake_*,
test_duplicates). Its fixtures (`lupus`, `rituximab`, `mycophenolate`, `empty_cache`) are in
conftest.py."""

import html
import re

from django.urls import reverse

from referrals.models import Patient, PriorTreatmentLine, Referral

ENGLISH_HEADING = "Check eligibility for CAR-T therapy"
ENGLISH_THANKS = "Thank you, we received your request"
ENGLISH_ACK_SUBJECT = "We received your request"
ENGLISH_ACK_BODY = (
    "Thank you for contacting us. We have received your request to check eligibility for CAR-T "
    "therapy."
)
PHONE_ERROR = "Enter a valid phone number, e.g. 054-765-4321 or +972 54 765 4321."
REQUIRED = "This field is required."
ROWS = 4  # the empty treatment rows the page offers
OUTCOMES = ["did_not_help", "stopped_working", "side_effects", "still_taking", "helped", "not_sure"]
DIRECTION = {"en": "ltr", "he": "rtl", "ru": "ltr", "ar": "rtl"}
NOTHING = (0, 0, 0)


def form_url(lang: str = "") -> str:
    return reverse("intake:form") + (f"?lang={lang}" if lang else "")


def management(total: int = ROWS, initial: int = 0) -> dict[str, str]:
    return {
        "treatments-TOTAL_FORMS": str(total),
        "treatments-INITIAL_FORMS": str(initial),
        "treatments-MIN_NUM_FORMS": "0",
        "treatments-MAX_NUM_FORMS": "12",
    }


def valid_post(condition, /, treatments=(), **fields) -> dict[str, str]:
    """What the page posts for a complete, valid form; `fields` override (None removes)."""
    data = {
        "submitter_role": "family",
        "submitter_name": "Yossi Levi",
        "first_name": "Dana",
        "last_name": "Levi",
        "date_of_birth": "1988-03-14",
        "age": "",
        "phone": "054-765-4321",
        "email": "dana.levi@example.org",
        "condition": condition.slug,
        "condition_other": "",
        "diagnosis_year": "2015",
        "message": "Kidney biopsy in 2021 showed class IV nephritis.",
        "preferred_language": "he",
        "contact_channel": "whatsapp",
        "consent": "on",
        "website": "",
        **management(max(ROWS, len(treatments))),
    }
    for row in range(max(ROWS, len(treatments))):
        data[f"treatments-{row}-therapy"] = data[f"treatments-{row}-outcome"] = ""
    for row, (therapy, outcome) in enumerate(treatments):
        data[f"treatments-{row}-therapy"] = str(therapy.pk)
        data[f"treatments-{row}-outcome"] = outcome
    for name, value in fields.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def written() -> tuple[int, int, int]:
    """Patients, leads and treatment lines: what a submission writes."""
    return (
        Patient.objects.count(),
        Referral.objects.count(),
        PriorTreatmentLine.objects.count(),
    )


def field_error_shown(response, field: str, message: str) -> bool:
    """The message is in the error list rendered right under that field's input."""
    pattern = rf'<li id="error_\d+_id_{re.escape(field)}"[^>]*>\s*{re.escape(html.escape(message))}'
    return re.search(pattern, response.content.decode()) is not None


def submit(client, data, **extra):
    return client.post(form_url(), data, **extra)
