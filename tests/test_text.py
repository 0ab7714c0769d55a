"""Hostile text: control, bidi and invisible characters are cleaned where text enters (every form,
the admin, the referral import), and every export builds whatever is already stored."""

import csv
import importlib
import inspect
import io
import json
import pkgutil
import re
from io import StringIO

import pytest
from django import forms
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import RequestFactory, override_settings
from django.urls import reverse
from fhir.resources.R4B.bundle import Bundle
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook
from pypdf import PdfReader

import carecrm.admin
import referrals.admin
import referrals.forms
import trials.forms
from carecrm.forms import CleanTextMixin, text_cleaner
from carecrm.text import multi_line, one_line, visible
from referrals.models import AccessLog, EventKind, Patient, Stage
from tests.factories import (
    ConditionFactory,
    HospitalFactory,
    PatientFactory,
    PriorTreatmentLineFactory,
    ProgramFactory,
    ReferralEventFactory,
    ReferralFactory,
    ScreeningRecordFactory,
    TherapyFactory,
    UserFactory,
)
from trials.models import Hospital

pytestmark = pytest.mark.django_db

# PostgreSQL refuses NUL in text outright; SQLite stores it.
NUL = "\x00" if connection.vendor == "sqlite" else ""
# What no cleaned text may contain: C0/C1 controls, bidi embeddings, overrides and isolates,
# direction marks, zero-width and other invisible characters.
UNCLEAN = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
)
HIDDEN = "\u202e\x00\u200b\x1b\ufeff"  # an override, NUL, a zero-width space, ESC, a BOM


# --- the rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "clean"),
    [
        ("\x01Start", "Start"),
        ("\u202eLevi\u202c", "Levi"),
        ("Le\u200bvi\u00ad", "Levi"),
        ("\u2066Dana\u2069 \u200fLevi\u200e", "Dana Levi"),
        ("a\x00b\x7f\x9b", "ab"),
        ("\ufeffDana\r\nLevi\tCohen\u2028Mizrahi", "Dana Levi Cohen Mizrahi"),
        ("  Dana \u00a0  Levi  ", "Dana Levi"),
        ("\u200b\u202e\x01", ""),
    ],
)
def test_it_cleans_one_line_text(typed, clean):
    assert one_line(typed) == clean


@pytest.mark.parametrize(
    "name",
    [
        "שָׁלוֹם כֹּהֵן",  # Hebrew with niqqud
        "ד״ר צ׳רלי בן־דוד",  # gershayim, geresh, maqaf
        "مُحَمَّد عـلي",  # Arabic harakat, shadda, tatweel
        "Алексе́й Ёлкин",  # the Russian stress accent, Ё
        "١٩٨٨ — O'Brien-Smith (née Lévy) ❤️",  # Arabic-Indic digits, a dash, an emoji's selector
    ],
)
def test_it_keeps_every_letter_and_mark_hebrew_arabic_and_russian_names_use(name):
    assert one_line(name) == multi_line(name) == name


def test_it_keeps_the_lines_of_multi_line_text():
    typed = "\r\nline one  \r\n\r\n\r\n\x07line\ttwo\u2028three\u2029four\n\n"

    assert multi_line(typed) == "line one\n\nline two\nthree\nfour"


def test_it_keeps_the_spacing_of_a_document():
    assert visible("<p>\n\t\u202eDana\x01  Levi</p>\r\n") == "<p>\n\tDana  Levi</p>\n"


@given(st.text())
def test_it_leaves_nothing_hidden_and_cleans_clean_text_to_itself(typed):
    line, lines = one_line(typed), multi_line(typed)

    assert not UNCLEAN.search(line)
    assert not UNCLEAN.search(lines.replace("\n", ""))
    assert one_line(line) == line and multi_line(lines) == lines


# --- every form cleans its text ----------------------------------------------------------------


def _with_submodules(*modules) -> list:
    """Each module, or every module of a package: any of them may declare forms."""
    found = []
    for module in modules:
        if not hasattr(module, "__path__"):
            found.append(module)
            continue
        for info in pkgutil.iter_modules(module.__path__, f"{module.__name__}."):
            found.append(importlib.import_module(info.name))
    return found


FORM_MODULES = _with_submodules(referrals.forms, trials.forms, referrals.admin, carecrm.admin)
OWN_APPS = {"referrals", "trials", "auth"}


def _declared_forms() -> list[type[forms.BaseForm]]:
    return [
        form
        for module in FORM_MODULES
        for _name, form in inspect.getmembers(module, inspect.isclass)
        if issubclass(form, forms.BaseForm) and form.__module__ == module.__name__
    ]


