"""What every page of the site shares: its icon."""

import pytest
from django.contrib.staticfiles import finders
from django.templatetags.static import static

pytestmark = pytest.mark.django_db


def test_it_answers_favicon_ico_with_the_sites_own_icon(client):
    response = client.get("/favicon.ico")

    assert (response.status_code, response["Location"]) == (301, static("carecrm/favicon.svg"))
    with open(finders.find("carecrm/favicon.svg"), encoding="utf-8") as icon:
        assert icon.read().startswith("<svg")


def test_it_names_the_icon_on_the_staff_and_the_public_pages(admin_client_, client):
    icon = static("carecrm/favicon.svg")

    assert f'href="{icon}"' in admin_client_.get("/admin/").text
    client.logout()
    assert f'href="{icon}"' in client.get("/check-eligibility/").text
