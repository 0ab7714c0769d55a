"""The public intake form: four languages, a lead end to end, hostile input, duplicates, merge.

Whatever is posted the answer is a page (302, 400, 403, 413 or 429), never a 500, and nothing is
written unless the whole submission is valid. Tests that need the project's own Hebrew, Russian
and Arabic catalogues (`locale/*/LC_MESSAGES/django.mo`) say so in their docstring.
"""

import datetime
import html
import re
import smtplib
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.cache import cache, caches
from django.db import DatabaseError, transaction
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone, translation
from django_tasks_db.models import DBTaskResult
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from referrals.consent import CONSENT_TEXT, CONSENT_VERSION
from referrals.models import (
    CloseReason,
    EventKind,
    Patient,
    PriorTreatmentLine,
    ReasonStopped,
    Referral,
    ReferralEvent,
    Source,
    Stage,
    Task,
)
from referrals.services import ReferralError, referral_merge
from referrals.tasks import coordinator_notify, submitter_acknowledge
from tests.factories import (
    ConditionFactory,
    PatientFactory,
    PriorTreatmentLineFactory,
    ReferralEventFactory,
    ReferralFactory,
    TaskFactory,
    TherapyFactory,
)
from trials.models import DrugClass

pytestmark = pytest.mark.django_db

ENGLISH_HEADING = "Check eligibility for CAR-T therapy"
ENGLISH_THANKS = "Thank you, we received your request"
ENGLISH_ACK_SUBJECT = "We received your request"
PHONE_ERROR = "Enter a valid phone number, e.g. 054-765-4321 or +972 54 765 4321."
REQUIRED = "This field is required."
ROWS = 4  # the empty treatment rows the page offers
OUTCOMES = ["did_not_help", "stopped_working", "side_effects", "still_taking", "helped", "not_sure"]
DIRECTION = {"en": "ltr", "he": "rtl", "ru": "ltr", "ar": "rtl"}


@pytest.fixture(autouse=True)
def empty_cache():
    """The rate limit lives in the cache; every test starts with a clean slate."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def lupus(db):
    return ConditionFactory(
        slug="sle",
        name="Systemic lupus erythematosus",
        name_translations={"he": "זאבת אדמנתית מערכתית", "ru": "Системная красная волчанка"},
    )


@pytest.fixture
def rituximab(db):
    return TherapyFactory(name="Rituximab", drug_class=DrugClass.ANTI_CD20)


@pytest.fixture
def mycophenolate(db):
    return TherapyFactory(name="Mycophenolate mofetil")


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
    return (
        Patient.objects.count(),
        Referral.objects.count(),
        PriorTreatmentLine.objects.count(),
    )


NOTHING = (0, 0, 0)


def field_error_shown(response, field: str, message: str) -> bool:
    """The message is in the error list rendered right under that field's input."""
    pattern = rf'<li id="error_\d+_id_{re.escape(field)}"[^>]*>\s*{re.escape(html.escape(message))}'
    return re.search(pattern, response.content.decode()) is not None


def submit(client, data, **extra):
    return client.post(form_url(), data, **extra)


# --- 1. languages ----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "he", "ru", "ar"])
def test_it_renders_the_form_in_each_language(client, lupus, lang):
    response = client.get(form_url(lang))

    assert response.status_code == 200
    assert f'<html lang="{lang}" dir="{DIRECTION[lang]}">' in response.content.decode()
    assert response["Content-Language"] == lang
    assert response.cookies["django_language"].value == lang
    assert 'name="first_name"' in response.content.decode()


def test_it_reads_the_menus_once_and_shows_an_admins_edit_at_once(
    client, lupus, rituximab, django_assert_num_queries
):
    client.get(form_url("he"))
    # None: an anonymous visitor has no session, and both menus come from the cache.
    with django_assert_num_queries(0):
        response = client.get(form_url("he"))
    assert "זאבת אדמנתית מערכתית" in response.text

    lupus.name_translations = {**lupus.name_translations, "he": "לופוס"}
    lupus.save()
    rituximab.name_translations = {"he": "ריטוקסימאב"}
    rituximab.save()

    response = client.get(form_url("he"))
    assert "לופוס" in response.text
    assert "זאבת אדמנתית מערכתית" not in response.text
    assert "ריטוקסימאב" in response.text