def _admin_forms() -> list[tuple[str, type[forms.BaseForm]]]:
    """The form of every admin page and inline of CareCRM's models, as the admin builds it."""
    request = RequestFactory().get("/")
    request.user = UserFactory(username="root", is_superuser=True)
    built = []
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in OWN_APPS:
            continue
        built.append((f"{model.__name__} add", model_admin.get_form(request)))
        obj = model.objects.first() or model()
        built.append((f"{model.__name__} change", model_admin.get_form(request, obj, change=True)))
        for inline in model_admin.get_inline_instances(request):
            built.append((f"{model.__name__} inline", inline.get_formset(request).form))
    return built


def test_every_form_and_admin_page_cleans_its_text():
    """A new form, admin page or inline fails here until it derives from the cleaning base."""
    forms_found = _declared_forms() + [form for _label, form in _admin_forms()]

    assert len(forms_found) > 40
    assert [form for form in forms_found if not issubclass(form, CleanTextMixin)] == []


def _form_kwargs(referral) -> dict[str, dict]:
    """What the forms that need more than data are given by their views."""
    return {
        "TransitionForm": {"referral": referral},
        "HospitalDatesForm": {"referral": referral},
        "TreatmentLineForm": {"patient": referral.patient},
        "TreatmentTriedForm": {"therapies": []},
    }


def _hostile(field: forms.Field) -> tuple[str, str]:
    """A value for the field, wrapped in hidden characters, and what it must read as."""
    if isinstance(field, forms.EmailField):
        plain = "dana@example.org"
    elif isinstance(field, forms.URLField):
        plain = "https://example.org/car-t"
    elif isinstance(field, forms.SlugField):
        plain = "sle"
    elif isinstance(field, forms.JSONField):
        plain = '{"he": "זאבת"}'
    else:
        plain = "Dana Levi"
    return f"{HIDDEN}{plain[:3]}\u200b{plain[3:]}\r\n{HIDDEN}", plain


def test_every_text_field_of_every_form_reads_its_input_cleaned():
    """Every text field, including one added to any of these forms later."""
    referral = ReferralFactory()
    kwargs = _form_kwargs(referral)
    checked = []
    for label, form_class in [(f.__name__, f) for f in _declared_forms()] + _admin_forms():
        text_fields = {
            name: _hostile(field)
            for name, field in form_class.base_fields.items()
            if text_cleaner(field) is not None
        }
        data = {name: typed for name, (typed, _plain) in text_fields.items()}
        form = form_class(data, **kwargs.get(form_class.__name__, {}))
        form.is_valid()
        for name, (_typed, plain) in text_fields.items():
            assert form[name].data == plain, (label, name)
            if isinstance(form.cleaned_data.get(name), str):
                assert not UNCLEAN.search(form.cleaned_data[name]), (label, name)
            checked.append((label, name))
    assert ("IntakeForm", "first_name") in checked
    assert ("Patient change", "notes") in checked
    assert ("Hospital inline", "name") in checked  # a program, in the hospital's page


def test_it_cleans_a_field_added_to_a_form_later():
    class ExtendedNoteForm(referrals.forms.NoteForm):
        summary = forms.CharField()

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.fields["detail"] = forms.CharField(widget=forms.Textarea)

    form = ExtendedNoteForm(
        {"kind": "note", "body": "ok", "summary": f"{HIDDEN}Call", "detail": "a\r\n\x07b"}
    )

    assert form.is_valid(), form.errors
    assert (form.cleaned_data["summary"], form.cleaned_data["detail"]) == ("Call", "a\nb")


# --- where text enters -----------------------------------------------------------------------


def _intake_body(condition, /, **fields) -> dict[str, str]:
    return {
        "submitter_role": "patient",
        "first_name": "Dana",
        "last_name": "Levi",
        "date_of_birth": "1988-03-14",
        "phone": "054-765-4321",
        "condition": condition.slug,
        "preferred_language": "he",
        "contact_channel": "phone",
        "consent": "on",
        "treatments-TOTAL_FORMS": "0",
        "treatments-INITIAL_FORMS": "0",
        **fields,
    }


