"""Hostile text: control, bidi and invisible characters are cleaned where text enters (every form,
the admin, the referral import)."""

import inspect
import re

import pytest
from django import forms
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import RequestFactory, override_settings
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

import carecrm.admin
import referrals.admin
import referrals.forms
import trials.forms
from carecrm.forms import CleanTextMixin, text_cleaner
from carecrm.text import multi_line, one_line, visible
from referrals.models import EventKind, Patient
from tests.factories import (
    ConditionFactory,
    ReferralFactory,
    UserFactory,
)
from trials.models import Hospital

pytestmark = pytest.mark.django_db

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

FORM_MODULES = [referrals.forms, trials.forms, referrals.admin, carecrm.admin]
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