@pytest.mark.parametrize(
    ("accept", "lang"),
    [("he-IL,he;q=0.9,en;q=0.5", "he"), ("ru", "ru"), ("ar-EG,ar;q=0.8", "ar"), ("de,fr", "en")],
)
def test_it_picks_the_language_from_accept_language(client, lupus, accept, lang):
    response = client.get(form_url(), headers={"accept-language": accept})

    assert f'<html lang="{lang}" dir="{DIRECTION[lang]}">' in response.content.decode()
    assert response["Content-Language"] == lang
    assert "django_language" not in response.cookies  # only an explicit choice is remembered


def test_it_ignores_an_unsupported_lang_parameter(client, lupus):
    response = client.get(form_url("xx"), headers={"accept-language": "ru"})

    assert response["Content-Language"] == "ru"
    assert "django_language" not in response.cookies


def test_it_remembers_the_chosen_language_for_later_visits(client, lupus):
    client.get(form_url("ar"))

    later = client.get(form_url(), headers={"accept-language": "ru"})
    thanks = client.get(reverse("intake:thanks"))

    assert '<html lang="ar" dir="rtl">' in later.content.decode()
    assert later["Content-Language"] == "ar"
    assert '<html lang="ar" dir="rtl">' in thanks.content.decode()
    assert thanks["Content-Language"] == "ar"
    switched = client.get(form_url("en"))
    assert switched.cookies["django_language"].value == "en"
    assert '<html lang="en" dir="ltr">' in client.get(form_url()).content.decode()


def test_it_validates_in_the_page_language(client, lupus):
    """Django's own catalogues are enough: the required-field error is not in English."""
    response = client.post(form_url("he"), valid_post(lupus, phone=""))

    assert response.status_code == 400
    assert '<html lang="he" dir="rtl">' in response.content.decode()
    assert re.search(r'<li id="error_1_id_phone"', response.content.decode())
    assert not field_error_shown(response, "phone", REQUIRED)


def test_it_keeps_the_staff_site_in_english(client, lupus):
    client.get(form_url("he"))

    response = client.get(reverse("admin:login"))

    assert response.status_code == 200
    assert 'lang="en"' in response.content.decode()
    assert response.get("Content-Language", "en") == "en"


@pytest.mark.parametrize("lang", ["he", "ru", "ar"])
def test_it_translates_the_pages_once_the_catalogues_exist(client, lupus, lang):
    """Needs locale/<lang>/LC_MESSAGES/django.mo."""
    form = client.get(form_url(lang)).content.decode()
    thanks = client.get(reverse("intake:thanks")).content.decode()

    assert ENGLISH_HEADING not in form
    assert ENGLISH_THANKS not in thanks


def test_it_stores_the_consent_as_shown_in_hebrew_once_the_catalogue_exists(client, lupus):
    """Needs locale/he/LC_MESSAGES/django.mo."""
    client.post(form_url("he"), valid_post(lupus))

    referral = Referral.objects.get()
    with translation.override("he"):
        assert referral.consent_text == str(CONSENT_TEXT)
    with translation.override("en"):
        assert referral.consent_text != str(CONSENT_TEXT)


# --- 2. a valid submission -------------------------------------------------------------------