@override_settings(INTAKE_RATE_LIMIT=100)
def test_it_stores_a_public_submission_as_it_reads(client, coordinator):
    cache.clear()
    condition = ConditionFactory(slug="sle")

    response = client.post(
        reverse("intake:form"),
        _intake_body(
            condition,
            first_name="\x01Start",
            last_name="\u202eיבול\u200b",  # "לוביי" reversed: an override spoofing a name
            phone="\u200b054-765-4321\x00",
            email="\ufeffdana@example.org",
            condition="other",
            condition_other="Still\x08's\x00 disease\u2066",
            message="Biopsy 2021.\r\n\r\n\r\n\x1b[2JClass IV\u202e nephritis",
        ),
    )

    assert response.status_code == 302, response.content[-2000:]
    patient = Patient.objects.get()
    assert (patient.first_name, patient.last_name) == ("Start", "יבול")
    assert (patient.phone, patient.email) == ("+972547654321", "dana@example.org")
    assert patient.condition_other == "Still's disease"
    assert patient.referrals.get().intake_message == "Biopsy 2021.\n\n[2JClass IV nephritis"


@override_settings(INTAKE_RATE_LIMIT=100)
def test_it_refuses_a_public_submission_whose_name_is_invisible(client):
    cache.clear()
    condition = ConditionFactory(slug="sle")

    response = client.post(
        reverse("intake:form"), _intake_body(condition, first_name="\u200b\u202e\x00")
    )

    assert response.status_code == 400
    assert "This field is required." in response.text
    assert not Patient.objects.exists()


def test_it_stores_a_coordinator_note_as_it_reads(coordinator_client):
    lead = ReferralFactory()

    coordinator_client.post(
        reverse("referrals:lead_note", args=[lead.pk]),
        {"kind": "note", "body": "Called\x07 the\u200b patient\r\nBack on\u202e Monday"},
    )

    note = lead.events.get(kind=EventKind.NOTE)
    assert note.body == "Called the patient\nBack on Monday"


def test_it_stores_what_an_admin_types_as_it_reads(admin_client_):
    response = admin_client_.post(
        reverse("admin:trials_hospital_add"),
        {
            "name": "\u202eSheba\x00 Medical\u200b Center",
            "city": "Ramat\tGan",
            "country": "Israel",
            "notes": "\x1bNorth\r\nentrance",
            "programs-TOTAL_FORMS": "1",
            "programs-INITIAL_FORMS": "0",
            "programs-0-name": "CD19\x01 CAR-T",
            "programs-0-car_target": "cd19",
            "programs-0-kind": "hospital_program",
            "programs-0-status": "accepting",
            "programs-0-min_failed_lines": "2",
            "programs-0-monthly_capacity": "2",
        },
    )

    assert response.status_code == 302, response.context["errors"] if response.context else ""
    hospital = Hospital.objects.get()
    assert (hospital.name, hospital.city, hospital.notes) == (
        "Sheba Medical Center",
        "Ramat Gan",
        "North\nentrance",
    )
    assert hospital.programs.get().name == "CD19 CAR-T"


def test_it_leaves_passwords_exactly_as_typed(admin_client_):
    password = "\u200bcorrect\x01horse  battery\u202e staple"

    response = admin_client_.post(
        reverse("admin:auth_user_add"),
        {
            "username": "\u202enurse",
            "password1": password,
            "password2": password,
            "usable_password": "true",
        },
    )

    assert response.status_code == 302, response.context["errors"] if response.context else ""
    nurse = User.objects.get(username="nurse")
    assert nurse.check_password(password)
    assert not nurse.check_password(one_line(password))


# --- every export builds from whatever is stored ---------------------------------------------


@pytest.fixture
def hostile_lead(coordinator):
    """A lead whose text was written straight to the database, as before the forms cleaned it."""
    coordinator.first_name = "\x1bCoordi\u202enator"
    coordinator.save()
    hospital = HospitalFactory(name="Sheba\x01 Medical\u200b Center", city="Ramat\x0bGan")
    program = ProgramFactory(name="CD19\x02 CAR-T", hospital=hospital)
    patient = PatientFactory(
        first_name=f"\x01Start{NUL}",
        last_name="\u202eLevi\u200b\x1b[31m",
        primary_condition=None,
        condition_other=f"Lupus\x0b\x08 \u2066nephritis\u2069{NUL}",
        city="\x07Haifa",
        notes="line one\r\n\x07line two\u2028three",
        exclusions="\x1f",
    )
    PriorTreatmentLineFactory(
        patient=patient, therapies=[TherapyFactory(name="Ritux\x03imab")], notes="\x05stopped"
    )
    referral = ReferralFactory(
        patient=patient,
        stage=Stage.SCREENING,
        assigned_to=coordinator,
        target_program=program,
        next_action="\x01=cmd|' /C calc'!A0",
        intake_message=f"Hello{NUL}\x85world",
        referring_physician_name="Dr\x1f. Cohen",
    )
    ScreeningRecordFactory(
        referral=referral, program=program, candidate_name="CD19\x01 \u202eCAR-T"
    )
    ReferralEventFactory(referral=referral, body="\x1b[2Jcleared")
    return referral


