import pytest

from referrals.models import Referral, Source, Stage
from tests.factories import ConditionFactory, TherapyFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_it_takes_a_hebrew_submission_into_the_coordinators_queue(
    page, live_server, login, coordinator
):
    ConditionFactory(
        name="Systemic lupus erythematosus",
        slug="sle",
        name_translations={"he": "זאבת אדמנתית מערכתית"},
    )
    rituximab = TherapyFactory(name="Rituximab", name_translations={"he": "ריטוקסימאב"})

    page.goto(f"{live_server.url}/check-eligibility/?lang=he")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("html").get_attribute("lang") == "he"
    assert "Check eligibility" not in page.locator("h1").inner_text()
    page.check("input[name=submitter_role][value=patient]")
    page.fill("#id_first_name", "נועה")
    page.fill("#id_last_name", "כהן")
    page.fill("#id_age", "41")
    page.select_option("#id_condition", "sle")
    page.fill("#id_diagnosis_year", "2016")
    page.select_option("#id_treatments-0-therapy", str(rituximab.pk))
    page.select_option("#id_treatments-0-outcome", "did_not_help")
    page.fill("#id_phone", "054-765-4321")
    page.fill("#id_email", "noa@example.org")
    page.check("#id_consent")
    page.locator("button[type=submit]").click()

    page.wait_for_url("**/check-eligibility/thanks/")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert "054" not in page.url and "noa" not in page.url
    lead = Referral.objects.get()
    assert (lead.source, lead.stage, lead.assigned_to) == (Source.WEB_FORM, Stage.NEW, coordinator)
    assert lead.patient.phone == "+972547654321"
    assert lead.patient.preferred_language == "he"

    login("coordinator")
    page.goto(f"{live_server.url}/admin/work/queue/")
    queue = page.get_by_test_id("queue")
    assert "נועה כהן" in queue.inner_text()
    queue.get_by_role("link", name="נועה כהן").click()
    page.wait_for_url(f"**/admin/work/leads/{lead.pk}/")
    assert "Rituximab" in page.get_by_test_id("lines").inner_text()