def test_it_turns_a_valid_submission_into_one_lead(
    client, lupus, rituximab, mycophenolate, coordinator
):
    before = timezone.now()
    data = valid_post(
        lupus, treatments=[(rituximab, "did_not_help"), (mycophenolate, "side_effects")]
    )

    response = submit(client, data)

    assert response.status_code == 302
    assert response.url == reverse("intake:thanks")  # nothing personal in the URL
    assert written() == (1, 1, 2)
    patient = Patient.objects.get()
    assert (patient.first_name, patient.last_name) == ("Dana", "Levi")
    assert patient.date_of_birth == datetime.date(1988, 3, 14)
    assert patient.stated_age is None
    assert patient.phone == "+972547654321"
    assert patient.email == "dana.levi@example.org"
    assert patient.preferred_language == "he"
    assert patient.primary_condition == lupus
    assert patient.condition_other == ""
    assert patient.diagnosis_year == 2015

    referral = Referral.objects.get()
    assert referral.patient == patient
    assert referral.source == Source.WEB_FORM
    assert referral.stage == Stage.NEW
    assert referral.close_reason == ""
    assert referral.assigned_to == coordinator
    assert referral.submitter_role == "family"
    assert referral.submitter_name == "Yossi Levi"
    assert referral.contact_channel == "whatsapp"
    assert referral.intake_message == "Kidney biopsy in 2021 showed class IV nephritis."
    assert referral.consent_version == CONSENT_VERSION
    with translation.override("en"):
        assert referral.consent_text == str(CONSENT_TEXT)
    assert before <= referral.consented_at <= timezone.now()
    assert referral.next_action_due >= timezone.localdate()
    assert list(referral.possible_duplicates.all()) == []

    lines = [
        (line.line_number, line.reason_stopped, [t.name for t in line.therapies.all()])
        for line in patient.treatment_lines.order_by("line_number")
    ]
    assert lines == [
        (1, ReasonStopped.INADEQUATE_RESPONSE, ["Rituximab"]),
        (2, ReasonStopped.INTOLERANCE, ["Mycophenolate mofetil"]),
    ]
    assert patient.failed_line_count == 2

    events = list(referral.events.order_by("id").values_list("kind", "to_stage", "body"))
    assert events == [
        (EventKind.CREATED, Stage.NEW, "Lead received from the public form."),
        (EventKind.ASSIGNMENT, "", f"Assigned to {coordinator.get_full_name()}"),
    ]

    queued = DBTaskResult.objects.order_by("task_path")
    assert [(r.task_path, r.args_kwargs) for r in queued] == [
        (
            "referrals.tasks.coordinator_notify",
            {"args": [], "kwargs": {"referral_id": referral.pk}},
        ),
        (
            "referrals.tasks.submitter_acknowledge",
            {"args": [], "kwargs": {"referral_id": referral.pk}},
        ),
    ]
    assert mail.outbox == []  # sent by the worker, not by the form


def test_it_queues_no_email_for_a_submission_that_failed_to_save(client, lupus, monkeypatch):
    """The e-mails are queued in the lead's transaction: a rolled-back lead mails nobody."""

    def fail(**kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr("referrals.tasks.submitter_acknowledge", SimpleNamespace(enqueue=fail))

    with pytest.raises(DatabaseError):
        submit(client, valid_post(lupus))

    assert written() == NOTHING
    assert DBTaskResult.objects.count() == 0


@pytest.mark.parametrize(
    ("outcome", "reason", "failed"),
    [
        ("did_not_help", ReasonStopped.INADEQUATE_RESPONSE, True),
        ("stopped_working", ReasonStopped.LOSS_OF_RESPONSE, True),
        ("side_effects", ReasonStopped.INTOLERANCE, True),
        ("still_taking", ReasonStopped.ONGOING, False),
        ("helped", ReasonStopped.REMISSION, False),
        ("not_sure", ReasonStopped.UNKNOWN, False),
    ],
)
def test_it_maps_each_outcome_to_a_reason_stopped(
    client, lupus, rituximab, outcome, reason, failed
):
    response = submit(client, valid_post(lupus, treatments=[(rituximab, outcome)]))

    assert response.status_code == 302
    line = PriorTreatmentLine.objects.get()
    assert line.reason_stopped == reason
    assert list(line.therapies.all()) == [rituximab]
    assert line.counts_as_failed is failed


def test_it_skips_empty_rows_and_keeps_the_order_of_filled_ones(
    client, lupus, rituximab, mycophenolate
):
    data = valid_post(
        lupus,
        **{
            "treatments-1-therapy": str(mycophenolate.pk),
            "treatments-1-outcome": "stopped_working",
            "treatments-3-therapy": str(rituximab.pk),
            "treatments-3-outcome": "still_taking",
        },
    )

    assert submit(client, data).status_code == 302

    lines = PriorTreatmentLine.objects.order_by("line_number")
    assert [(ln.line_number, ln.therapies.get().name) for ln in lines] == [
        (1, "Mycophenolate mofetil"),
        (2, "Rituximab"),
    ]


def test_it_keeps_the_stated_age_when_no_date_of_birth_is_given(client, lupus):
    response = submit(client, valid_post(lupus, date_of_birth="", age="47", diagnosis_year=""))

    assert response.status_code == 302
    patient = Patient.objects.get()
    assert patient.date_of_birth is None
    assert patient.stated_age == 47
    assert patient.stated_age_on == timezone.localdate()
    assert patient.age == 47


def test_it_keeps_a_diagnosis_in_the_patients_words(client, lupus):
    data = valid_post(lupus, condition="other", condition_other="Still's disease, not sure")

    assert submit(client, data).status_code == 302

    patient = Patient.objects.get()
    assert patient.primary_condition is None
    assert patient.condition_other == "Still's disease, not sure"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("054-765-4321", "+972547654321"),
        ("+972 54 765 4321", "+972547654321"),
        ("(054) 7654321", "+972547654321"),
        ("03-123-4567", "+97231234567"),
        ("+1 212 555 0100", "+12125550100"),
    ],
)
def test_it_stores_the_phone_in_e164(client, lupus, typed, stored):
    assert submit(client, valid_post(lupus, phone=typed)).status_code == 302

    assert Patient.objects.get().phone == stored


