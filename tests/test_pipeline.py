"""The pipeline: every legal move passes, every illegal one is refused and writes nothing."""

import datetime
import itertools
import re

import pytest

from referrals import pipeline, services
from referrals.models import (
    CloseReason,
    EventKind,
    Referral,
    ScreenFailureCriterion,
    ScreeningRecord,
    Stage,
)
from referrals.pipeline import (
    TRANSITIONS,
    TransitionFacts,
    contact_due_date,
    transition_problems,
)
from tests.factories import ProgramFactory, ReferralFactory, TrialFactory
from trials.models import ProgramStatus, TrialStatus

pytestmark = pytest.mark.django_db

GUARDS_MET = TransitionFacts(
    has_eligible_screening=True,
    target_label="Sheba CD19",
    target_is_open=True,
    infusion_date_set=True,
)
OPEN = [stage for stage in Stage if stage != Stage.CLOSED]


def _lead_ready_for_anything(stage: Stage, coordinator) -> Referral:
    """A lead in `stage` whose guards are all met, so only the table decides."""
    referral = ReferralFactory(
        stage=stage,
        close_reason=CloseReason.OTHER if stage == Stage.CLOSED else "",
        assigned_to=coordinator,
        target_program=ProgramFactory(),
        infusion_date=datetime.date(2026, 12, 1),
    )
    ScreeningRecord.objects.create(
        referral=referral,
        program=referral.target_program,
        candidate_name="Sheba CD19",
        verdict="eligible",
        criteria=[],
    )
    return referral


def _snapshot(referral: Referral) -> tuple:
    referral.refresh_from_db()
    return (referral.stage, referral.version, referral.stage_changed_at, referral.events.count())


@pytest.mark.parametrize(
    ("from_stage", "to_stage"),
    [
        (a, b)
        for a, b in itertools.product(OPEN, OPEN)
        if a != b
    ],
)  # fmt: skip
def test_it_follows_the_transition_table(coordinator, from_stage, to_stage):
    referral = _lead_ready_for_anything(from_stage, coordinator)
    before = _snapshot(referral)

    if to_stage in TRANSITIONS[from_stage]:
        moved = services.referral_transition(
            referral=referral, to_stage=to_stage, by=coordinator, expected_version=1
        )
        assert moved.stage == to_stage
        assert moved.version == 2
        event = referral.events.get(kind=EventKind.STAGE_CHANGE)
        assert (event.from_stage, event.to_stage, event.author) == (
            from_stage,
            to_stage,
            coordinator,
        )
    else:
        with pytest.raises(services.ReferralError, match="cannot move"):
            services.referral_transition(
                referral=referral, to_stage=to_stage, by=coordinator, expected_version=1
            )
        assert _snapshot(referral) == before


@pytest.mark.parametrize("stage", OPEN)
def test_it_closes_from_any_open_stage_with_a_reason(coordinator, stage):
    referral = _lead_ready_for_anything(stage, coordinator)

    closed = services.referral_transition(
        referral=referral,
        to_stage=Stage.CLOSED,
        by=coordinator,
        expected_version=1,
        close_reason=CloseReason.DECLINED_BY_PATIENT,
    )

    assert closed.stage == Stage.CLOSED
    assert closed.close_reason == CloseReason.DECLINED_BY_PATIENT
    assert "Declined by patient" in referral.events.get(to_stage=Stage.CLOSED).body


@pytest.mark.parametrize(
    ("reason", "detail", "criterion", "message"),
    [
        ("", "", "", "needs a close reason"),
        ("made-up", "", "", "needs a close reason"),
        (CloseReason.SCREEN_FAILED, "Too few lines", "", "which criterion failed"),
        (CloseReason.SCREEN_FAILED, "", "made-up", "which criterion failed"),
        (CloseReason.OTHER, "  ", "", "short explanation"),
    ],
)
def test_it_refuses_to_close_without_what_the_reason_needs(
    coordinator, reason, detail, criterion, message
):
    referral = ReferralFactory(stage=Stage.SCREENING)
    before = _snapshot(referral)

    with pytest.raises(services.ReferralError, match=message):
        services.referral_transition(
            referral=referral,
            to_stage=Stage.CLOSED,
            by=coordinator,
            expected_version=1,
            close_reason=reason,
            close_detail=detail,
            screen_failure_criterion=criterion,
        )
    assert _snapshot(referral) == before


