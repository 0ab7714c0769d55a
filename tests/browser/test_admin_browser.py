import pytest

from tests.factories import PriorTreatmentLineFactory, ReferralFactory

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
