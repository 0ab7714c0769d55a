"""What is legal in the referral pipeline: the transition table and its guards.

Plain Python on plain values, so the rules read as a table and are tested without a database:
no Django model and no clock (the caller passes the day). `services.referral_transition` asks
`transition_problems()` before it writes anything.
"""

import datetime
from dataclasses import dataclass
from enum import StrEnum

from referrals.vocabulary import (
    HOSPITAL_OPEN_STAGES,
    OPEN_STAGES,
    TREATMENT_DATE_STAGES,
    CloseReason,
    HospitalDeclineReason,
    ScreenFailureCriterion,
    Stage,
)

# Service level: a new lead is contacted within two working days. Israel's weekend is
# Friday and Saturday.
CONTACT_WITHIN_WORKING_DAYS = 2
WEEKEND = frozenset({4, 5})

# Forward moves plus the backward steps coordinators need when screening turns up a gap
# (more records, a re-screen) or a hospital postpones. Closing and reopening are separate.
TRANSITIONS: dict[Stage, frozenset[Stage]] = {
    Stage.NEW: frozenset({Stage.CONTACTED}),
    Stage.CONTACTED: frozenset({Stage.RECORDS_REQUESTED, Stage.SCREENING}),
    Stage.RECORDS_REQUESTED: frozenset({Stage.SCREENING, Stage.CONTACTED}),
    Stage.SCREENING: frozenset({Stage.ELIGIBLE, Stage.RECORDS_REQUESTED}),
    Stage.ELIGIBLE: frozenset({Stage.REFERRED, Stage.SCREENING}),
    Stage.REFERRED: frozenset({Stage.ACCEPTED, Stage.ELIGIBLE}),
    Stage.ACCEPTED: frozenset({Stage.SCHEDULED}),
    Stage.SCHEDULED: frozenset({Stage.TREATED, Stage.ACCEPTED}),
    Stage.TREATED: frozenset({Stage.FOLLOW_UP}),
    Stage.FOLLOW_UP: frozenset(),
    Stage.CLOSED: frozenset(),
}


class Role(StrEnum):
    """Who is moving the lead. Coordinators (and admins) may make every move in TRANSITIONS."""

    COORDINATOR = "coordinator"
    LIAISON = "liaison"


# The moves a hospital liaison may make on a referral sent to their hospital: the hospital's
# decision, scheduling and the treatment. Everything else stays with the coordinator, who may
# also record these moves when a hospital answers by phone.
LIAISON_MOVES: frozenset[tuple[Stage, Stage]] = frozenset(
    {
        (Stage.REFERRED, Stage.ACCEPTED),
        (Stage.REFERRED, Stage.CLOSED),  # declined
        (Stage.ACCEPTED, Stage.CLOSED),  # declined after the consult
        (Stage.ACCEPTED, Stage.SCHEDULED),  # by setting the infusion date
        (Stage.SCHEDULED, Stage.TREATED),
    }
)


def role_may_move(role: Role, from_stage: str, to_stage: str) -> bool:
    if role == Role.COORDINATOR:
        return True
    return (Stage(from_stage), Stage(to_stage)) in LIAISON_MOVES


@dataclass(frozen=True)
class TransitionFacts:
    """What the guards need to know about a lead, gathered by the service."""

    has_eligible_screening: bool = False
    target_label: str = ""
    target_is_open: bool = False
    infusion_date_set: bool = False
    close_reason: str = ""
    close_detail: str = ""
    screen_failure_criterion: str = ""
    note: str = ""
    hospital_decline_reason: str = ""
    infusion_date: datetime.date | None = None
    # The day of the move, for the guards that compare dates with it.
    today: datetime.date | None = None


def allowed_targets(stage: Stage) -> list[Stage]:
    """Every stage a lead in `stage` may move to, in pipeline order."""
    if stage == Stage.CLOSED:
        return []
    targets = TRANSITIONS[stage] | {Stage.CLOSED}
    return [candidate for candidate in Stage if candidate in targets]


def forward_target(stage: Stage) -> Stage | None:
    """The next stage along the pipeline a lead in `stage` may move to: what "Move to" offers
    first, so that one click never sends a lead backwards; None at the end of the pipeline."""
    order = list(Stage)
    later = [
        target
        for target in allowed_targets(stage)
        if target != Stage.CLOSED and order.index(target) > order.index(stage)
    ]
    return later[0] if later else None


def is_reopen(from_stage: str, to_stage: str) -> bool:
    return from_stage == Stage.CLOSED and to_stage in OPEN_STAGES


def transition_problems(
    from_stage: str, to_stage: str, facts: TransitionFacts, role: Role = Role.COORDINATOR
) -> list[str]:
    """Why the move is refused; an empty list means it is allowed."""
    source, target = Stage(from_stage), Stage(to_stage)
    if source == target:
        return [f"The lead is already in “{target.label}”."]
    if role == Role.LIAISON:
        problems = _liaison_problems(source, target, facts)
        if problems:
            return problems
    if is_reopen(source, target):
        if not facts.note.strip():
            return ["Reopening a closed lead needs a note saying why."]
        return []
    if target == Stage.CLOSED:
        return _close_problems(facts)
    if target not in TRANSITIONS[source]:
        allowed = ", ".join(f"“{stage.label}”" for stage in allowed_targets(source))
        return [
            f"A lead cannot move from “{source.label}” to “{target.label}”. Allowed: {allowed}."
        ]
    return _guard_problems(target, facts)


