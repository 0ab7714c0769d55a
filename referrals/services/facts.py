"""Dated clinical facts recorded from the lead page, and coordinators' overrides of single
eligibility criteria. Each is a timeline event on the lead; an override always has its reason."""

import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from referrals import selectors
from referrals.eligibility import Result
from referrals.eligibility.engine import RESULT_WORDS
from referrals.models import ClinicalFact, CriterionOverride, Referral
from referrals.services.common import ReferralError, _event
from referrals.vocabulary import EventKind
from trials.clinical import FactValueError, fact_label, parse_fact_value


@transaction.atomic
def clinical_fact_record(
    *,
    referral: Referral,
    kind: str,
    value: str,
    observed_on: datetime.date,
    source: str,
    note: str = "",
    by: AbstractBaseUser | None,
) -> ClinicalFact:
    """Record a dated fact about the lead's patient (the newest of its kind is current)."""
    try:
        parsed = parse_fact_value(kind, value)
    except FactValueError as error:
        raise ReferralError(str(error)) from None
    fact = ClinicalFact(
        patient_id=referral.patient_id,
        kind=kind,
        observed_on=observed_on,
        source=source,
        note=note.strip(),
        recorded_by=by,
    )
    fact.value = parsed
    try:
        fact.full_clean()
    except ValidationError as error:
        raise ReferralError(" ".join(error.messages)) from None
    fact.save()
    _event(
        referral,
        EventKind.CLINICAL_FACT,
        by,
        f"{fact_label(kind)} {fact.value_label} on {observed_on:%d %b %Y} "
        f"({fact.get_source_display().lower()})",
    )
    return fact


@transaction.atomic
def criterion_override_set(
    *,
    referral: Referral,
    candidate_kind: str,
    candidate_id: int,
    criterion_key: str,
    result: str,
    reason: str,
    by: AbstractBaseUser,
) -> CriterionOverride:
    """Decide one criterion of one candidate for this lead, saying why; replaces an earlier
    decision on the same criterion. The criterion must be one the engine shows now."""
    reason = reason.strip()
    if not reason:
        raise ReferralError("Say why the criterion is overridden.")
    if result not in CriterionOverride.Decision.values:
        raise ReferralError("An override passes or fails the criterion.")
    evaluation = next(
        (
            e
            for e in selectors.referral_evaluations(referral)
            if (e.candidate.kind, e.candidate.id) == (candidate_kind, candidate_id)
        ),
        None,
    )
    criterion = evaluation and next(
        (c for c in evaluation.criteria if c.key == criterion_key), None
    )
    if criterion is None:
        raise ReferralError("That criterion is not among the candidate's criteria.")
    override, _created = CriterionOverride.objects.update_or_create(
        referral=referral,
        candidate_kind=candidate_kind,
        candidate_id=candidate_id,
        criterion_key=criterion_key,
        defaults={
            "criterion_name": criterion.name[:200],
            "result": result,
            "reason": reason,
            "decided_by": by,
        },
    )
    was = (
        criterion.overridden.split(" — ")[0]
        if criterion.overridden
        else RESULT_WORDS[criterion.result]
    )
    _event(
        referral,
        EventKind.OVERRIDE,
        by,
        f"{evaluation.candidate.name} · {criterion.name}: "
        f"{RESULT_WORDS[Result(result)]} (engine: {was}). {reason}",
    )
    return override


@transaction.atomic
def criterion_override_clear(
    *,
    referral: Referral,
    candidate_kind: str,
    candidate_id: int,
    criterion_key: str,
    by: AbstractBaseUser,
) -> None:
    """Withdraw an override: the engine's own result shows again."""
    override = CriterionOverride.objects.filter(
        referral=referral,
        candidate_kind=candidate_kind,
        candidate_id=candidate_id,
        criterion_key=criterion_key,
    ).first()
    if override is None:
        raise ReferralError("That override no longer exists.")
    override.delete()
    _event(referral, EventKind.OVERRIDE, by, f"Override withdrawn: {override.criterion_name}.")