def test_it_assigns_the_coordinator_with_the_fewest_open_leads(
    client, lupus, coordinator, coordinator2, inactive_user, admin_user
):
    for _ in range(2):
        ReferralFactory(assigned_to=coordinator, stage=Stage.CONTACTED)
    ReferralFactory(assigned_to=coordinator2, stage=Stage.SCREENING)
    for _ in range(3):  # closed leads are not workload
        ReferralFactory(
            assigned_to=coordinator2, stage=Stage.CLOSED, close_reason=CloseReason.NOT_REACHABLE
        )
    # Neither an inactive coordinator nor a non-coordinator gets leads, however idle.
    assert inactive_user.groups.filter(name="Coordinator").exists()

    assert submit(client, valid_post(lupus)).status_code == 302

    referral = Referral.objects.get(source=Source.WEB_FORM)
    assert referral.assigned_to == coordinator2
    assert referral.events.filter(
        kind=EventKind.ASSIGNMENT, body=f"Assigned to {coordinator2.get_full_name()}"
    ).exists()


def test_it_assigns_the_next_lead_to_whoever_is_now_least_loaded(
    client, lupus, coordinator, coordinator2
):
    ReferralFactory(assigned_to=coordinator)

    submit(client, valid_post(lupus, phone="054-765-4321"))
    submit(client, valid_post(lupus, phone="052-555-1234", first_name="Noa"))

    assignees = Referral.objects.filter(source=Source.WEB_FORM).order_by("id")
    assert [r.assigned_to for r in assignees] == [coordinator2, coordinator]


def test_it_counts_leads_created_since_the_workload_snapshot(
    client, lupus, coordinator, coordinator2
):
    ReferralFactory(assigned_to=coordinator)
    submit(client, valid_post(lupus, phone="054-765-4321"))  # takes the snapshot: to coordinator2
    for _ in range(2):  # created after the snapshot, by hand or by the import
        ReferralFactory(assigned_to=coordinator2, stage=Stage.SCREENING)

    submit(client, valid_post(lupus, phone="052-555-1234", first_name="Noa"))

    assert Referral.objects.filter(source=Source.WEB_FORM).latest("pk").assigned_to == coordinator


