"""What every write shares: the domain's refusal, the optimistic lock and the new version, the
timeline event, a new lead's first events, and the hospital side's scope check and its notice to
the coordinator (both the coordinator's moves and the liaison's answers need them).
"""

import datetime
from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from referrals import access, tasks
from referrals.models import Referral, ReferralEvent
from referrals.vocabulary import EventKind


class ReferralError(Exception):
    """A request the domain refuses; the message is shown to the user as is."""


class ReferralConflict(ReferralError):
    def __init__(self) -> None:
        super().__init__(
            "Someone else saved this referral while you were editing it. "
            "Reload the page to see their changes, then make yours again."
        )


def _display_name(user: AbstractBaseUser | None) -> str:
    if user is None:
        return "nobody"
    return user.get_full_name() or user.get_username()


def _locked(referral: Referral, expected_version: int) -> Referral:
    """The current row, locked for this transaction, if nobody saved it since we loaded it.

    The row lock (PostgreSQL) or the IMMEDIATE write transaction (SQLite) serialises concurrent
    saves, so of two coordinators who loaded the same version exactly one wins; the other gets
    `ReferralConflict` and nothing of theirs is written.
    """
    current = Referral.objects.select_for_update().get(pk=referral.pk)
    if current.version != expected_version:
        raise ReferralConflict()
    return current


def _save_new_version(referral: Referral) -> None:
    referral.version += 1
    referral.save()


def _event(referral: Referral, kind: EventKind, by, body: str = "", **fields) -> ReferralEvent:
    return ReferralEvent.objects.create(
        referral=referral, kind=kind, body=body, author=by, **fields
    )


def _arrival_event_list(referral: Referral, by, body: str, **fields) -> list[ReferralEvent]:
    """A new lead's first events, unsaved: its arrival, and its coordinator if it has one."""
    events = [
        ReferralEvent(referral=referral, kind=EventKind.CREATED, body=body, author=by, **fields)
    ]
    if referral.assigned_to_id:
        events.append(
            ReferralEvent(
                referral=referral,
                kind=EventKind.ASSIGNMENT,
                body=f"Assigned to {_display_name(referral.assigned_to)}",
                author=by,
            )
        )
    return events


def _arrival_events(referral: Referral, by, body: str, **fields) -> None:
    """A new lead's first events: one INSERT."""
    ReferralEvent.objects.bulk_create(_arrival_event_list(referral, by, body, **fields))


def _as_new_lead(referral: Referral, now: datetime.datetime, detail: str) -> str:
    """Stamp an unsaved lead as new at `now`; the body of its "created" event."""
    referral.created_at = referral.stage_changed_at = now
    referral.version = 1
    return f"Lead received ({referral.get_source_display()}). {detail}".strip()


def _duplicate_note(duplicates: Iterable[int]) -> str:
    ids = ", ".join(f"#{pk}" for pk in duplicates)
    return f" Possible duplicate of {ids}." if ids else ""


def _check_liaison_scope(referral: Referral, by: AbstractBaseUser | None) -> None:
    if not access.may_see_referral(by, referral):
        raise ReferralError(f"Lead #{referral.pk} was not referred to your hospital.")


def _hospital_of(by: AbstractBaseUser | None) -> str:
    profile = access.liaison_profile_of(by) if by is not None else None
    return profile.hospital.name if profile else "the hospital"


def _referred_on(referral: Referral) -> datetime.date | None:
    return timezone.localdate(referral.referred_at) if referral.referred_at else None


def _notify_coordinator(referral: Referral, events: list[ReferralEvent]) -> None:
    event_ids = [event.pk for event in events]
    transaction.on_commit(
        lambda: tasks.hospital_update_notify.enqueue(referral_id=referral.pk, event_ids=event_ids)
    )
