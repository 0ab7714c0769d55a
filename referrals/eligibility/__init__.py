"""The eligibility engine: a patient's dated facts, every candidate's criteria and "today" in,
explained three-valued verdicts out. Pure: no ORM, no request, no clock.

- `types.py`: the inputs and outputs (facts, lines, candidates, criteria, verdicts);
- `engine.py`: `evaluate`, the built-in criteria (condition, age, failed lines, open, where it
  treats, exclusion notes) and overrides;
- `typed.py`: the typed criteria of `trials.criteria`, kind by kind.
"""

from referrals.eligibility.engine import evaluate
from referrals.eligibility.types import (
    MISSING_LABELS,
    VERDICT_RANK,
    Candidate,
    ConditionTree,
    Criterion,
    Evaluation,
    Fact,
    Line,
    Override,
    PatientFacts,
    Result,
    TypedCriterion,
    Verdict,
    checklist,
    missing_label,
    verdict_of,
)

__all__ = [
    "MISSING_LABELS",
    "VERDICT_RANK",
    "Candidate",
    "ConditionTree",
    "Criterion",
    "Evaluation",
    "Fact",
    "Line",
    "Override",
    "PatientFacts",
    "Result",
    "TypedCriterion",
    "Verdict",
    "checklist",
    "evaluate",
    "missing_label",
    "verdict_of",
]