def test_it_counts_a_closed_lead_until_the_next_workload_snapshot(
    client, lupus, coordinator, coordinator2
):
    for _ in range(2):
        ReferralFactory(assigned_to=coordinator, stage=Stage.CONTACTED)
    ReferralFactory(assigned_to=coordinator2, stage=Stage.CONTACTED)
    submit(client, valid_post(lupus, phone="054-765-4321"))  # 2 and 2 now
    Referral.objects.filter(assigned_to=coordinator).update(
        stage=Stage.CLOSED, close_reason=CloseReason.NOT_REACHABLE
    )

    submit(client, valid_post(lupus, phone="052-555-1234", first_name="Noa"))
    caches["shared"].clear()  # what COORDINATOR_LOAD_SECONDS does
    submit(client, valid_post(lupus, phone="052-555-7777", first_name="Tal"))

    assignees = Referral.objects.filter(source=Source.WEB_FORM).order_by("pk")
    # The second lead still counted coordinator's two closed leads: 2 + 0 against 1 + 1, a tie
    # the longer-standing coordinator wins. Without a fresh count the third would go to
    # coordinator2 (3 against 2); counted afresh, coordinator carries 1 open lead, not 3.
    assert [r.assigned_to for r in assignees] == [coordinator2, coordinator, coordinator]


def test_it_keeps_the_lead_unassigned_when_nobody_coordinates(client, lupus, admin_user):
    assert submit(client, valid_post(lupus)).status_code == 302

    referral = Referral.objects.get()
    assert referral.assigned_to is None
    assert not referral.events.filter(kind=EventKind.ASSIGNMENT).exists()


# --- e-mails ---------------------------------------------------------------------------------


def _submitted_lead(client, condition, /, **fields):
    response = submit(client, valid_post(condition, **fields))
    assert response.status_code == 302
    return Referral.objects.select_related("patient").get(source=Source.WEB_FORM)


def test_it_mails_the_coordinator_in_english(client, lupus, coordinator):
    referral = _submitted_lead(client, lupus)

    with translation.override("he"):  # whatever language the worker happens to be in
        assert coordinator_notify.call(referral_id=referral.pk) is True

    [message] = mail.outbox
    assert message.to == [coordinator.email]
    assert message.subject == f"New lead #{referral.pk} from the web form"
    assert f"Lead #{referral.pk}: Dana Levi" in message.body
    assert "Diagnosis: Systemic lupus erythematosus" in message.body
    assert "Filled in by: A relative or carer (Yossi Levi)" in message.body
    assert "Contact by: WhatsApp, language Hebrew" in message.body
    assert reverse("referrals:lead", args=[referral.pk]) in message.body
    assert "Possible duplicate" not in message.body


@pytest.mark.parametrize("lang", ["he", "ru", "ar"])
def test_it_acknowledges_in_the_submitters_language_without_health_details(
    client, lupus, rituximab, coordinator, lang
):
    referral = _submitted_lead(
        client,
        lupus,
        preferred_language=lang,
        **{"treatments-0-therapy": str(rituximab.pk), "treatments-0-outcome": "did_not_help"},
    )

    assert submitter_acknowledge.call(referral_id=referral.pk) is True

    [message] = mail.outbox
    assert message.to == ["dana.levi@example.org"]
    with translation.override(lang):
        assert message.subject == translation.gettext(ENGLISH_ACK_SUBJECT)
    text = f"{message.subject}\n{message.body}"
    assert "Dana" in message.body
    for private in [
        "lupus",
        "волчанка",
        "זאבת",
        "Rituximab",
        "nephritis",
        "+972547654321",
        "054-765-4321",
        "7654321",
        "Levi",
    ]:
        assert private.lower() not in text.lower()


@pytest.mark.parametrize("lang", ["he", "ru", "ar"])
def test_it_translates_the_acknowledgement_once_the_catalogues_exist(client, lupus, lang):
    """Needs locale/<lang>/LC_MESSAGES/django.mo."""
    referral = _submitted_lead(client, lupus, preferred_language=lang)

    submitter_acknowledge.call(referral_id=referral.pk)

    [message] = mail.outbox
    assert message.subject != ENGLISH_ACK_SUBJECT
    assert "Thank you for contacting us" not in message.body


def test_it_does_not_acknowledge_without_an_email_address(client, lupus, coordinator):
    referral = _submitted_lead(client, lupus, email="")

    assert submitter_acknowledge.call(referral_id=referral.pk) is False
    assert coordinator_notify.call(referral_id=referral.pk) is True
    assert [m.to for m in mail.outbox] == [[coordinator.email]]


