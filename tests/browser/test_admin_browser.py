import pytest

from tests.factories import PriorTreatmentLineFactory, ReferralFactory
from trials.models import Hospital

# Groups come from a data migration; a live-server test flushes the database afterwards, so
# serialized_rollback puts them back for the tests that follow.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_it_lets_a_coordinator_open_the_referral_list_and_a_referral(
    page, live_server, login, coordinator
):
    line = PriorTreatmentLineFactory(patient__first_name="Tamar", patient__last_name="Levi")
    referral = ReferralFactory(patient=line.patient, assigned_to=coordinator)

    login("coordinator")
    page.goto(f"{live_server.url}/admin/referrals/referral/")
    page.get_by_role("link", name="Tamar Levi").first.click()

    page.wait_for_url(f"**/admin/referrals/referral/{referral.pk}/change/")
    assert page.locator("#id_next_action").is_visible()
    assert "Tamar Levi" in page.content()


def test_it_adds_a_hospital_from_the_program_form_in_unfolds_pop_up(
    page, live_server, login, admin_user
):
    login("admin")
    page.goto(f"{live_server.url}/admin/trials/program/add/")
    page.locator("[x-ref=relatedWidgetWrapperhospital]").click()  # the "⋮" beside the field
    page.locator("#add_id_hospital").click()

    frame = page.frame_locator("iframe.related-modal-frame")
    frame.locator("#id_name").fill("Sheba Medical Center")
    frame.locator("#id_city").fill("Ramat Gan")
    frame.locator("input[name=_save], button[name=_save]").first.click()

    selected = page.locator("#id_hospital option:checked")
    selected.wait_for(state="attached")
    assert selected.inner_text() == "Sheba Medical Center"
    assert Hospital.objects.filter(name="Sheba Medical Center").exists()
