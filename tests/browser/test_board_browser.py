"""The pipeline board's drag-and-drop and the lead page's stage moves, in a real browser."""

import pytest
from playwright.sync_api import expect

from referrals.models import EventKind, ReasonStopped, Referral, ScreeningRecord, Stage
from tests.factories import (
    ConditionFactory,
    PatientFactory,
    PriorTreatmentLineFactory,
    ProgramFactory,
    ReferralFactory,
    TherapyFactory,
)

# Groups come from a data migration; a live-server test flushes the database afterwards, so
# serialized_rollback puts them back for the tests that follow.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _lead(first_name: str, last_name: str, stage: str, coordinator) -> Referral:
    patient = PatientFactory(first_name=first_name, last_name=last_name)
    return ReferralFactory(patient=patient, stage=stage, assigned_to=coordinator)


def _column(page, stage: str):
    return page.locator(f"section.crm-column[data-stage='{stage}']")


def _card(page, referral: Referral):
    return page.locator(f"article.crm-card[data-referral='{referral.pk}']")


def _open_board(page, live_server):
    page.goto(f"{live_server.url}/admin/work/board/")
    # board.js wires its listeners on DOMContentLoaded; the board partial is the drop zone.
    page.wait_for_load_state("load")
    expect(page.locator("#board")).to_be_visible()


def test_it_moves_a_card_from_new_to_contacted_by_drag_and_drop(
    page, live_server, login, coordinator
):
    moved = _lead("Noa", "Cohen", Stage.NEW, coordinator)
    staying = _lead("Eitan", "Mizrahi", Stage.NEW, coordinator)
    _lead("Yael", "Peretz", Stage.CONTACTED, coordinator)

    login("coordinator")
    _open_board(page, live_server)
    expect(page.get_by_test_id("count-new")).to_have_text("2")
    expect(page.get_by_test_id("count-contacted")).to_have_text("1")
    expect(_column(page, Stage.NEW).locator(_card(page, moved))).to_have_count(1)

    _card(page, moved).drag_to(_column(page, Stage.CONTACTED))

    messages = page.get_by_test_id("board-messages")
    expect(messages).to_contain_text("Noa Cohen moved to Contacted.")
    expect(messages.locator(".errornote")).to_have_count(0)
    expect(_column(page, Stage.CONTACTED).locator(_card(page, moved))).to_have_count(1)
    expect(_column(page, Stage.NEW).locator(_card(page, moved))).to_have_count(0)
    expect(_column(page, Stage.NEW).locator(_card(page, staying))).to_have_count(1)
    expect(page.get_by_test_id("count-new")).to_have_text("1")
    expect(page.get_by_test_id("count-contacted")).to_have_text("2")

    moved.refresh_from_db()
    assert moved.stage == Stage.CONTACTED
    assert moved.version == 2
    event = moved.events.get(kind=EventKind.STAGE_CHANGE)
    assert (event.from_stage, event.to_stage) == (Stage.NEW, Stage.CONTACTED)
    assert event.author.username == "coordinator"
    staying.refresh_from_db()
    assert staying.stage == Stage.NEW

    # The swapped-in board still takes drops: the listeners sit on the area around it.
    _card(page, moved).drag_to(_column(page, Stage.SCREENING))
    expect(messages).to_contain_text("Noa Cohen moved to Screening.")
    expect(_column(page, Stage.SCREENING).locator(_card(page, moved))).to_have_count(1)
    moved.refresh_from_db()
    assert moved.stage == Stage.SCREENING


def test_it_refuses_an_illegal_drop_and_puts_the_card_back(page, live_server, login, coordinator):
    lead = _lead("Dana", "Friedman", Stage.NEW, coordinator)

    login("coordinator")
    # Wide enough for "New" and "Referred" to be on screen together: drag_to scrolls the
    # board to the drop column, which would scroll the card away before the drag starts.
    page.set_viewport_size({"width": 2400, "height": 900})
    _open_board(page, live_server)
    expect(page.get_by_test_id("count-referred")).to_have_text("0")
    expect(_column(page, Stage.REFERRED)).to_be_in_viewport()

    _card(page, lead).drag_to(_column(page, Stage.REFERRED))

    messages = page.get_by_test_id("board-messages")
    expect(messages.locator(".errornote")).to_contain_text(
        "Dana Friedman: A lead cannot move from “New” to “Referred”."
    )
    expect(messages).to_contain_text("Allowed: “Contacted”, “Closed”.")
    expect(_column(page, Stage.NEW).locator(_card(page, lead))).to_have_count(1)
    expect(_column(page, Stage.REFERRED).locator(_card(page, lead))).to_have_count(0)
    expect(page.get_by_test_id("count-new")).to_have_text("1")
    expect(page.get_by_test_id("count-referred")).to_have_text("0")

    lead.refresh_from_db()
    assert lead.stage == Stage.NEW
    assert lead.version == 1
    assert not lead.events.filter(kind=EventKind.STAGE_CHANGE).exists()


