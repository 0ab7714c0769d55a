"""The public intake form in four languages, chosen, remembered and validated in; the staff
site stays in English.

Tests that need the project's own Hebrew, Russian and Arabic catalogues
(`locale/*/LC_MESSAGES/django.mo`) say so in their docstring.
"""

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape

from referrals.consent import CONSENT_TEXT
from referrals.models import Referral
from tests.intake import (
    DIRECTION,
    ENGLISH_HEADING,
    ENGLISH_THANKS,
    REQUIRED,
    field_error_shown,
    form_url,
    valid_post,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


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
    """Django's own catalogues are enough: the required-field error is in Hebrew."""
    with translation.override("he"):
        required = translation.gettext(REQUIRED)

    response = client.post(form_url("he"), valid_post(lupus, phone=""))

    assert response.status_code == 400
    assert '<html lang="he" dir="rtl">' in response.content.decode()
    assert required != REQUIRED
    assert field_error_shown(response, "phone", required)
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
    with translation.override(lang):
        heading = translation.gettext(ENGLISH_HEADING)
        thank_you = translation.gettext(ENGLISH_THANKS)

    form = client.get(form_url(lang))
    thanks = client.get(reverse("intake:thanks"))

    assert (form.status_code, thanks.status_code) == (200, 200)
    assert (heading, thank_you) != (ENGLISH_HEADING, ENGLISH_THANKS)  # the catalogue has them
    assert f'<h1 class="intake-title">{escape(heading)}</h1>' in form.text
    assert f'<h1 class="intake-title">{escape(thank_you)}</h1>' in thanks.text
    assert ENGLISH_HEADING not in form.text
    assert ENGLISH_THANKS not in thanks.text


def test_it_stores_the_consent_as_shown_in_hebrew_once_the_catalogue_exists(client, lupus):
    """Needs locale/he/LC_MESSAGES/django.mo."""
    client.post(form_url("he"), valid_post(lupus))

    referral = Referral.objects.get()
    with translation.override("he"):
        assert referral.consent_text == str(CONSENT_TEXT)
    with translation.override("en"):
        assert referral.consent_text != str(CONSENT_TEXT)


def test_it_has_the_catalogue_files_the_translated_tests_need():
    """Needs locale/{he,ru,ar}/LC_MESSAGES/django.mo (run `manage.py compilemessages`)."""
    locale = django_settings.BASE_DIR / "locale"
    missing = [
        lang
        for lang in ("he", "ru", "ar")
        if not (locale / lang / "LC_MESSAGES" / "django.mo").exists()
    ]
    assert missing == []
