"""Two coordinators, one lead, the same instant: no update is lost. PostgreSQL only.

Each thread has its own database connection, as two web requests would; SQLite's in-memory
test database cannot stand in for that, so these run in the PostgreSQL pass of CI.
"""

import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections
from django.test import Client

from referrals import services
from referrals.models import EventKind, Patient, Referral, Stage
from tests.factories import ConditionFactory, ReferralFactory

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs row locks across real connections"
    ),
]


def _race(*actions: Callable[[], object]) -> list[object]:
    """Run the actions at the same moment, each in its own thread and connection."""
    barrier = threading.Barrier(len(actions))
    outcomes: list[object] = [None] * len(actions)

    def run(index: int, action: Callable[[], object]) -> None:
        try:
            barrier.wait()
            outcomes[index] = action()
        except Exception as error:  # the outcome under test may be an error
            outcomes[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_it_lets_exactly_one_of_two_simultaneous_saves_win(coordinator, coordinator2):
    referral = ReferralFactory(stage=Stage.NEW)

    outcomes = _race(
        lambda: services.referral_transition(
            referral=Referral.objects.get(pk=referral.pk),
            to_stage=Stage.CONTACTED,
            by=coordinator,
            expected_version=1,
        ),
        lambda: services.referral_assign(
            referral=Referral.objects.get(pk=referral.pk),
            assignee=coordinator2,
            by=coordinator2,
            expected_version=1,
        ),
    )

    conflicts = [o for o in outcomes if isinstance(o, services.ReferralConflict)]
    winners = [o for o in outcomes if isinstance(o, Referral)]
    assert (len(winners), len(conflicts)) == (1, 1), outcomes
    referral.refresh_from_db()
    assert referral.version == 2
    moved = referral.stage == Stage.CONTACTED
    assigned = referral.assigned_to == coordinator2
    assert moved != assigned  # the winner's change, and only the winner's, is saved
    assert referral.events.filter(kind=EventKind.STAGE_CHANGE).exists() == moved
    assert referral.events.filter(kind=EventKind.ASSIGNMENT).exists() == assigned


def test_it_serialises_many_simultaneous_moves_of_one_lead(coordinator):
    referral = ReferralFactory(stage=Stage.NEW)

    outcomes = _race(
        *[
            lambda: services.referral_transition(
                referral=Referral.objects.get(pk=referral.pk),
                to_stage=Stage.CONTACTED,
                by=coordinator,
                expected_version=1,
            )
            for _ in range(6)
        ]
    )

    assert sum(isinstance(o, Referral) for o in outcomes) == 1
    assert sum(isinstance(o, services.ReferralError) for o in outcomes) == 5
    assert referral.events.filter(kind=EventKind.STAGE_CHANGE).count() == 1


def test_it_lands_every_one_of_many_simultaneous_intake_submissions(settings, coordinator):
    settings.INTAKE_RATE_LIMIT = 1000
    ConditionFactory(slug="sle", name="Systemic lupus erythematosus")

    def submit(index: int) -> int:
        return (
            Client()
            .post(
                "/check-eligibility/",
                {
                    "submitter_role": "patient",
                    "first_name": f"Patient{index}",
                    "last_name": "Concurrent",
                    "age": "40",
                    "phone": f"+97254765{index:04d}",
                    "condition": "sle",
                    "preferred_language": "en",
                    "contact_channel": "phone",
                    "consent": "on",
                    "treatments-TOTAL_FORMS": "0",
                    "treatments-INITIAL_FORMS": "0",
                },
                REMOTE_ADDR=f"10.0.0.{index}",
            )
            .status_code
        )

    statuses = _race(*[lambda i=i: submit(i) for i in range(8)])

    assert statuses == [302] * 8
    assert Patient.objects.filter(last_name="Concurrent").count() == 8
    assert Referral.objects.filter(patient__last_name="Concurrent").count() == 8
