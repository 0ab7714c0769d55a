"""The eligibility engine: a patient's dated facts, every candidate's criteria and "today" in,
explained three-valued verdicts out.

Pure: no ORM, no request, no clock. The lead page, `manage.py match`, the board and the
screening log all call `evaluate`; selectors build its inputs in a fixed number of queries.

Each criterion is pass, fail or unknown. A fact never recorded, or older than its freshness
window, is unknown, never pass. A candidate is ineligible if any criterion fails, eligible only
if every one passes, and otherwise needs information: the `missing` of its unknown criteria say
what to collect. A coordinator's override replaces one criterion's result, with its reason.
"""

import datetime
from collections.abc import Iterable, Mapping

from referrals.eligibility.typed import TypedEvaluator, current_fact
from referrals.eligibility.types import (
    VERDICT_RANK,
    Candidate,
    ConditionTree,
    Criterion,
    Evaluation,
    Override,
    OverrideKey,
    PatientFacts,
    Result,
    verdict_of,
)
from trials.criteria import CriterionKind, CriterionRole
from trials.vocabulary import HOME_COUNTRY


def evaluate(
    patient: PatientFacts,
    candidates: Iterable[Candidate],
    *,
    today: datetime.date,
    tree: ConditionTree | None = None,
    overrides: Mapping[OverrideKey, Override] | None = None,
) -> list[Evaluation]:
    """Every candidate's verdict, best first: eligible, then needs info, then ineligible."""
    context = _Context(patient, today, tree or ConditionTree(), overrides or {})
    evaluations = [context.evaluate(candidate) for candidate in candidates]
    return sorted(
        evaluations,
        key=lambda e: (
            VERDICT_RANK[e.verdict],
            -sum(c.result == Result.PASS for c in e.criteria),
            e.candidate.kind,
            e.candidate.name,
        ),
    )


# How a criterion's result reads in a sentence ("Engine said needs information — …").
RESULT_WORDS = {Result.PASS: "passes", Result.FAIL: "fails", Result.UNKNOWN: "needs information"}


class _Context:
    def __init__(self, patient, today, tree, overrides) -> None:
        self.patient, self.today, self.tree, self.overrides = patient, today, tree, overrides
        self.lineage = tree.lineage(patient.condition_ids)
        self.typed = TypedEvaluator(patient, today, tree).evaluate

    def evaluate(self, candidate: Candidate) -> Evaluation:
        typed_lines = any(
            c.rule.kind == CriterionKind.FAILED_LINES and c.role == CriterionRole.INCLUSION
            for c in candidate.criteria
        )
        criteria = [
            self.condition(candidate),
            _age(self.patient, candidate),
            *([] if typed_lines else [_failed_lines(self.patient, candidate)]),
            _open(candidate),
            *([self.sites(candidate)] if candidate.countries is not None else []),
            *([_exclusion_notes(self.patient)] if self.patient.exclusions else []),
            *(self.typed(criterion) for criterion in candidate.criteria),
        ]
        criteria = tuple(self.overridden(candidate, criterion) for criterion in criteria)
        return Evaluation(
            candidate=candidate,
            verdict=verdict_of(c.result for c in criteria),
            criteria=criteria,
        )

    def overridden(self, candidate: Candidate, criterion: Criterion) -> Criterion:
        override = self.overrides.get((candidate.kind, candidate.id, criterion.key))
        if override is None:
            return criterion
        was = (
            f"{RESULT_WORDS[criterion.result]} — {criterion.detail.rstrip('.')}; "
            f"overridden by {override.by} on {override.on:%d %b %Y}"
        )
        return Criterion(
            criterion.name,
            override.result,
            f"Overridden: {override.reason}",
            criterion.source,
            (),
            criterion.key,
            was,
        )

    # --- the built-in criteria of every candidate ----------------------------------------------

    def condition(self, candidate: Candidate) -> Criterion:
        name, key = "Condition", "condition"
        if not candidate.condition_ids:
            return Criterion(
                name, Result.UNKNOWN, f"{candidate.name} lists no conditions.", key=key
            )
        if not self.patient.condition_ids:
            return Criterion(
                name,
                Result.UNKNOWN,
                "No diagnosis recorded for the patient.",
                missing=("diagnosis",),
                key=key,
            )
        wanted = ", ".join(candidate.condition_names)
        if self.lineage & candidate.condition_ids:
            return Criterion(name, Result.PASS, f"Diagnosis matches ({wanted}).", key=key)
        has = ", ".join(self.patient.condition_names)
        if self.patient.condition_ids & self.tree.lineage(candidate.condition_ids):
            return Criterion(
                name,
                Result.UNKNOWN,
                f"Patient has {has}; candidate takes {wanted}: record the subtype if it applies.",
                missing=("diagnosis_subtype",),
                key=key,
            )
        return Criterion(
            name, Result.FAIL, f"Patient has {has}; candidate takes {wanted}.", key=key
        )

    def sites(self, candidate: Candidate) -> Criterion:
        name, key = "Where it treats", "sites"
        countries = candidate.countries
        listed = ", ".join(sorted(countries))
        if HOME_COUNTRY in countries:
            return Criterion(name, Result.PASS, f"Treats in {listed}.", key=key)
        abroad = current_fact(self.patient, "travel_abroad", self.today)
        if isinstance(abroad, Criterion):
            return Criterion(
                name,
                Result.UNKNOWN,
                f"Only in {listed}: can the patient be treated abroad?",
                missing=("travel_abroad",),
                key=key,
            )
        if abroad.value == "yes":
            return Criterion(name, Result.PASS, f"Only in {listed}; can travel abroad.", key=key)
        return Criterion(
            name, Result.FAIL, f"Only in {listed}; the patient cannot travel.", key=key
        )


