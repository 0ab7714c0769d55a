"""How much of each trial's and program's eligibility its criteria encode: how many are typed,
how many are left to a clinician (manual), and which clauses of the trial's eligibility text no
criterion quotes yet.

The last is a heuristic, to point an admin at what is left to encode: the text is cut into
clauses at semicolons and full stops, and a clause counts as encoded when a criterion's source
sentence contains it, or contains each of its comma-separated parts (criteria often quote one
part each: "MG-ADL ≥6", "MGFA II–IV"). Case and spacing are ignored.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from trials.criteria import CriterionKind
from trials.models import EligibilityCriterion, Program, Trial

# A full stop ends a clause only before a space or the end, so "EDSS 3.0–7.0" stays whole.
CLAUSE_END = re.compile(r";|\.(?=\s|$)")


@dataclass(frozen=True)
class CandidateCoverage:
    kind: str  # "trial" or "program"
    id: int
    name: str
    typed: int
    manual: int
    # The clauses no criterion quotes; None when there is no eligibility text to compare
    # (programs have none, and a trial's may be blank).
    not_encoded: tuple[str, ...] | None


@dataclass(frozen=True)
class CriteriaCoverage:
    candidates: tuple[CandidateCoverage, ...]

    @property
    def totals(self) -> dict[str, int]:
        rows = self.candidates
        return {
            "trials": sum(row.kind == "trial" for row in rows),
            "programs": sum(row.kind == "program" for row in rows),
            "typed": sum(row.typed for row in rows),
            "manual": sum(row.manual for row in rows),
            "without_criteria": sum(row.typed + row.manual == 0 for row in rows),
            "with_clauses_not_encoded": sum(bool(row.not_encoded) for row in rows),
            "clauses_not_encoded": sum(len(row.not_encoded or ()) for row in rows),
        }


def criteria_coverage() -> CriteriaCoverage:
    """Every trial, then every program, with its criteria counted: four queries."""
    trials = Trial.objects.prefetch_related("criteria")
    programs = Program.objects.select_related("hospital").prefetch_related("criteria")
    return CriteriaCoverage(
        candidates=tuple(_coverage("trial", trial, trial.eligibility_text) for trial in trials)
        + tuple(_coverage("program", program, "") for program in programs)
    )


def _coverage(kind: str, owner: Trial | Program, text: str) -> CandidateCoverage:
    criteria: list[EligibilityCriterion] = list(owner.criteria.all())
    manual = sum(criterion.kind == CriterionKind.MANUAL for criterion in criteria)
    return CandidateCoverage(
        kind=kind,
        id=owner.pk,
        name=str(owner),
        typed=len(criteria) - manual,
        manual=manual,
        not_encoded=(
            not_encoded_clauses(text, (criterion.source_text for criterion in criteria))
            if text.strip()
            else None
        ),
    )


def not_encoded_clauses(text: str, sources: Iterable[str]) -> tuple[str, ...]:
    """The clauses of `text`, as written, that none of the `sources` quotes."""
    quoted = [_normal(source) for source in sources]
    clauses = (" ".join(part.split()) for part in CLAUSE_END.split(text))
    return tuple(
        clause.strip(" ,:")
        for clause in clauses
        if _normal(clause) and not _is_quoted(clause, quoted)
    )


def _is_quoted(clause: str, quoted: list[str]) -> bool:
    parts = [_normal(part) for part in clause.split(",")]
    return any(_normal(clause) in source for source in quoted) or all(
        any(part in source for source in quoted) for part in parts if part
    )


def _normal(text: str) -> str:
    return " ".join(text.split()).strip(" ,.;:").casefold()
