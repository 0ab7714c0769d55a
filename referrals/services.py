"""Every write to referrals: keyword-only, atomic, and leaving a timeline event behind.

Services raise `ReferralError` for anything a user did wrong; views and admin actions turn it
into a message and nothing is written.
"""

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from referrals.models import EventKind, Referral, ReferralEvent


class ReferralError(Exception):
    """A request the domain refuses; the message is shown to the user as is."""


class ReferralConflict(ReferralError):
    def __init__(self) -> None:
        super().__init__(
            "Someone else saved this referral while you were editing it. "
            "Reload the page to see their changes, then make yours again."
        )


def _describe_assignee(user: AbstractBaseUser | None) -> str:
    if user is None:
        return "Unassigned"
    return f"Assigned to {user.get_full_name() or user.get_username()}"


@transaction.atomic
def referral_create(*, referral: Referral, by: AbstractBaseUser | None) -> Referral:
    """Save a new lead with its first timeline events."""
    now = timezone.now()
    referral.created_at = referral.stage_changed_at = now
    referral.version = 1
    referral.save()
    ReferralEvent.objects.create(
        referral=referral,
        kind=EventKind.CREATED,
        to_stage=referral.stage,
        body=f"Lead received ({referral.get_source_display()}).",
        author=by,
        created_at=now,
    )
    if referral.assigned_to_id:
        ReferralEvent.objects.create(
            referral=referral,
            kind=EventKind.ASSIGNMENT,
            body=_describe_assignee(referral.assigned_to),
            author=by,
            created_at=now,
        )
    return referral


@transaction.atomic
def referral_update(
    *,
    referral: Referral,
    changed_fields: Iterable[str],
    expected_version: int,
    by: AbstractBaseUser | None,
) -> Referral:
    """Save edited fields of a lead unless someone else saved it since `expected_version`.

    The row lock (PostgreSQL) or the IMMEDIATE write transaction (SQLite) serialises concurrent
    saves, so exactly one of two coordinators who loaded the same version wins; the other gets
    `ReferralConflict` and nothing of theirs is written.
    """
    current = Referral.objects.select_for_update().get(pk=referral.pk)
    if current.version != expected_version:
        raise ReferralConflict()
    changed = [name for name in changed_fields if name not in {"version", "stage"}]
    for name in changed:
        setattr(current, name, getattr(referral, name))
    current.version = expected_version + 1
    current.save()
    if "assigned_to" in changed:
        ReferralEvent.objects.create(
            referral=current,
            kind=EventKind.ASSIGNMENT,
            body=_describe_assignee(current.assigned_to),
            author=by,
        )
    return current
