"""A lead's own record: creating and editing it, its coordinator, its target, its next action,
its notes, and folding a duplicate lead into it.
"""

import datetime
from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from referrals.models import Patient, Referral, ReferralEvent
from referrals.services.common import (
    ReferralError,
    _arrival_events,
    _as_new_lead,
    _display_name,
    _event,
    _locked,
    _save_new_version,
)
from referrals.vocabulary import NOTE_KINDS, CloseReason, EventKind, Stage
from trials.models import Program, Trial


@transaction.atomic
def referral_create(
    *, referral: Referral, by: AbstractBaseUser | None, detail: str = ""
) -> Referral:
    """Save a new lead with its first timeline events (`detail` is added to the first one)."""
    body = _as_new_lead(referral, timezone.now(), detail)
    referral.save()
    _arrival_events(referral, by, body)
    return referral


@transaction.atomic
def referral_update(
    *,
    referral: Referral,
    changed_fields: Iterable[str],
    expected_version: int,
    by: AbstractBaseUser | None,
) -> Referral:
    """Save edited fields of a lead (the admin form); the stage only moves by transition."""
    current = _locked(referral, expected_version)
    changed = [name for name in changed_fields if name not in {"version", "stage"}]
    for name in changed:
        setattr(current, name, getattr(referral, name))
    _save_new_version(current)
    if "assigned_to" in changed:
        _event(
            current, EventKind.ASSIGNMENT, by, f"Assigned to {_display_name(current.assigned_to)}"
        )
    return current


@transaction.atomic
def referral_assign(
    *,
    referral: Referral,
    assignee: AbstractBaseUser | None,
    by: AbstractBaseUser | None,
    expected_version: int,
) -> Referral:
    current = _locked(referral, expected_version)
    if current.assigned_to_id == (assignee.pk if assignee else None):
        raise ReferralError(f"The lead is already assigned to {_display_name(assignee)}.")
    current.assigned_to = assignee
    _save_new_version(current)
    _event(current, EventKind.ASSIGNMENT, by, f"Assigned to {_display_name(assignee)}")
    return current


@transaction.atomic
def referral_set_target(
    *,
    referral: Referral,
    program: Program | None = None,
    trial: Trial | None = None,
    by: AbstractBaseUser | None,
    expected_version: int,
) -> Referral:
    """Choose where the lead will be referred: one program or one trial."""
    if (program is None) == (trial is None):
        raise ReferralError("Choose exactly one program or trial as the target.")
    current = _locked(referral, expected_version)
    current.target_program, current.target_trial = program, trial
    _save_new_version(current)
    _event(current, EventKind.TARGET, by, f"Target: {program or trial}")
    return current


@transaction.atomic
def referral_set_next_action(
    *,
    referral: Referral,
    next_action: str,
    next_action_due: datetime.date | None,
    by: AbstractBaseUser | None,
    expected_version: int,
) -> Referral:
    current = _locked(referral, expected_version)
    current.next_action, current.next_action_due = next_action.strip(), next_action_due
    _save_new_version(current)
    return current


@transaction.atomic
def referral_add_note(
    *, referral: Referral, kind: str, body: str, by: AbstractBaseUser | None
) -> ReferralEvent:
    """A note, call, e-mail or received document on the lead's timeline."""
    if kind not in NOTE_KINDS:
        raise ReferralError("A note must be a note, a call, an e-mail or a received document.")
    if not body.strip():
        raise ReferralError("The note is empty.")
    return _event(referral, EventKind(kind), by, body.strip())


@transaction.atomic
def referral_merge(*, keep: Referral, duplicate: Referral, by: AbstractBaseUser | None) -> Referral:
    """Fold a duplicate lead into `keep`; nothing is deleted.

    The duplicate's treatment lines, open tasks, notes and documents move to `keep` (lines
    renumbered after its own), blank contact details are filled from the duplicate, and the
    duplicate is closed as a duplicate pointing at `keep`, with its own stage history left in
    place.
    """
    keep = Referral.objects.select_for_update().select_related("patient").get(pk=keep.pk)
    duplicate = Referral.objects.select_for_update().select_related("patient").get(pk=duplicate.pk)
    if keep.pk == duplicate.pk:
        raise ReferralError("A lead cannot be merged into itself.")
    if duplicate.merged_into_id or not duplicate.is_open:
        raise ReferralError(f"Lead #{duplicate.pk} is closed or already merged.")
    if not keep.is_open:
        raise ReferralError("Merge into an open lead.")

    if duplicate.patient_id != keep.patient_id:
        _patient_absorb(keep=keep.patient, duplicate=duplicate.patient)
    duplicate.tasks.filter(done_at__isnull=True).update(referral=keep)
    duplicate.documents.update(referral=keep)
    duplicate.events.filter(kind__in=NOTE_KINDS).update(referral=keep)
    keep.possible_duplicates.remove(duplicate)
    keep.version += 1
    keep.save()

    from_stage = duplicate.stage
    duplicate.stage, duplicate.stage_changed_at = Stage.CLOSED, timezone.now()
    duplicate.close_reason = CloseReason.DUPLICATE
    duplicate.close_detail = f"Merged into lead #{keep.pk}"
    duplicate.merged_into = keep
    duplicate.next_action, duplicate.next_action_due = "", None
    duplicate.version += 1
    duplicate.save()
    _event(
        duplicate,
        EventKind.STAGE_CHANGE,
        by,
        duplicate.close_detail,
        from_stage=from_stage,
        to_stage=Stage.CLOSED,
    )
    _event(keep, EventKind.MERGE, by, f"Lead #{duplicate.pk} ({duplicate.patient}) merged in.")
    return keep


def _patient_absorb(*, keep: Patient, duplicate: Patient) -> None:
    next_number = max((line.line_number for line in keep.treatment_lines.all()), default=0)
    for line in duplicate.treatment_lines.order_by("line_number"):
        next_number += 1
        line.patient, line.line_number = keep, next_number
        line.save()
    for field in ("date_of_birth", "phone", "email", "city", "diagnosis_year", "condition_other"):
        if not getattr(keep, field) and getattr(duplicate, field):
            setattr(keep, field, getattr(duplicate, field))
    if keep.primary_condition_id is None:
        keep.primary_condition_id = duplicate.primary_condition_id
    keep.save()
