"""The hospital side: what a hospital liaison does on a referral sent to their hospital.

Every action checks the liaison's scope, writes a timeline event, marks the lead for the
coordinator's queue and queues an e-mail to the coordinator once the transaction commits.
Accepting, declining, scheduling and reporting the treatment are stage moves through
`transitions._stage_move`.
"""

import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from referrals import access, pipeline
from referrals.models import Referral, ReferralEvent, Task
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
from referrals.services.transitions import _Move, _stage_move
from referrals.vocabulary import (
    AWAITING_DECISION,
    HOSPITAL_OPEN_STAGES,
    CloseReason,
    EventKind,
    HospitalSide,
    Stage,
)


def _liaison_locked(
    referral: Referral, by: AbstractBaseUser | None, expected_version: int | None = None
) -> Referral:
    if by is None or not access.is_liaison(by):
        raise ReferralError("Only a hospital liaison can do this.")
    if expected_version is None:
        current = Referral.objects.select_for_update().get(pk=referral.pk)
    else:
        current = _locked(referral, expected_version)
    _check_liaison_scope(current, by)
    return current


@transaction.atomic
def hospital_accept(
    *, referral: Referral, by: AbstractBaseUser | None, expected_version: int, note: str = ""
) -> Referral:
    """The hospital accepts the referral; the coordinator is told."""
    current = _liaison_locked(referral, by, expected_version)
    return _stage_move(
        current, to_stage=Stage.ACCEPTED, by=by, role=pipeline.Role.LIAISON, move=_Move(note=note)
    )[0]


@transaction.atomic
def hospital_decline(
    *,
    referral: Referral,
    by: AbstractBaseUser | None,
    expected_version: int,
    reason: str,
    detail: str = "",
) -> Referral:
    """The hospital declines the referral, saying why; the lead closes and the coordinator is
    told."""
    current = _liaison_locked(referral, by, expected_version)
    move = _Move(
        close_reason=CloseReason.DECLINED_BY_HOSPITAL,
        close_detail=detail,
        hospital_decline_reason=reason,
    )
    return _stage_move(
        current, to_stage=Stage.CLOSED, by=by, role=pipeline.Role.LIAISON, move=move
    )[0]


@transaction.atomic
def hospital_report_treatment(
    *,
    referral: Referral,
    by: AbstractBaseUser | None,
    expected_version: int,
    infusion_date: datetime.date,
    note: str = "",
) -> Referral:
    """The hospital reports the infusion given on `infusion_date`; the coordinator is told."""
    current = _liaison_locked(referral, by, expected_version)
    move = _Move(note=note, infusion_date=infusion_date)
    return _stage_move(
        current, to_stage=Stage.TREATED, by=by, role=pipeline.Role.LIAISON, move=move
    )[0]


@transaction.atomic
def hospital_confirm_receipt(
    *, referral: Referral, by: AbstractBaseUser | None, expected_version: int
) -> Referral:
    """The hospital says it has the referral; the coordinator stops chasing it."""
    current = _liaison_locked(referral, by, expected_version)
    if current.hospital_side not in AWAITING_DECISION:
        raise ReferralError("Receipt is confirmed while the referral awaits the hospital.")
    if current.hospital_side != HospitalSide.SENT:
        when = timezone.localtime(current.receipt_confirmed_at)
        raise ReferralError(f"Receipt was already confirmed on {when:%d %b %Y}.")
    now = timezone.now()
    current.receipt_confirmed_at = current.hospital_update_at = now
    _save_new_version(current)
    event = _event(
        current, EventKind.RECEIPT_CONFIRMED, by, f"{_hospital_of(by)} received the referral."
    )
    _notify_coordinator(current, [event])
    return current


@transaction.atomic
def hospital_request_documents(
    *, referral: Referral, by: AbstractBaseUser | None, message: str
) -> ReferralEvent:
    """The hospital needs more before it decides: a timeline event with its message and a task
    for the coordinator, due in two working days."""
    current = _liaison_locked(referral, by)
    if current.stage not in HOSPITAL_OPEN_STAGES:
        raise ReferralError("Documents can be requested while the referral is open.")
    if not message.strip():
        raise ReferralError("Say which documents the hospital needs.")
    hospital = _hospital_of(by)
    now = timezone.now()
    Referral.objects.filter(pk=current.pk).update(hospital_update_at=now)
    event = _event(current, EventKind.DOCUMENTS_REQUESTED, by, message.strip())
    if current.assigned_to_id:
        Task.objects.create(
            referral=current,
            title=f"Send the documents {hospital} asked for",
            due_on=pipeline.contact_due_date(timezone.localdate(now)),
            assignee_id=current.assigned_to_id,
            created_by=by,
        )
    _notify_coordinator(current, [event])
    return event


@transaction.atomic
def hospital_set_dates(
    *,
    referral: Referral,
    by: AbstractBaseUser | None,
    expected_version: int,
    consult_date: datetime.date | None,
    apheresis_date: datetime.date | None,
    infusion_date: datetime.date | None,
) -> Referral:
    """Propose or change the consult, apheresis and infusion dates.

    The consult comes first, apheresis and infusion only once the hospital accepted and never
    before the consult (`pipeline.hospital_date_problems`). An accepted referral that gets its
    infusion date is scheduled in the same transaction; a scheduled one keeps an infusion date.
    """
    current = _liaison_locked(referral, by, expected_version)
    problems = pipeline.hospital_date_problems(
        stage=current.stage,
        referred_on=_referred_on(current),
        consult_date=consult_date,
        apheresis_date=apheresis_date,
        infusion_date=infusion_date,
    )
    if current.stage == Stage.SCHEDULED and not infusion_date:
        problems.append("A scheduled referral keeps its infusion date; change it instead.")
    if problems:
        raise ReferralError(" ".join(problems))
    new = (consult_date, apheresis_date, infusion_date)
    if new == (current.consult_date, current.apheresis_date, current.infusion_date):
        raise ReferralError("The dates are unchanged.")
    now = timezone.now()
    current.consult_date, current.apheresis_date = consult_date, apheresis_date
    current.infusion_date = infusion_date
    current.hospital_update_at = now
    if consult_date and not current.receipt_confirmed_at:
        current.receipt_confirmed_at = now  # a hospital that books a consult has the referral
    _save_new_version(current)
    events = [_event(current, EventKind.HOSPITAL_DATES, by, current.hospital_dates_text)]
    if current.stage == Stage.ACCEPTED and infusion_date:
        current, scheduled = _stage_move(
            current,
            to_stage=Stage.SCHEDULED,
            by=by,
            role=pipeline.Role.LIAISON,
            move=_Move(),
            notify_coordinator=False,
        )
        events.append(scheduled)
    _notify_coordinator(current, events)
    return current


@transaction.atomic
def coordinator_seen_mark(*, referral: Referral, by: AbstractBaseUser | None) -> None:
    """The assigned coordinator opened the lead: its hospital-update badge goes away.

    Not a change to the lead (no version, no history), so it never conflicts with a save.
    """
    if by is None or (referral.assigned_to_id and referral.assigned_to_id != by.pk):
        return
    Referral.objects.filter(pk=referral.pk).update(coordinator_seen_at=timezone.now())
