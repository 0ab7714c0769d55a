"""Who gets a lead from the public form: the active coordinator with the fewest open
leads, counted from a snapshot kept in the shared cache."""

import pytest
from django.core.cache import caches

from referrals.models import (
    CloseReason,
    EventKind,
    Referral,
    Source,
    Stage,
)
from tests.factories import ReferralFactory
from tests.intake import (
    submit,
    valid_post,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


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
