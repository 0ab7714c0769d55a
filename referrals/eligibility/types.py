"""The engine's inputs and outputs: plain dataclasses, no model, no clock."""

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from trials.clinical import fact_label
from trials.criteria import CriterionRole, CriterionRule


class Result(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"


class Verdict(StrEnum):
    ELIGIBLE = "eligible"
    NEEDS_INFO = "needs_info"
    INELIGIBLE = "ineligible"

    @property
    def label(self) -> str:
        return {"eligible": "Eligible", "needs_info": "Needs info", "ineligible": "Ineligible"}[
            self.value
        ]


VERDICT_RANK = {Verdict.ELIGIBLE: 0, Verdict.NEEDS_INFO: 1, Verdict.INELIGIBLE: 2}

# What to collect when it is not a clinical fact of the catalogue.
MISSING_LABELS = {
    "date_of_birth": "Date of birth",
    "diagnosis": "Diagnosis",
    "diagnosis_subtype": "Diagnosis subtype",
    "treatment_lines": "Prior treatment lines",
    "line_dates": "Start and stop dates of the treatment lines",
    "clinician_review": "A clinician's review",
}


def missing_label(key: str) -> str:
    return MISSING_LABELS.get(key) or fact_label(key)


@dataclass(frozen=True)
class Fact:
    """The latest recorded value of one kind: a Decimal, a choice value, "yes"/"no" or a date."""

    kind: str
    value: Decimal | str | datetime.date
    observed_on: datetime.date


@dataclass(frozen=True)
class Line:
    """A prior treatment line as the rules read it."""

    therapies: frozenset[str]
    drug_classes: frozenset[str]
    counts: bool  # has a therapy that counts toward failed lines
    start: datetime.date | None
    end: datetime.date | None
    reason_stopped: str


@dataclass(frozen=True)
class ConditionTree:
    """The condition hierarchy: each condition's parent, by id, and the slug of each id."""

    parents: Mapping[int, int | None] = field(default_factory=dict)
    slugs: Mapping[int, str] = field(default_factory=dict)

    def lineage(self, ids: Iterable[int]) -> frozenset[int]:
        """The conditions and every broader condition above them."""
        found = set()
        for condition_id in ids:
            while condition_id is not None and condition_id not in found:
                found.add(condition_id)
                condition_id = self.parents.get(condition_id)
        return frozenset(found)

    def ids_of(self, slugs: Iterable[str]) -> frozenset[int]:
        wanted = set(slugs)
        return frozenset(i for i, slug in self.slugs.items() if slug in wanted)


@dataclass(frozen=True)
class PatientFacts:
    age: int | None
    condition_ids: frozenset[int]
    condition_names: tuple[str, ...]
    failed_line_count: int
    line_count: int
    exclusions: tuple[str, ...] = ()
    lines: tuple[Line, ...] = ()
    facts: Mapping[str, Fact] = field(default_factory=dict)
    diagnosis_year: int | None = None


@dataclass(frozen=True)
class TypedCriterion:
    """One of a candidate's typed criteria: `key` is stable ("c12") for overrides."""

    key: str
    role: CriterionRole
    rule: CriterionRule
    source: str


@dataclass(frozen=True)
class Candidate:
    kind: str  # "program" or "trial"
    id: int
    name: str
    condition_ids: frozenset[int]
    condition_names: tuple[str, ...]
    min_age: int | None
    max_age: int | None
    min_failed_lines: int
    is_open: bool
    status_label: str
    criteria: tuple[TypedCriterion, ...] = ()
    # Countries where it treats: the hospital's, or the trial's sites'; None when no site is
    # recorded (the reference trials), which no criterion can judge.
    countries: frozenset[str] | None = None


@dataclass(frozen=True)
class Override:
    """A coordinator's decision on one criterion of one candidate, with the reason."""

    result: Result
    reason: str
    by: str
    on: datetime.date


@dataclass(frozen=True)
class Criterion:
    name: str
    result: Result
    detail: str
    source: str = ""
    missing: tuple[str, ...] = ()
    key: str = ""
    overridden: str = ""  # the engine's own result before an override, with who and why

    def as_dict(self) -> dict:
        data = {"name": self.name, "result": self.result.value, "detail": self.detail}
        if self.key:
            data["key"] = self.key
        if self.source:
            data["source"] = self.source
        if self.missing:
            data["missing"] = list(self.missing)
        if self.overridden:
            data["overridden"] = self.overridden
        return data


@dataclass(frozen=True)
class Evaluation:
    candidate: Candidate
    verdict: Verdict
    criteria: tuple[Criterion, ...]

    def as_dict(self) -> dict:
        return {
            "kind": self.candidate.kind,
            "id": self.candidate.id,
            "name": self.candidate.name,
            "verdict": self.verdict.value,
            "criteria": self.criteria_dicts(),
            "missing": list(self.missing),
        }

    def criteria_dicts(self) -> list[dict]:
        """The criteria as plain JSON: the `match` output and the screening record's snapshot."""
        return [criterion.as_dict() for criterion in self.criteria]

    @property
    def passed_count(self) -> int:
        return sum(c.result == Result.PASS for c in self.criteria)

    @property
    def failed_criteria(self) -> list[str]:
        return [c.name for c in self.criteria if c.result == Result.FAIL]

    @property
    def missing(self) -> tuple[str, ...]:
        """What to collect to decide: the unknown criteria's missing facts, once each."""
        found = {}
        for criterion in self.criteria:
            if criterion.result == Result.UNKNOWN:
                found.update(dict.fromkeys(criterion.missing))
        return tuple(found)


def checklist(evaluations: Iterable[Evaluation]) -> list[tuple[str, int]]:
    """What to collect, most wanted first: each missing item with the number of candidates
    that need it to decide (ineligible candidates need nothing more)."""
    counts: dict[str, int] = {}
    for evaluation in evaluations:
        if evaluation.verdict == Verdict.NEEDS_INFO:
            for key in evaluation.missing:
                counts[key] = counts.get(key, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], missing_label(item[0])))


def verdict_of(results: Iterable[Result]) -> Verdict:
    results = set(results)
    if Result.FAIL in results:
        return Verdict.INELIGIBLE
    if Result.UNKNOWN in results:
        return Verdict.NEEDS_INFO
    return Verdict.ELIGIBLE


OverrideKey = tuple[str, int, str]  # candidate kind, candidate id, criterion key
