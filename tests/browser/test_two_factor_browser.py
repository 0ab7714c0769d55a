"""Two-factor sign-in in a browser: the password alone opens nothing; enrolment and recovery."""

from base64 import b32decode

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture(autouse=True)
def otp_required(settings):
    settings.OTP_REQUIRED = True


def _password(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=auth-username]", username)
    page.fill("input[name=auth-password]", PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_it_keeps_a_password_only_visitor_out_of_enrolment_and_the_staff_pages(
    page, live_server, coordinator
):
    phone = TOTPDevice.objects.create(user=coordinator, name="default")

    _password(page, live_server, "coordinator")
    expect(page.get_by_text("Enter the 6-digit code")).to_be_visible()
    # The probe's bypass: open setup for a new secret with the password-only session.
    page.goto(f"{live_server.url}/admin/two-factor/setup/")
    expect(page).to_have_url(f"{live_server.url}/admin/login/?next=/admin/two-factor/setup/")
    expect(page.get_by_test_id("totp-secret")).to_have_count(0)
    page.goto(f"{live_server.url}/admin/work/queue/")
    expect(page.locator("input[name=auth-username]")).to_be_visible()
    assert list(TOTPDevice.objects.filter(user=coordinator)) == [phone]

    _password(page, live_server, "coordinator")
    page.fill("input[name=token-otp_token]", f"{totp(phone.bin_key):06d}")
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{live_server.url}/admin/")
    page.goto(f"{live_server.url}/admin/work/queue/")
    expect(page).to_have_url(f"{live_server.url}/admin/work/queue/")
    expect(page).to_have_title("My queue | CareCRM")


def test_it_sets_up_a_phone_and_recovery_codes_on_first_sign_in(page, live_server, coordinator):
    _password(page, live_server, "coordinator")
    page.goto(f"{live_server.url}/admin/work/queue/")
    expect(page).to_have_url(f"{live_server.url}/admin/two-factor/setup/?next=/admin/work/queue/")
    page.get_by_role("button", name="Start").click()
    secret = page.get_by_test_id("totp-secret").inner_text()
    page.fill("input[name=generator-token]", f"{totp(b32decode(secret)):06d}")
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"{live_server.url}/admin/work/queue/")

    page.goto(f"{live_server.url}/admin/two-factor/")
    page.get_by_role("link", name="Recovery codes").click()
    page.get_by_role("button", name="Make new recovery codes").click()
    codes = StaticDevice.objects.get(user=coordinator).token_set.values_list("token", flat=True)
    for code in codes:
        expect(page.get_by_test_id("recovery-codes")).to_contain_text(code)
    assert TOTPDevice.objects.get(user=coordinator).confirmed