# --- 3. a failing mail server ----------------------------------------------------------------


def test_it_never_loses_the_lead_when_the_mail_server_fails(
    client, lupus, coordinator, monkeypatch, task_worker
):
    def refuse(*args, **kwargs):
        raise smtplib.SMTPException("421 mail server unavailable")

    monkeypatch.setattr("referrals.tasks.send_mail", refuse)

    response = submit(client, valid_post(lupus))

    assert response.status_code == 302
    referral = Referral.objects.get()
    with pytest.raises(smtplib.SMTPException):
        coordinator_notify.call(referral_id=referral.pk)
    with pytest.raises(smtplib.SMTPException):
        submitter_acknowledge.call(referral_id=referral.pk)

    # The worker records each e-mail task as failed; the lead is untouched.
    for result in DBTaskResult.objects.all():
        task_worker.run_task(result)
    results = DBTaskResult.objects.all()
    assert len(results) == 2
    assert {(r.status, r.exception_class_path) for r in results} == {
        ("FAILED", "smtplib.SMTPException")
    }
    assert mail.outbox == []
    assert written() == (1, 1, 0)
    referral.refresh_from_db()
    assert (referral.stage, referral.assigned_to) == (Stage.NEW, coordinator)
    assert referral.events.count() == 2


# --- 4. validation ---------------------------------------------------------------------------


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


# --- 5. CSRF ---------------------------------------------------------------------------------


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


# --- 6. honeypot -----------------------------------------------------------------------------


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


# --- 7. rate limit ---------------------------------------------------------------------------


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
    monkeypatch.setattr("referrals.views.intake.time.time", lambda: clock.now)
    assert [submit(client, d).status_code for d in (first, second)] == [302, 429]

    clock.now += settings.INTAKE_RATE_WINDOW_SECONDS
    again = submit(client, third)

    assert again.status_code == 302
    assert written() == (2, 2, 0)


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


# --- 8. oversize bodies ----------------------------------------------------------------------


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


# --- 9. duplicates ---------------------------------------------------------------------------


@pytest.fixture
def earlier_lead(db, lupus):
    patient = PatientFactory(
        first_name="Dana",
        last_name="Levi",
        date_of_birth=datetime.date(1988, 3, 14),
        phone="+972547654321",
        email="dana.levi@example.org",
        primary_condition=lupus,
    )
    return ReferralFactory(patient=patient, stage=Stage.CONTACTED)


OTHER_PERSON = {
    "first_name": "Miriam",
    "last_name": "Cohen",
    "date_of_birth": "1975-07-01",
    "phone": "052-555-1234",
    "email": "miriam@example.org",
}


@pytest.mark.parametrize(
    "same",
    [
        pytest.param({"phone": "+972 54 765 4321"}, id="same-phone"),
        pytest.param({"email": "DANA.Levi@Example.ORG"}, id="same-email-other-case"),
        pytest.param(
            {"first_name": "dana", "last_name": "LEVI", "date_of_birth": "1988-03-14"},
            id="same-name-and-birth-date",
        ),
    ],
)
def test_it_flags_a_likely_duplicate(client, lupus, earlier_lead, coordinator, same):
    response = submit(client, valid_post(lupus, **{**OTHER_PERSON, **same}))

    assert response.status_code == 302
    new = Referral.objects.get(source=Source.WEB_FORM)
    assert list(new.possible_duplicates.all()) == [earlier_lead]
    created = new.events.get(kind=EventKind.CREATED)
    assert f"Possible duplicate of #{earlier_lead.pk}." in created.body
    coordinator_notify.call(referral_id=new.pk)
    assert "Possible duplicate" in mail.outbox[0].body