def _close_problems(facts: TransitionFacts) -> list[str]:
    if facts.close_reason not in CloseReason.values:
        return ["Closing a lead needs a close reason."]
    if (
        facts.close_reason == CloseReason.SCREEN_FAILED
        and facts.screen_failure_criterion not in ScreenFailureCriterion.values
    ):
        return ["A screen failure must say which criterion failed."]
    if facts.close_reason == CloseReason.OTHER and not facts.close_detail.strip():
        return ["Closing for “Other” needs a short explanation."]
    return []


def _guard_problems(target: Stage, facts: TransitionFacts) -> list[str]:
    if target == Stage.ELIGIBLE and not facts.has_eligible_screening:
        return [
            "Record an eligibility check with an “eligible” verdict "
            "before marking the lead eligible."
        ]
    if target == Stage.REFERRED:
        if not facts.target_label:
            return ["Choose a target program or trial before referring."]
        if not facts.target_is_open:
            return [f"{facts.target_label} is not accepting referrals right now."]
    if target == Stage.SCHEDULED and not facts.infusion_date_set:
        return ["Set the infusion date before marking the lead scheduled."]
    return []


def _liaison_problems(source: Stage, target: Stage, facts: TransitionFacts) -> list[str]:
    if (source, target) not in LIAISON_MOVES:
        return [
            f"A hospital liaison cannot move a referral from “{source.label}” to “{target.label}”; "
            "the coordinator makes that move."
        ]
    if target == Stage.CLOSED:
        if facts.close_reason != CloseReason.DECLINED_BY_HOSPITAL:
            return ["A hospital liaison closes a referral only by declining it."]
        if facts.hospital_decline_reason not in HospitalDeclineReason.values:
            return ["Choose why the hospital declines the referral."]
        if facts.hospital_decline_reason == HospitalDeclineReason.OTHER and not (
            facts.close_detail.strip()
        ):
            return ["Declining for “Other” needs a short explanation."]
    if target == Stage.TREATED:
        if facts.infusion_date is None:
            return ["Set the infusion date before reporting the treatment."]
        if facts.today and facts.infusion_date > facts.today:
            return ["The infusion date is in the future; report the treatment once it is given."]
    return []


def hospital_date_problems(
    *,
    stage: str,
    referred_on: datetime.date | None,
    consult_date: datetime.date | None,
    apheresis_date: datetime.date | None,
    infusion_date: datetime.date | None,
) -> list[str]:
    """Why the consult, apheresis and infusion dates cannot be set; empty when they can.

    The consult may be proposed as soon as the lead is referred; apheresis and infusion only
    once the hospital accepted, never before the consult, and the infusion never before
    apheresis.
    """
    current = Stage(stage)
    if current not in HOSPITAL_OPEN_STAGES:
        return [f"Dates cannot be changed while the referral is “{current.label}”."]
    if (apheresis_date or infusion_date) and current not in TREATMENT_DATE_STAGES:
        return ["Apheresis and infusion dates can be set once the referral is accepted."]
    problems = []
    if consult_date and referred_on and consult_date < referred_on:
        problems.append(f"The consult cannot be before the referral ({referred_on:%d %b %Y}).")
    if apheresis_date and not consult_date:
        problems.append("Set the consult date before the apheresis date.")
    if infusion_date and not consult_date:
        problems.append("Set the consult date before the infusion date.")
    if consult_date and apheresis_date and apheresis_date < consult_date:
        problems.append("Apheresis cannot be before the consult.")
    if consult_date and infusion_date and infusion_date < consult_date:
        problems.append("The infusion cannot be before the consult.")
    if apheresis_date and infusion_date and infusion_date < apheresis_date:
        problems.append("The infusion cannot be before apheresis.")
    return problems


def contact_due_date(received_on: datetime.date) -> datetime.date:
    """The last day a lead received on `received_on` may wait for its first contact."""
    day, working_days = received_on, 0
    while working_days < CONTACT_WITHIN_WORKING_DAYS:
        day += datetime.timedelta(days=1)
        if day.weekday() not in WEEKEND:
            working_days += 1
    return day


def first_day_on_time(today: datetime.date) -> datetime.date:
    """Leads received before this day and still new are overdue for first contact today.

    The inverse of `contact_due_date`, so the queue can filter and sort on it in the database.
    """
    earliest_on_time = today
    while contact_due_date(earliest_on_time - datetime.timedelta(days=1)) >= today:
        earliest_on_time -= datetime.timedelta(days=1)
    return earliest_on_time


def is_contact_overdue(stage: str, received_on: datetime.date, today: datetime.date) -> bool:
    return stage == Stage.NEW and received_on < first_day_on_time(today)
