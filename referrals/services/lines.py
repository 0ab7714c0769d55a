"""A patient's prior treatment lines, added or corrected from the lead page."""

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from referrals.models import PriorTreatmentLine, Referral
from referrals.services.common import ReferralError, _event
from referrals.vocabulary import EventKind
from trials.models import Therapy


@transaction.atomic
def treatment_line_save(
    *,
    referral: Referral,
    line: PriorTreatmentLine,
    therapies: Iterable[Therapy],
    by: AbstractBaseUser | None,
) -> PriorTreatmentLine:
    """Add or correct a prior treatment line of the lead's patient (already validated)."""
    if line.patient_id != referral.patient_id:
        raise ReferralError("That treatment line belongs to another patient.")
    is_new = line.pk is None
    line.save()
    line.therapies.set(therapies)
    regimen = " + ".join(t.name for t in line.therapies.all())
    verb = "added" if is_new else "updated"
    _event(
        referral,
        EventKind.TREATMENT_LINE,
        by,
        f"Line {line.line_number} {verb}: {regimen} ({line.get_reason_stopped_display()})",
    )
    return line