@pytest.mark.parametrize(
    "other",
    [
        pytest.param({}, id="different-person"),
        pytest.param(
            {"first_name": "Dana", "last_name": "Levi", "date_of_birth": "1990-03-14"},
            id="same-name-other-birth-date",
        ),
        pytest.param(
            {"first_name": "Dana", "last_name": "Levi", "date_of_birth": "", "age": "38"},
            id="same-name-no-birth-date",
        ),
    ],
)
def test_it_does_not_flag_a_different_person(client, lupus, earlier_lead, other):
    response = submit(client, valid_post(lupus, **{**OTHER_PERSON, **other}))

    assert response.status_code == 302
    new = Referral.objects.get(source=Source.WEB_FORM)
    assert list(new.possible_duplicates.all()) == []
    assert "duplicate" not in new.events.get(kind=EventKind.CREATED).body


def test_it_does_not_flag_against_a_lead_already_merged_away(client, lupus, earlier_lead):
    keep = ReferralFactory()
    referral_merge(keep=keep, duplicate=earlier_lead, by=None)

    submit(client, valid_post(lupus, **{**OTHER_PERSON, "phone": "054-765-4321"}))

    new = Referral.objects.get(source=Source.WEB_FORM)
    assert earlier_lead not in new.possible_duplicates.all()


# --- 10. merge -------------------------------------------------------------------------------


@pytest.fixture
def two_leads(db, coordinator, rituximab, mycophenolate):
    """`keep` with two lines and a note; `duplicate` with two lines, history, notes, tasks."""
    keep_patient = PatientFactory(email="", phone="+972547654321")
    PriorTreatmentLineFactory(patient=keep_patient, line_number=1, therapies=[rituximab])
    PriorTreatmentLineFactory(patient=keep_patient, line_number=2, therapies=[mycophenolate])
    keep = ReferralFactory(patient=keep_patient, stage=Stage.CONTACTED, assigned_to=coordinator)
    ReferralEventFactory(referral=keep, kind=EventKind.NOTE, body="Keep's own note")

    dup_patient = PatientFactory(email="second@example.org", phone="+972525551234")
    hydroxy = TherapyFactory(name="Hydroxychloroquine", drug_class=DrugClass.ANTIMALARIAL)
    PriorTreatmentLineFactory(patient=dup_patient, line_number=1, therapies=[hydroxy])
    PriorTreatmentLineFactory(patient=dup_patient, line_number=2, therapies=[rituximab])
    duplicate = ReferralFactory(
        patient=dup_patient,
        stage=Stage.RECORDS_REQUESTED,
        next_action="Chase records",
        next_action_due=timezone.localdate(),
    )
    ReferralEventFactory(
        referral=duplicate,
        kind=EventKind.STAGE_CHANGE,
        from_stage=Stage.NEW,
        to_stage=Stage.CONTACTED,
        body="",
    )
    ReferralEventFactory(referral=duplicate, kind=EventKind.NOTE, body="Prefers mornings")
    ReferralEventFactory(referral=duplicate, kind=EventKind.CALL, body="No answer")
    TaskFactory(referral=duplicate, title="Open task", assignee=coordinator)
    TaskFactory(referral=duplicate, title="Done task", assignee=coordinator, done_at=timezone.now())
    keep.possible_duplicates.add(duplicate)
    return keep, duplicate


def _totals():
    return (
        Patient.objects.count(),
        Referral.objects.count(),
        PriorTreatmentLine.objects.count(),
        ReferralEvent.objects.count(),
        Task.objects.count(),
    )


