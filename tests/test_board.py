"""The pipeline board: a column per open stage, its filters, and moving a card."""

import datetime
import html
import re

import pytest
from django.utils import timezone

from referrals.models import (
    OPEN_STAGES,
    CloseReason,
    EventKind,
    Referral,
    Stage,
)
from referrals.selectors import BOARD_COLUMN_LIMIT
from tests import pages
from tests.factories import (
    ConditionFactory,
    PatientFactory,
    PriorTreatmentLineFactory,
    ProgramFactory,
    ReferralFactory,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("count", [5, 50])
def test_it_loads_the_board_in_the_same_queries_for_5_or_50_leads(
    coordinator_client, coordinator, coordinator2, django_assert_num_queries, count
):
    for number in range(count):
        line = PriorTreatmentLineFactory()
        ReferralFactory(
            patient=line.patient,
            stage=OPEN_STAGES[number % len(OPEN_STAGES)],
            assigned_to=coordinator if number % 2 else coordinator2,
            target_program=ProgramFactory() if number % 5 == 0 else None,
        )

    # 1 session, 2 user, 3 user permissions, 4 group permissions,
    # 5 counts per stage, 6-15 the ids of the first cards of each of the ten open columns (one
    # index range each), 16 those cards (patient, condition and coordinator joined, each with
    # its failed-line count), 17 coordinators, 18 conditions, 19 programs with hospitals (the
    # three filter menus).
    with django_assert_num_queries(19):
        response = coordinator_client.get(pages.url("board"))

    assert sum(pages.board_count(response, stage) for stage in OPEN_STAGES) == count
    assert sum(len(pages.card_ids(pages.column(response, stage))) for stage in OPEN_STAGES) == count


def test_it_shows_a_column_per_open_stage_with_its_count(coordinator_client):
    new = ReferralFactory.create_batch(2, stage=Stage.NEW)
    contacted = ReferralFactory(stage=Stage.CONTACTED)
    screening = ReferralFactory.create_batch(3, stage=Stage.SCREENING)
    closed = ReferralFactory(stage=Stage.CLOSED, close_reason=CloseReason.DUPLICATE)

    response = coordinator_client.get(pages.url("board"))

    stages = re.findall(r'<section class="crm-column" data-stage="(\w+)"', pages.text(response))
    assert stages == [stage.value for stage in OPEN_STAGES]
    assert pages.board_count(response, "new") == 2
    assert pages.board_count(response, "contacted") == 1
    assert pages.board_count(response, "screening") == 3
    assert pages.board_count(response, "eligible") == 0
    assert set(pages.card_ids(pages.column(response, "new"))) == {r.pk for r in new}
    assert pages.card_ids(pages.column(response, "contacted")) == [contacted.pk]
    assert set(pages.card_ids(pages.column(response, "screening"))) == {r.pk for r in screening}
    assert f'data-referral="{closed.pk}"' not in pages.text(response)


@pytest.mark.parametrize("filter_by", ["coordinator", "condition", "program"])
def test_it_filters_the_board(coordinator_client, coordinator, coordinator2, filter_by):
    wanted_condition, wanted_program = ConditionFactory(), ProgramFactory()
    wanted = ReferralFactory(
        patient=PatientFactory(primary_condition=wanted_condition),
        assigned_to=coordinator,
        target_program=wanted_program,
    )
    ReferralFactory(assigned_to=coordinator2, target_program=ProgramFactory())
    ReferralFactory(assigned_to=None)
    value = {
        "coordinator": coordinator.pk,
        "condition": wanted_condition.pk,
        "program": wanted_program.pk,
    }[filter_by]

    response = coordinator_client.get(pages.url("board"), {filter_by: value})

    assert pages.board_count(response, "new") == 1
    assert pages.card_ids(pages.column(response, "new")) == [wanted.pk]


def test_it_caps_a_column_and_links_to_the_rest(coordinator_client):
    start = timezone.now() - datetime.timedelta(days=30)
    waiting = [
        ReferralFactory(stage=Stage.NEW, stage_changed_at=start + datetime.timedelta(hours=n))
        for n in range(BOARD_COLUMN_LIMIT + 3)
    ]

    response = coordinator_client.get(pages.url("board"))

    column = pages.column(response, "new")
    assert pages.board_count(response, "new") == BOARD_COLUMN_LIMIT + 3
    assert pages.card_ids(column) == [r.pk for r in waiting[:BOARD_COLUMN_LIMIT]]
    assert "+3 more" in column
    assert "?stage__exact=new" in column
    assert "more</a>" not in pages.column(response, "contacted")


# --- moving a card -------------------------------------------------------------------------------


def _board_move(client, referral, to_stage, *, version=None, htmx=True, query=""):
    data = {"referral": referral.pk, "version": version or referral.version, "to_stage": to_stage}
    return client.post(pages.url("board_move") + query, data, headers=pages.HTMX if htmx else {})


def test_it_moves_a_card_on_the_board(coordinator_client, coordinator, lead):
    response = _board_move(coordinator_client, lead, "contacted")

    assert response.status_code == 200
    assert "<html" not in pages.text(response)
    assert lead.pk in pages.card_ids(pages.column(response, "contacted"))
    assert lead.pk not in pages.card_ids(pages.column(response, "new"))
    assert "Dana Levi moved to Contacted." in pages.testid(response, "board-messages", "div")
    lead.refresh_from_db()
    assert lead.stage == Stage.CONTACTED
    event = lead.events.get(kind=EventKind.STAGE_CHANGE)
    assert (event.from_stage, event.to_stage, event.author) == ("new", "contacted", coordinator)


def test_it_refuses_an_illegal_move_on_the_board(coordinator_client, lead):
    before = pages.written(lead)

    response = _board_move(coordinator_client, lead, "referred")

    assert response.status_code == 200
    assert lead.pk in pages.card_ids(pages.column(response, "new"))
    assert "A lead cannot move from “New” to “Referred”." in html.unescape(
        pages.testid(response, "board-messages", "div")
    )
    assert pages.written(lead) == before


def test_it_refuses_a_stale_move_on_the_board(coordinator_client, lead):
    Referral.objects.filter(pk=lead.pk).update(version=2)
    before = pages.written(lead)

    response = _board_move(coordinator_client, lead, "contacted", version=1)

    assert response.status_code == 200
    assert "Someone else saved this referral" in pages.testid(response, "board-messages", "div")
    assert lead.pk in pages.card_ids(pages.column(response, "new"))
    assert pages.written(lead) == before


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"version": 1, "to_stage": "contacted"},
        {"referral": "LEAD", "to_stage": "contacted"},
        {"referral": "LEAD", "version": 1},
        {"referral": "LEAD", "version": "one", "to_stage": "contacted"},
        {"referral": "LEAD", "version": 1, "to_stage": "nowhere"},
    ],
)
@pytest.mark.parametrize("htmx", [True, False])
def test_it_answers_a_garbled_board_move_with_a_message(coordinator_client, lead, data, htmx):
    data = {key: lead.pk if value == "LEAD" else value for key, value in data.items()}
    before = pages.written(lead)

    response = coordinator_client.post(
        pages.url("board_move"), data, headers=pages.HTMX if htmx else {}
    )

    if htmx:
        assert response.status_code == 200
        shown = pages.testid(response, "board-messages", "div")
    else:
        assert response.status_code == 302
        shown = pages.text(coordinator_client.get(response["Location"]))
    assert "That move could not be read" in shown
    assert pages.written(lead) == before


def test_it_redirects_a_plain_board_move_back_to_the_filtered_board(
    coordinator_client, coordinator, lead
):
    query = f"?coordinator={coordinator.pk}"

    response = _board_move(coordinator_client, lead, "contacted", htmx=False, query=query)

    assert response.status_code == 302
    assert response["Location"] == pages.url("board") + query
    board = coordinator_client.get(response["Location"])
    assert "Dana Levi moved to Contacted." in pages.text(board)
    assert lead.pk in pages.card_ids(pages.column(board, "contacted"))


def test_it_answers_404_when_the_board_moves_an_unknown_lead(coordinator_client):
    response = coordinator_client.post(
        pages.url("board_move"), {"referral": 999_999, "version": 1, "to_stage": "contacted"}
    )

    assert response.status_code == 404