def test_it_takes_a_lead_from_new_to_referred_on_the_lead_page(
    page, live_server, login, coordinator
):
    lupus = ConditionFactory(name="Systemic lupus erythematosus", slug="sle")
    program = ProgramFactory(name="Point-of-care CD19 CAR-T", conditions=[lupus])
    patient = PatientFactory(first_name="Miriam", last_name="Katz", primary_condition=lupus)
    PriorTreatmentLineFactory(
        patient=patient,
        line_number=1,
        therapies=[TherapyFactory(name="Mycophenolate mofetil")],
        reason_stopped=ReasonStopped.INADEQUATE_RESPONSE,
    )
    TherapyFactory(name="Rituximab")
    referral = ReferralFactory(patient=patient, stage=Stage.NEW, assigned_to=coordinator)
    lead_url = f"{live_server.url}/admin/work/leads/{referral.pk}/"

    login("coordinator")
    page.goto(lead_url)
    expect(page.get_by_test_id("stage")).to_have_text("New")
    expect(page.get_by_test_id("failed-lines")).to_have_text("1")

    def move_to(label: str) -> None:
        form = page.get_by_test_id("transition-form")
        form.locator("select[name=to_stage]").select_option(label=label)
        form.get_by_role("button", name="Move").click()
        page.wait_for_url(lead_url)
        expect(page.get_by_text(f"Moved to {label}.")).to_be_visible()
        expect(page.locator(".errornote")).to_have_count(0)

    move_to("Contacted")
    move_to("Records requested")
    move_to("Screening")

    # One failed line is not enough for the program (it needs two): it is not eligible yet.
    row = page.locator(f"[data-testid=eligibility] tr[data-candidate='program-{program.pk}']")
    expect(row).to_have_count(0)

    line_form = page.locator("form#line-form")
    expect(line_form.locator("input[name=line_number]")).to_have_value("2")
    line_form.locator("select[name=therapies]").select_option(label="Rituximab")
    line_form.locator("input[name=start_date]").fill("2022-01-01")
    line_form.locator("input[name=end_date]").fill("2023-06-30")
    line_form.locator("select[name=best_response]").select_option(label="Partial response")
    line_form.locator("select[name=reason_stopped]").select_option(label="Loss of response")
    line_form.get_by_role("button", name="Save line").click()
    page.wait_for_url(lead_url)
    expect(page.get_by_text("Line 2 saved.")).to_be_visible()
    expect(page.get_by_test_id("failed-lines")).to_have_text("2")
    expect(page.get_by_test_id("lines")).to_contain_text("Rituximab")

    expect(row).to_contain_text("Eligible")
    row.get_by_role("button", name="Record check").click()
    page.wait_for_url(lead_url)
    expect(page.get_by_text("Eligibility check recorded")).to_be_visible()
    expect(page.get_by_test_id("screenings")).to_contain_text("Point-of-care CD19 CAR-T")

    move_to("Eligible")

    row.get_by_role("button", name="Set as target").click()
    page.wait_for_url(lead_url)
    expect(page.get_by_text("Target set: Point-of-care CD19 CAR-T")).to_be_visible()
    expect(page.get_by_test_id("target")).to_contain_text("Point-of-care CD19 CAR-T")

    move_to("Referred")
    expect(page.get_by_test_id("stage")).to_have_text("Referred")

    timeline = page.get_by_test_id("timeline")
    for change in (
        "New → Contacted",
        "Contacted → Records requested",
        "Records requested → Screening",
        "Screening → Eligible",
        "Eligible → Referred",
    ):
        expect(timeline).to_contain_text(change)

    referral.refresh_from_db()
    assert referral.stage == Stage.REFERRED
    assert referral.target_program == program
    assert list(
        referral.events.filter(kind=EventKind.STAGE_CHANGE)
        .order_by("created_at", "id")
        .values_list("to_stage", flat=True)
    ) == [
        Stage.CONTACTED,
        Stage.RECORDS_REQUESTED,
        Stage.SCREENING,
        Stage.ELIGIBLE,
        Stage.REFERRED,
    ]
    screening = ScreeningRecord.objects.get(referral=referral)
    assert (screening.program, screening.verdict) == (program, "eligible")
    assert patient.treatment_lines.count() == 2
