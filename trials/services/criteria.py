"""Criteria proposed from a trial's registry eligibility text, saved unconfirmed."""

from django.db import transaction

from trials.criteria_proposals import criteria_propose
from trials.models import EligibilityCriterion, Trial, reference_slugs


@transaction.atomic
def trial_criteria_propose(*, trial: Trial) -> int:
    """Save what the eligibility text's recognisable sentences say as unconfirmed criteria, for
    an admin to check and confirm; a sentence already encoded in that kind is skipped. Returns
    how many were proposed."""
    existing = set(trial.criteria.values_list("kind", "source_text"))
    position = max(trial.criteria.values_list("position", flat=True), default=0)
    proposals = [
        proposal
        for proposal in criteria_propose(trial.eligibility_text, **reference_slugs())
        if (proposal.kind, proposal.source_text) not in existing
    ]
    EligibilityCriterion.objects.bulk_create(
        EligibilityCriterion(
            trial=trial,
            role=proposal.role,
            kind=proposal.kind,
            params=proposal.params,
            source_text=proposal.source_text,
            position=position + index,
            confirmed=False,
        )
        for index, proposal in enumerate(proposals, start=1)
    )
    return len(proposals)