def _age(patient: PatientFacts, candidate: Candidate) -> Criterion:
    name, key = "Age", "age"
    if candidate.min_age is None and candidate.max_age is None:
        return Criterion(name, Result.PASS, "No age limits.", key=key)
    limits = _age_limits(candidate.min_age, candidate.max_age)
    if patient.age is None:
        return Criterion(
            name,
            Result.UNKNOWN,
            f"Date of birth not recorded (needs {limits}).",
            missing=("date_of_birth",),
            key=key,
        )
    too_young = candidate.min_age is not None and patient.age < candidate.min_age
    too_old = candidate.max_age is not None and patient.age > candidate.max_age
    if too_young or too_old:
        return Criterion(name, Result.FAIL, f"Age {patient.age} is outside {limits}.", key=key)
    return Criterion(name, Result.PASS, f"Age {patient.age} ({limits} required).", key=key)


def _age_limits(min_age: int | None, max_age: int | None) -> str:
    if max_age is None:
        return f"{min_age} or older"
    if min_age is None:
        return f"{max_age} or younger"
    return f"{min_age}–{max_age}"


def _failed_lines(patient: PatientFacts, candidate: Candidate) -> Criterion:
    name, key = "Failed lines", "failed_lines"
    required = candidate.min_failed_lines
    have = patient.failed_line_count
    lines = "failed line" if have == 1 else "failed lines"
    if have >= required:
        return Criterion(name, Result.PASS, f"{have} {lines} (≥ {required} required).", key=key)
    if patient.line_count == 0:
        return Criterion(
            name,
            Result.UNKNOWN,
            f"No treatment lines recorded yet ({required} required).",
            missing=("treatment_lines",),
            key=key,
        )
    return Criterion(name, Result.FAIL, f"{have} {lines}, {required} required.", key=key)


def _open(candidate: Candidate) -> Criterion:
    if candidate.kind == "trial":
        name, wanted = "Trial recruiting", "recruiting"
    else:
        name, wanted = "Program accepting", "accepting referrals"
    if candidate.is_open:
        return Criterion(name, Result.PASS, f"{candidate.status_label}.", key="open")
    return Criterion(name, Result.FAIL, f"{candidate.status_label}; not {wanted}.", key="open")


def _exclusion_notes(patient: PatientFacts) -> Criterion:
    """Free-text notes cannot be matched to a criterion: a clinician checks them, candidate by
    candidate (recording them as facts lets the engine decide)."""
    return Criterion(
        "Exclusion notes",
        Result.UNKNOWN,
        "Recorded: " + "; ".join(patient.exclusions) + ".",
        missing=("clinician_review",),
        key="exclusions",
    )