def test_it_records_the_failed_criterion_of_a_screen_failure(coordinator):
    referral = ReferralFactory(stage=Stage.SCREENING)

    services.referral_transition(
        referral=referral,
        to_stage=Stage.CLOSED,
        by=coordinator,
        expected_version=1,
        close_reason=CloseReason.SCREEN_FAILED,
        screen_failure_criterion=ScreenFailureCriterion.FAILED_LINES,
        close_detail="1 of 2 required",
    )

    referral.refresh_from_db()
    assert referral.screen_failure_criterion == ScreenFailureCriterion.FAILED_LINES
    assert referral.close_detail == "1 of 2 required"
    body = referral.events.get(to_stage=Stage.CLOSED).body
    assert "Not enough failed lines" in body
    assert "1 of 2 required" in body


def test_it_clears_the_failed_criterion_on_reopening(coordinator):
    referral = ReferralFactory(stage=Stage.SCREENING)
    services.referral_transition(
        referral=referral,
        to_stage=Stage.CLOSED,
        by=coordinator,
        expected_version=1,
        close_reason=CloseReason.SCREEN_FAILED,
        screen_failure_criterion=ScreenFailureCriterion.AGE,
    )

    reopened = services.referral_transition(
        referral=referral,
        to_stage=Stage.CONTACTED,
        by=coordinator,
        expected_version=2,
        note="Date of birth was wrong",
    )

    assert (reopened.stage, reopened.screen_failure_criterion) == (Stage.SCREENING, "")


def test_it_reopens_a_closed_lead_where_it_was_with_a_note(coordinator):
    referral = ReferralFactory(stage=Stage.RECORDS_REQUESTED)
    services.referral_transition(
        referral=referral,
        to_stage=Stage.CLOSED,
        by=coordinator,
        expected_version=1,
        close_reason=CloseReason.NOT_REACHABLE,
    )

    with pytest.raises(services.ReferralError, match="needs a note"):
        services.referral_transition(
            referral=referral, to_stage=Stage.CONTACTED, by=coordinator, expected_version=2
        )
    reopened = services.referral_transition(
        referral=referral,
        to_stage=Stage.CONTACTED,
        by=coordinator,
        expected_version=2,
        note="Patient called back",
    )

    assert reopened.stage == Stage.RECORDS_REQUESTED
    assert reopened.close_reason == ""
    assert referral.events.filter(body="Patient called back").exists()


def test_it_needs_an_eligible_check_before_eligible(coordinator):
    referral = ReferralFactory(stage=Stage.SCREENING)
    ScreeningRecord.objects.create(
        referral=referral,
        program=ProgramFactory(),
        candidate_name="X",
        verdict="ineligible",
        criteria=[],
    )

    with pytest.raises(services.ReferralError, match="Record an eligibility check"):
        services.referral_transition(
            referral=referral, to_stage=Stage.ELIGIBLE, by=coordinator, expected_version=1
        )
    referral.refresh_from_db()
    assert referral.stage == Stage.SCREENING


@pytest.mark.parametrize(
    ("target", "allowed"),
    [
        (None, False),
        ({"target_program": {"status": ProgramStatus.ACCEPTING}}, True),
        ({"target_program": {"status": ProgramStatus.PAUSED}}, False),
        ({"target_program": {"status": ProgramStatus.CLOSED}}, False),
        ({"target_trial": {"overall_status": TrialStatus.RECRUITING}}, True),
        ({"target_trial": {"overall_status": TrialStatus.ACTIVE_NOT_RECRUITING}}, False),
    ],
)
def test_it_refers_only_to_an_accepting_program_or_recruiting_trial(coordinator, target, allowed):
    fields = {}
    if target and "target_program" in target:
        fields["target_program"] = ProgramFactory(**target["target_program"])
    if target and "target_trial" in target:
        fields["target_trial"] = TrialFactory(**target["target_trial"])
    referral = ReferralFactory(stage=Stage.ELIGIBLE, **fields)

    if allowed:
        services.referral_transition(
            referral=referral, to_stage=Stage.REFERRED, by=coordinator, expected_version=1
        )
        referral.refresh_from_db()
        assert referral.stage == Stage.REFERRED
    else:
        with pytest.raises(services.ReferralError, match=r"target|not accepting"):
            services.referral_transition(
                referral=referral, to_stage=Stage.REFERRED, by=coordinator, expected_version=1
            )
        referral.refresh_from_db()
        assert referral.stage == Stage.ELIGIBLE


