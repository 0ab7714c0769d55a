"""The eligibility engine: patient facts and candidate criteria in, explained verdicts out.

Pure: no ORM, no request. The lead page, `manage.py match`, the board and the screening log
all call `evaluate`, and selectors build its inputs in a fixed number of queries.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


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


@dataclass(frozen=True)
class PatientFacts:
    age: int | None
    condition_ids: frozenset[int]
    condition_names: tuple[str, ...]
    failed_line_count: int
    line_count: int
    exclusions: tuple[str, ...] = ()


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


@dataclass(frozen=True)
class Criterion:
    name: str
    result: Result
    detail: str


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
        }

    def criteria_dicts(self) -> list[dict]:
        """The criteria as plain JSON: the `match` output and the screening record's snapshot."""
        return [
            {"name": c.name, "result": c.result.value, "detail": c.detail} for c in self.criteria
        ]

    @property
    def failed_criteria(self) -> list[str]:
        return [c.name for c in self.criteria if c.result == Result.FAIL]


def evaluate(patient: PatientFacts, candidates: Iterable[Candidate]) -> list[Evaluation]:
    """Every candidate's verdict, best first: eligible, then needs info, then ineligible."""
    evaluations = [_evaluate_one(patient, candidate) for candidate in candidates]
    return sorted(
        evaluations,
        key=lambda e: (
            VERDICT_RANK[e.verdict],
            -sum(c.result == Result.PASS for c in e.criteria),
            e.candidate.kind,
            e.candidate.name,
        ),
    )


def _evaluate_one(patient: PatientFacts, candidate: Candidate) -> Evaluation:
    criteria = (
        _condition(patient, candidate),
        _age(patient, candidate),
        _failed_lines(patient, candidate),
        _open(candidate),
        _exclusions(patient),
    )
    results = {criterion.result for criterion in criteria}
    if Result.FAIL in results:
        verdict = Verdict.INELIGIBLE
    elif Result.UNKNOWN in results:
        verdict = Verdict.NEEDS_INFO
    else:
        verdict = Verdict.ELIGIBLE
    return Evaluation(candidate=candidate, verdict=verdict, criteria=criteria)


def _condition(patient: PatientFacts, candidate: Candidate) -> Criterion:
    name = "Condition"
    if not candidate.condition_ids:
        return Criterion(name, Result.UNKNOWN, f"{candidate.name} lists no conditions.")
    if not patient.condition_ids:
        return Criterion(name, Result.UNKNOWN, "No diagnosis recorded for the patient.")
    matched = patient.condition_ids & candidate.condition_ids
    wanted = ", ".join(candidate.condition_names)
    if matched:
        return Criterion(name, Result.PASS, f"Diagnosis matches ({wanted}).")
    has = ", ".join(patient.condition_names)
    return Criterion(name, Result.FAIL, f"Patient has {has}; candidate takes {wanted}.")


def _age(patient: PatientFacts, candidate: Candidate) -> Criterion:
    name = "Age"
    if candidate.min_age is None and candidate.max_age is None:
        return Criterion(name, Result.PASS, "No age limits.")
    limits = _age_limits(candidate.min_age, candidate.max_age)
    if patient.age is None:
        return Criterion(name, Result.UNKNOWN, f"Date of birth not recorded (needs {limits}).")
    too_young = candidate.min_age is not None and patient.age < candidate.min_age
    too_old = candidate.max_age is not None and patient.age > candidate.max_age
    if too_young or too_old:
        return Criterion(name, Result.FAIL, f"Age {patient.age} is outside {limits}.")
    return Criterion(name, Result.PASS, f"Age {patient.age} ({limits} required).")


def _age_limits(min_age: int | None, max_age: int | None) -> str:
    if max_age is None:
        return f"{min_age} or older"
    if min_age is None:
        return f"{max_age} or younger"
    return f"{min_age}–{max_age}"


def _failed_lines(patient: PatientFacts, candidate: Candidate) -> Criterion:
    name = "Failed lines"
    required = candidate.min_failed_lines
    have = patient.failed_line_count
    lines = "failed line" if have == 1 else "failed lines"
    if have >= required:
        return Criterion(name, Result.PASS, f"{have} {lines} (≥ {required} required).")
    if patient.line_count == 0:
        return Criterion(
            name, Result.UNKNOWN, f"No treatment lines recorded yet ({required} required)."
        )
    return Criterion(name, Result.FAIL, f"{have} {lines}, {required} required.")


def _open(candidate: Candidate) -> Criterion:
    if candidate.kind == "trial":
        name, wanted = "Trial recruiting", "recruiting"
    else:
        name, wanted = "Program accepting", "accepting referrals"
    if candidate.is_open:
        return Criterion(name, Result.PASS, f"{candidate.status_label}.")
    return Criterion(name, Result.FAIL, f"{candidate.status_label}; not {wanted}.")


def _exclusions(patient: PatientFacts) -> Criterion:
    name = "Exclusions"
    if patient.exclusions:
        return Criterion(name, Result.FAIL, "Recorded: " + "; ".join(patient.exclusions) + ".")
    return Criterion(name, Result.PASS, "None recorded.")
