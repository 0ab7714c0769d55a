"""A hospital liaison accepts a referral; the coordinator sees it in the queue and the timeline."""

import pytest
from playwright.sync_api import expect

from referrals.models import EventKind, Referral, Stage
from tests.browser.conftest import PASSWORD
from tests.factories import ProgramFactory, referred_lead

# Groups come from a data migration; a live-server test flushes the database afterwards, so
# serialized_rollback puts them back for the tests that follow.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_it_lets_a_liaison_accept_a_referral_that_the_coordinator_then_sees(
    page, browser, live_server, login, coordinator, liaison, liaison_b, hospital, hospital_b
):
    program = ProgramFactory(hospital=hospital, name="Point-of-care CD19 CAR-T")
    referral = referred_lead(program, coordinator=coordinator, first_name="Noa", last_name="Cohen")
    other = referred_lead(
        ProgramFactory(hospital=hospital_b), coordinator=coordinator, last_name="Mizrahi"
    )

    login("liaison")
    page.get_by_role("link", name="Referrals to my hospital").click()
    page.wait_for_url("**/admin/hospital/referrals/")
    rows = page.get_by_test_id("hospital-referrals")
    expect(rows).to_contain_text("Noa Cohen")
    expect(rows).not_to_contain_text("Mizrahi")
    rows.get_by_role("link", name="Noa Cohen").click()
    referral_url = f"{live_server.url}/admin/hospital/referrals/{referral.pk}/"
    page.wait_for_url(referral_url)
    expect(page.get_by_test_id("packet-patient")).to_contain_text("Noa Cohen")
    expect(page.get_by_test_id("stage")).to_have_text("Referred")

    accept = page.get_by_test_id("accept-form")
    accept.get_by_label("Note for the coordinator").fill("Consult on Tuesday.")
    accept.get_by_role("button", name="Accept the referral").click()
    page.wait_for_url(referral_url)
    expect(page.get_by_text("Referral accepted; the coordinator has been told.")).to_be_visible()
    expect(page.get_by_test_id("stage")).to_have_text("Accepted")
    expect(page.get_by_test_id("timeline")).to_contain_text("Referred → Accepted")
    # Another hospital's referral is not there to be guessed.
    assert page.goto(f"{live_server.url}/admin/hospital/referrals/{other.pk}/").status == 404

    # The coordinator, in a browser of their own.
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        desk = context.new_page()
        desk.set_default_timeout(10_000)
        desk.goto(f"{live_server.url}/admin/login/")
        desk.fill("input[name=auth-username]", "coordinator")
        desk.fill("input[name=auth-password]", PASSWORD)
        desk.click("button[type=submit]")
        desk.wait_for_url(f"{live_server.url}/admin/")
        desk.goto(f"{live_server.url}/admin/work/queue/")
        row = desk.get_by_test_id("queue").locator("tr", has_text="Noa Cohen")
        expect(row.get_by_test_id("hospital-update")).to_be_visible()
        row.get_by_role("link", name="Noa Cohen").click()
        desk.wait_for_url(f"**/admin/work/leads/{referral.pk}/")
        timeline = desk.get_by_test_id("timeline")
        expect(timeline).to_contain_text("Referred → Accepted")
        expect(timeline).to_contain_text("By Sheba Medical Center. Consult on Tuesday.")
        expect(desk.get_by_test_id("hospital-side")).to_contain_text("accepted")
        desk.goto(f"{live_server.url}/admin/work/queue/")
        expect(desk.get_by_test_id("hospital-update")).to_have_count(0)
    finally:
        context.close()

    referral = Referral.objects.get(pk=referral.pk)
    assert referral.stage == Stage.ACCEPTED
    event = referral.events.get(kind=EventKind.STAGE_CHANGE, to_stage=Stage.ACCEPTED)
    assert event.author == liaison