def test_it_merges_a_duplicate_into_the_lead_to_keep(two_leads, coordinator):
    keep, duplicate = two_leads
    patients, referrals, lines, events, tasks = _totals()
    keep_version = keep.version

    referral_merge(keep=keep, duplicate=duplicate, by=coordinator)

    keep.refresh_from_db()
    duplicate.refresh_from_db()
    assert duplicate.stage == Stage.CLOSED
    assert duplicate.close_reason == CloseReason.DUPLICATE
    assert duplicate.merged_into == keep
    assert duplicate.next_action == ""
    assert duplicate.next_action_due is None
    assert keep.stage == Stage.CONTACTED
    assert keep.version == keep_version + 1
    assert list(keep.possible_duplicates.all()) == []

    merged_lines = [
        (line.line_number, [t.name for t in line.therapies.all()])
        for line in keep.patient.treatment_lines.order_by("line_number")
    ]
    assert merged_lines == [
        (1, ["Rituximab"]),
        (2, ["Mycophenolate mofetil"]),
        (3, ["Hydroxychloroquine"]),
        (4, ["Rituximab"]),
    ]
    assert not duplicate.patient.treatment_lines.exists()
    keep.patient.refresh_from_db()
    assert keep.patient.email == "second@example.org"  # blank details filled in
    assert keep.patient.phone == "+972547654321"  # the kept lead's own details win

    assert list(keep.tasks.values_list("title", flat=True)) == ["Open task"]
    assert list(duplicate.tasks.values_list("title", flat=True)) == ["Done task"]
    assert sorted(keep.events.filter(kind__in=["note", "call"]).values_list("body", flat=True)) == [
        "Keep's own note",
        "No answer",
        "Prefers mornings",
    ]
    history = duplicate.events.filter(kind=EventKind.STAGE_CHANGE).order_by("id")
    assert [(e.from_stage, e.to_stage) for e in history] == [
        (Stage.NEW, Stage.CONTACTED),
        (Stage.RECORDS_REQUESTED, Stage.CLOSED),
    ]
    merge_event = keep.events.get(kind=EventKind.MERGE)
    assert f"#{duplicate.pk}" in merge_event.body
    assert merge_event.author == coordinator

    # Nothing deleted: the closing and merge events are the only new rows.
    assert _totals() == (patients, referrals, lines, events + 2, tasks)


def test_it_merges_two_leads_of_the_same_patient_without_renumbering(two_leads):
    keep, _ = two_leads
    second = ReferralFactory(patient=keep.patient, stage=Stage.NEW)
    before = list(keep.patient.treatment_lines.values_list("id", "line_number"))

    referral_merge(keep=keep, duplicate=second, by=None)

    assert list(keep.patient.treatment_lines.values_list("id", "line_number")) == before
    second.refresh_from_db()
    assert (second.stage, second.merged_into) == (Stage.CLOSED, keep)


def _snapshot():
    return (
        sorted(
            Referral.objects.values_list("id", "stage", "close_reason", "merged_into", "version")
        ),
        sorted(PriorTreatmentLine.objects.values_list("id", "patient", "line_number")),
        sorted(ReferralEvent.objects.values_list("id", "referral")),
        sorted(Task.objects.values_list("id", "referral")),
        sorted(Patient.objects.values_list("id", "email", "phone")),
    )


@pytest.mark.parametrize("case", ["itself", "closed", "already-merged", "keep-closed"])
def test_it_refuses_an_impossible_merge_and_changes_nothing(two_leads, case):
    keep, duplicate = two_leads
    if case == "itself":
        duplicate = keep
    elif case == "closed":
        duplicate.stage, duplicate.close_reason = Stage.CLOSED, CloseReason.NOT_REACHABLE
        duplicate.save()
    elif case == "already-merged":
        elsewhere = ReferralFactory()
        referral_merge(keep=elsewhere, duplicate=duplicate, by=None)
        duplicate.refresh_from_db()
    elif case == "keep-closed":
        keep.stage, keep.close_reason = Stage.CLOSED, CloseReason.DECLINED_BY_PATIENT
        keep.save()
    before = _snapshot()

    with pytest.raises(ReferralError):
        referral_merge(keep=keep, duplicate=duplicate, by=None)

    assert _snapshot() == before


# --- 11. hostile input, generated ------------------------------------------------------------

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
                assert after[:2] == (before[0] + 1, before[1] + 1)
                assert after[2] - before[2] == new.patient.treatment_lines.count()
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


def test_it_has_the_catalogue_files_the_translated_tests_need():
    """Needs locale/{he,ru,ar}/LC_MESSAGES/django.mo (run `manage.py compilemessages`)."""
    locale = django_settings.BASE_DIR / "locale"
    missing = [
        lang
        for lang in ("he", "ru", "ar")
        if not (locale / lang / "LC_MESSAGES" / "django.mo").exists()
    ]
    assert missing == []
