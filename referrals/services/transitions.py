"""Stage moves: the coordinator's `referral_transition` and `_stage_move`, the one private core
every move goes through (the pipeline's check, the stage, the hospital's dates, the snapshot, the
timeline event); the hospital's answers in `hospital.py` pass it their own `_Move`.
"""

import datetime
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from referrals import access, pipeline, selectors
from referrals.models import Referral, ReferralEvent, ReferralSnapshot
from referrals.services.common import (
    ReferralError,
    _check_liaison_scope,
    _event,
    _hospital_of,
    _locked,
    _notify_coordinator,
    _referred_on,
    _save_new_version,
)
from referrals.vocabulary import CloseReason, EventKind, Stage
from trials.models import ProgramStatus, TrialStatus


@dataclass(frozen=True)
class _Move:
    """What a stage move carries besides its stage; each public move fills in its own part."""

    close_reason: str = ""
    close_detail: str = ""
    screen_failure_criterion: str = ""
    note: str = ""
    infusion_date: datetime.date | None = None
    hospital_decline_reason: str = ""


@transaction.atomic
def referral_transition(
    *,
    referral: Referral,
    to_stage: str,
    by: AbstractBaseUser | None,
    expected_version: int,
    close_reason: str = "",
    close_detail: str = "",
    screen_failure_criterion: str = "",
    note: str = "",
    infusion_date: datetime.date | None = None,
) -> Referral:
    """Move a lead to another stage if the pipeline allows it, with its timeline event.

    The coordinator's move, from the lead page or the board, including the hospital's moves a
    coordinator records when the hospital answers by phone. A hospital liaison calling it moves
    as a liaison: only the moves in `pipeline.LIAISON_MOVES`, only on a lead referred to their
    hospital. Moving to "referred" takes the `ReferralSnapshot` the hospital will read.
    """
    role = access.role_of(by)
    current = _locked(referral, expected_version)
    if role == pipeline.Role.LIAISON:
        _check_liaison_scope(current, by)
    move = _Move(
        close_reason=close_reason,
        close_detail=close_detail,
        screen_failure_criterion=screen_failure_criterion,
        note=note,
        infusion_date=infusion_date,
    )
    return _stage_move(current, to_stage=to_stage, by=by, role=role, move=move)[0]