def test_it_needs_a_treatment_date_to_schedule(coordinator):
    referral = ReferralFactory(stage=Stage.ACCEPTED)

    with pytest.raises(services.ReferralError, match="infusion date"):
        services.referral_transition(
            referral=referral, to_stage=Stage.SCHEDULED, by=coordinator, expected_version=1
        )
    services.referral_transition(
        referral=referral,
        to_stage=Stage.SCHEDULED,
        by=coordinator,
        expected_version=1,
        infusion_date=datetime.date(2027, 1, 10),
    )

    referral.refresh_from_db()
    assert (referral.stage, referral.infusion_date) == (Stage.SCHEDULED, datetime.date(2027, 1, 10))


def test_it_refuses_a_stale_save_and_keeps_the_first_one(coordinator, coordinator2):
    referral = ReferralFactory(stage=Stage.NEW)
    first = Referral.objects.get(pk=referral.pk)
    second = Referral.objects.get(pk=referral.pk)

    services.referral_transition(
        referral=first, to_stage=Stage.CONTACTED, by=coordinator, expected_version=1
    )
    with pytest.raises(services.ReferralConflict, match="Someone else saved"):
        services.referral_assign(
            referral=second, assignee=coordinator2, by=coordinator2, expected_version=1
        )

    referral.refresh_from_db()
    assert (referral.stage, referral.assigned_to, referral.version) == (Stage.CONTACTED, None, 2)
    assert not referral.events.filter(kind=EventKind.ASSIGNMENT).exists()


def test_it_refuses_moving_to_the_same_stage(coordinator):
    problems = transition_problems(Stage.NEW, Stage.NEW, GUARDS_MET)

    assert problems == ["The lead is already in “New”."]


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (datetime.date(2026, 11, 22), datetime.date(2026, 11, 24)),  # Sunday → Tuesday
        (datetime.date(2026, 11, 25), datetime.date(2026, 11, 29)),  # Wednesday → Sunday
        (datetime.date(2026, 11, 26), datetime.date(2026, 11, 30)),  # Thursday → Monday
        (datetime.date(2026, 11, 27), datetime.date(2026, 11, 30)),  # Friday → Monday
    ],
)
def test_it_gives_new_leads_two_working_days_for_first_contact(received, due):
    assert contact_due_date(received) == due


@pytest.mark.parametrize(
    ("stage", "offered"),
    [
        (Stage.NEW, Stage.CONTACTED),
        (Stage.CONTACTED, Stage.RECORDS_REQUESTED),
        (Stage.RECORDS_REQUESTED, Stage.SCREENING),
        (Stage.SCREENING, Stage.ELIGIBLE),
        (Stage.ELIGIBLE, Stage.REFERRED),
        (Stage.REFERRED, Stage.ACCEPTED),
        (Stage.SCHEDULED, Stage.TREATED),
        (Stage.TREATED, Stage.FOLLOW_UP),
        (Stage.FOLLOW_UP, None),
    ],
)
def test_it_offers_the_next_stage_ahead_never_one_behind(stage, offered):
    assert pipeline.forward_target(stage) == offered


@pytest.mark.parametrize(
    ("stage", "selected"),
    [
        (Stage.RECORDS_REQUESTED, Stage.SCREENING),
        (Stage.SCREENING, Stage.ELIGIBLE),
        (Stage.ELIGIBLE, Stage.REFERRED),
        (Stage.REFERRED, Stage.ACCEPTED),
        (Stage.SCHEDULED, Stage.TREATED),
    ],
)
def test_it_preselects_the_move_ahead_on_the_lead_page(coordinator_client, lead, stage, selected):
    from tests import pages

    Referral.objects.filter(pk=lead.pk).update(stage=stage)

    form = pages.testid(
        coordinator_client.get(pages.url("lead", lead.pk)), "transition-form", "form"
    )

    move_to = re.search(r'<select name="to_stage".*?</select>', form, re.S).group(0)
    assert re.findall(r'<option value="([a-z_]*)"[^>]* selected', move_to) == [selected]


def test_it_chooses_no_move_for_a_lead_at_the_end_of_the_pipeline(coordinator_client, lead):
    from tests import pages

    Referral.objects.filter(pk=lead.pk).update(stage=Stage.FOLLOW_UP)

    response = pages.transition(coordinator_client, lead, "")
    form = pages.testid(
        coordinator_client.get(pages.url("lead", lead.pk)), "transition-form", "form"
    )

    assert "Choose a move" in form
    assert response.status_code == 200
    assert Referral.objects.get(pk=lead.pk).stage == Stage.FOLLOW_UP
