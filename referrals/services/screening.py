"""Screening: a lead's patient evaluated against one candidate, kept as a screening record."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from referrals import selectors
from referrals.models import Referral, ScreeningRecord
from referrals.services.common import ReferralError, _event
from referrals.vocabulary import EventKind


@transaction.atomic
def screening_record(
    *, referral: Referral, kind: str, candidate_id: int, by: AbstractBaseUser | None
) -> ScreeningRecord:
    """Evaluate the lead's patient against one candidate now, the lead's overrides applied,
    and keep the result with each criterion's source sentence."""
    evaluation = next(
        (
            e
            for e in selectors.referral_evaluations(referral)
            if e.candidate.kind == kind and e.candidate.id == candidate_id
        ),
        None,
    )
    if evaluation is None:
        raise ReferralError("That program or trial no longer exists.")
    record = ScreeningRecord.objects.create(
        referral=referral,
        program_id=candidate_id if kind == "program" else None,
        trial_id=candidate_id if kind == "trial" else None,
        candidate_name=evaluation.candidate.name,
        verdict=evaluation.verdict.value,
        criteria=evaluation.criteria_dicts(),
        recorded_by=by,
    )
    failed = ", ".join(evaluation.failed_criteria)
    detail = f" (failed: {failed})" if failed else ""
    _event(
        referral,
        EventKind.SCREENING,
        by,
        f"{evaluation.candidate.name}: {evaluation.verdict.label}{detail}",
    )
    return record