def _stage_move(
    current: Referral,
    *,
    to_stage: str,
    by: AbstractBaseUser | None,
    role: pipeline.Role,
    move: _Move,
    notify_coordinator: bool = True,
) -> tuple[Referral, ReferralEvent]:
    """The move itself, on a row the caller has locked and whose scope it has checked.

    A hospital's move tells the coordinator (an e-mail task after commit, unless
    `notify_coordinator` is off because the caller tells them of several events at once, and
    the queue's badge).
    """
    from_stage = current.stage
    if pipeline.is_reopen(from_stage, to_stage):
        to_stage = _stage_before_closing(current)
    target_label, target_is_open = _target_state(current)
    facts = pipeline.TransitionFacts(
        has_eligible_screening=selectors.lead_has_eligible_screening(current),
        target_label=target_label,
        target_is_open=target_is_open,
        infusion_date_set=bool(move.infusion_date or current.infusion_date),
        close_reason=move.close_reason,
        close_detail=move.close_detail,
        screen_failure_criterion=move.screen_failure_criterion,
        note=move.note,
        hospital_decline_reason=move.hospital_decline_reason,
        infusion_date=move.infusion_date or current.infusion_date,
        today=timezone.localdate(),
    )
    problems = pipeline.transition_problems(from_stage, to_stage, facts, role)
    if not problems and role == pipeline.Role.LIAISON and move.infusion_date:
        problems = pipeline.hospital_date_problems(
            stage=from_stage,
            referred_on=_referred_on(current),
            consult_date=current.consult_date,
            apheresis_date=current.apheresis_date,
            infusion_date=move.infusion_date,
        )
    if problems:
        raise ReferralError(" ".join(problems))

    now = timezone.now()
    current.stage = to_stage
    current.stage_changed_at = now
    if to_stage == Stage.CLOSED:
        current.close_reason, current.close_detail = move.close_reason, move.close_detail.strip()
        if move.close_reason == CloseReason.SCREEN_FAILED:
            current.screen_failure_criterion = move.screen_failure_criterion
        current.next_action, current.next_action_due = "", None
    elif from_stage == Stage.CLOSED:
        current.close_reason, current.close_detail = "", ""
        current.screen_failure_criterion = ""
    if move.infusion_date:
        current.infusion_date = move.infusion_date
    _hospital_side_on_move(current, from_stage, to_stage, now, move.hospital_decline_reason)
    if role == pipeline.Role.LIAISON:
        current.hospital_update_at = now
    _save_new_version(current)
    if to_stage == Stage.REFERRED and from_stage != Stage.CLOSED:
        ReferralSnapshot.objects.create(
            referral=current,
            program=current.target_program,
            trial=current.target_trial,
            data=selectors.referral_snapshot_data(current),
            taken_by=by,
            taken_at=now,
        )
    body = move.note.strip()
    if to_stage == Stage.CLOSED:
        body = " — ".join(
            filter(
                None,
                [
                    current.get_close_reason_display(),
                    current.get_screen_failure_criterion_display(),
                    current.get_hospital_decline_reason_display(),
                    move.close_detail.strip(),
                    body,
                ],
            )
        )
    if role == pipeline.Role.LIAISON:
        body = " ".join(filter(None, [f"By {_hospital_of(by)}.", body]))
    event = _event(
        current, EventKind.STAGE_CHANGE, by, body, from_stage=from_stage, to_stage=to_stage
    )
    if role == pipeline.Role.LIAISON and notify_coordinator:
        _notify_coordinator(current, [event])
    return current, event


def _hospital_side_on_move(
    referral: Referral, from_stage: str, to_stage: str, now, decline_reason: str
) -> None:
    """Keep the hospital's dates in step with the stage.

    A new referral starts the hospital side afresh; withdrawing it (back to "eligible") clears
    `referred_at`, which takes it off the hospital's list; the first acceptance or hospital
    decline is the hospital's decision, and a decision implies the referral was received.
    """
    if to_stage == Stage.REFERRED and from_stage != Stage.CLOSED:
        referral.referred_at = now
        referral.receipt_confirmed_at = referral.hospital_decision_at = None
        referral.hospital_decline_reason = ""
        referral.consult_date = referral.apheresis_date = None
    elif from_stage == Stage.REFERRED and to_stage == Stage.ELIGIBLE:
        referral.referred_at = None
    elif from_stage == Stage.CLOSED:
        referral.hospital_decline_reason = ""
        if to_stage == Stage.REFERRED:
            referral.hospital_decision_at = None
    decided = (from_stage == Stage.REFERRED and to_stage == Stage.ACCEPTED) or (
        from_stage in (Stage.REFERRED, Stage.ACCEPTED)
        and to_stage == Stage.CLOSED
        and referral.close_reason == CloseReason.DECLINED_BY_HOSPITAL
    )
    if decided:
        referral.hospital_decision_at = referral.hospital_decision_at or now
        referral.receipt_confirmed_at = referral.receipt_confirmed_at or now
        if to_stage == Stage.CLOSED:
            referral.hospital_decline_reason = decline_reason


def _stage_before_closing(referral: Referral) -> str:
    last_close = (
        referral.events.filter(kind=EventKind.STAGE_CHANGE, to_stage=Stage.CLOSED)
        .order_by("-created_at", "-id")
        .values_list("from_stage", flat=True)
        .first()
    )
    return last_close or Stage.CONTACTED


def _target_state(referral: Referral) -> tuple[str, bool]:
    if referral.target_program_id:
        program = referral.target_program
        return str(program), program.status == ProgramStatus.ACCEPTING
    if referral.target_trial_id:
        trial = referral.target_trial
        return str(trial), trial.overall_status == TrialStatus.RECRUITING
    return "", False