@pytest.fixture
def invisible_name_lead(coordinator):
    """A patient whose first name is nothing but invisible characters."""
    return ReferralFactory(
        patient=PatientFactory(first_name="\u200b\x01\u202e", primary_condition=None),
        assigned_to=coordinator,
        target_program=ProgramFactory(),
    )


def _streamed(response) -> bytes:
    assert response.status_code == 200
    return b"".join(response.streaming_content)


@pytest.mark.parametrize("model", ["referral", "screeningrecord"])
def test_it_builds_the_csv_and_xlsx_exports_from_hostile_stored_text(
    coordinator_client, hostile_lead, invisible_name_lead, model
):
    csv_body = _streamed(coordinator_client.get(reverse(f"admin:referrals_{model}_export_csv")))
    xlsx_body = _streamed(coordinator_client.get(reverse(f"admin:referrals_{model}_export_xlsx")))

    csv_cells = [cell for row in csv.reader(io.StringIO(csv_body.decode())) for cell in row]
    sheet = load_workbook(io.BytesIO(xlsx_body), read_only=True).active
    xlsx_cells = [str(v) for row in sheet.iter_rows(values_only=True) for v in row if v]
    for cells in (csv_cells[1:], xlsx_cells):  # the CSV's first cell starts with Excel's BOM
        assert not [cell for cell in cells if UNCLEAN.search(cell)]
        assert "S.L." in cells  # initials of the names as they read, not of their controls


def test_it_keeps_a_formula_hidden_behind_a_control_character_as_text(
    coordinator_client, hostile_lead
):
    body = _streamed(coordinator_client.get(reverse("admin:referrals_referral_export_csv")))
    [row] = list(csv.reader(io.StringIO(body.decode())))[1:]

    assert row[12] == "'=cmd|' /C calc'!A0"


def test_it_builds_the_subject_access_export_from_hostile_stored_text(admin_client_, hostile_lead):
    patient = hostile_lead.patient
    response = admin_client_.get(reverse("admin:referrals_patient_export_data", args=[patient.pk]))
    out = StringIO()
    call_command("export_patient", str(patient.pk), stdout=out)

    assert response.status_code == 200
    # Everything held, as held: the subject access export is not the place to tidy it.
    assert json.loads(response.content)["patient"]["first_name"] == patient.first_name
    assert json.loads(out.getvalue())["patient"]["last_name"] == patient.last_name


@pytest.mark.parametrize("fixture", ["hostile_lead", "invisible_name_lead"])
def test_it_builds_a_conforming_fhir_bundle_from_hostile_stored_text(
    coordinator_client, request, fixture
):
    lead = request.getfixturevalue(fixture)
    response = coordinator_client.get(reverse("referrals:lead_fhir", args=[lead.pk]))
    out = StringIO()
    call_command("export_fhir", str(lead.pk), stdout=out)

    assert response.status_code == 200
    for body in (response.text, out.getvalue()):
        bundle = Bundle.model_validate_json(body)
        strings = _strings(json.loads(body))
        # FHIR: "Strings SHALL NOT contain Unicode character points below 32, except for
        # u0009, u000D and u000A", and no string is empty.
        assert not [s for s in strings if UNCLEAN.search(s) or not s.strip()]
        assert bundle.entry[0].resource.name[0].family
    assert AccessLog.objects.filter(detail__startswith="FHIR bundle").count() == 2


@pytest.mark.parametrize("fixture", ["hostile_lead", "invisible_name_lead"])
def test_it_renders_the_referral_packet_from_hostile_stored_text(
    coordinator_client, request, fixture
):
    lead = request.getfixturevalue(fixture)
    page = coordinator_client.get(reverse("referrals:lead_packet", args=[lead.pk]))
    pdf = coordinator_client.get(reverse("referrals:lead_packet_pdf", args=[lead.pk]))

    assert page.status_code == 200
    assert not UNCLEAN.search(re.sub("[\t\n]", "", page.text))
    assert pdf.status_code == 200
    pdf_text = "".join(sheet.extract_text() for sheet in PdfReader(io.BytesIO(pdf.content)).pages)
    assert not UNCLEAN.search(re.sub("[\t\n]", "", pdf_text))
    if fixture == "hostile_lead":
        assert "Start Levi" in page.text and "Start Levi" in pdf_text


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def test_the_factories_store_what_they_are_given():
    """The export tests above hold only if the hostile text really reached the database."""
    user = UserFactory(first_name="\x01x")
    user.refresh_from_db()
    assert user.first_name == "\x01x"
