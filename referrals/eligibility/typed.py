"""The typed criteria (`trials.criteria`) evaluated against a patient's dated facts and lines:
each kind's pass, fail or unknown with its detail and what is missing. Pure, like the engine."""

import calendar
import datetime
from decimal import Decimal

from referrals.eligibility.types import (
    ConditionTree,
    Criterion,
    Fact,
    Line,
    PatientFacts,
    Result,
    TypedCriterion,
)
from trials.clinical import ReasonStopped, fact_label, freshness_window, is_stale, value_display
from trials.criteria import COMPARISONS, CriterionKind, CriterionRole, CriterionRule


def current_fact(
    patient: PatientFacts, kind: str, today: datetime.date, fresh_days: int | None = None
) -> Fact | Criterion:
    """The current value of `kind`, or why there is none (an unknown criterion)."""
    label = fact_label(kind)
    fact = patient.facts.get(kind)
    if fact is None:
        return Criterion(label, Result.UNKNOWN, f"{label} not recorded.", missing=(kind,))
    if is_stale(kind, fact.observed_on, today, fresh_days):
        window = freshness_window(kind, fresh_days)
        shown = value_display(kind, fact.value)
        return Criterion(
            label,
            Result.UNKNOWN,
            f"{label} {shown} on {fact.observed_on:%d %b %Y} is older than {window} days.",
            missing=(kind,),
        )
    return fact


class TypedEvaluator:
    """One patient's typed criteria, "today" and the condition hierarchy fixed."""

    def __init__(self, patient: PatientFacts, today: datetime.date, tree: ConditionTree) -> None:
        self.patient, self.today, self.tree = patient, today, tree
        self.lineage = tree.lineage(patient.condition_ids)

    def fact(self, kind: str, fresh_days: int | None) -> Fact | Criterion:
        return current_fact(self.patient, kind, self.today, fresh_days)

    def evaluate(self, criterion: TypedCriterion) -> Criterion:
        rule = criterion.rule
        handler = {
            CriterionKind.CONDITION: self.typed_condition,
            CriterionKind.DISEASE_DURATION: self.duration,
            CriterionKind.FAILED_LINES: self.lines,
            CriterionKind.THRESHOLD: self.threshold,
            CriterionKind.FACT_VALUE: self.fact_value,
            CriterionKind.WASHOUT: self.washout,
            CriterionKind.MANUAL: self.manual,
        }[rule.kind]
        name, result, detail, missing = handler(rule)
        if criterion.role == CriterionRole.EXCLUSION and rule.kind != CriterionKind.WASHOUT:
            # The handlers say whether the condition holds; an exclusion fails when it does.
            result = {Result.PASS: Result.FAIL, Result.FAIL: Result.PASS}.get(result, result)
            name = f"Excludes {name}"
        if rule.applies_to and result != Result.PASS:
            scope = self.scope(rule.applies_to)
            if scope is not None:
                result, detail, missing = scope
        return Criterion(name, result, detail, criterion.source, missing, criterion.key)

    def scope(self, applies_to: frozenset[str]):
        """A criterion written for one cohort (`applies_to`) passes for patients of other
        conditions; None when it applies to this patient."""
        if not self.patient.condition_ids:
            return Result.UNKNOWN, "No diagnosis recorded.", ("diagnosis",)
        if self.lineage & self.tree.ids_of(applies_to):
            return None
        cohort = ", ".join(sorted(applies_to))
        return Result.PASS, f"Applies to {cohort} only.", ()

    def typed_condition(self, rule: CriterionRule):
        names = ", ".join(sorted(rule.conditions))
        if not self.patient.condition_ids:
            return "Condition", Result.UNKNOWN, "No diagnosis recorded.", ("diagnosis",)
        required = self.tree.ids_of(rule.conditions)
        if self.lineage & required:
            return f"Condition {names}", Result.PASS, f"Diagnosis is {names}.", ()
        if self.patient.condition_ids & self.tree.lineage(required):
            detail = f"Diagnosis recorded without the subtype ({names})."
            return f"Condition {names}", Result.UNKNOWN, detail, ("diagnosis_subtype",)
        has = ", ".join(self.patient.condition_names)
        return f"Condition {names}", Result.FAIL, f"Diagnosis is {has}, not {names}.", ()

    def duration(self, rule: CriterionRule):
        label = fact_label(rule.fact)
        limits = _years_limits(rule.min_years, rule.max_years)
        name = f"Disease duration {limits}"
        fact = self.fact(rule.fact, None)
        if isinstance(fact, Fact):
            years = _years_between(fact.value, self.today)
            holds = _within(fact.value, self.today, rule.min_years, rule.max_years)
            detail = f"{years:.1f} years since {label.lower()} ({fact.value:%d %b %Y})."
            return name, Result.PASS if holds else Result.FAIL, detail, ()
        year = self.patient.diagnosis_year
        if rule.fact == "disease_onset" and year:
            # The diagnosis year bounds the onset: decide when both ends of the year agree.
            earliest, latest = datetime.date(year, 1, 1), datetime.date(year, 12, 31)
            ends = {
                _within(day, self.today, rule.min_years, rule.max_years)
                for day in (earliest, latest)
            }
            if len(ends) == 1:
                detail = f"Diagnosed in {year}."
                return name, Result.PASS if ends.pop() else Result.FAIL, detail, ()
        return name, Result.UNKNOWN, f"{label} not recorded.", (rule.fact,)

    def threshold(self, rule: CriterionRule):
        label = fact_label(rule.fact)
        name = f"{label} {COMPARISONS[rule.op]} {rule.value}"
        fact = self.fact(rule.fact, rule.fresh_days)
        if isinstance(fact, Criterion):
            return name, fact.result, fact.detail, fact.missing
        holds = _compare(Decimal(fact.value), rule.op, rule.value)
        shown = value_display(rule.fact, fact.value)
        detail = f"{label} {shown} on {fact.observed_on:%d %b %Y}."
        return name, Result.PASS if holds else Result.FAIL, detail, ()

    def fact_value(self, rule: CriterionRule):
        label = fact_label(rule.fact)
        wanted = " or ".join(value_display(rule.fact, v) for v in sorted(rule.values))
        name = f"{label}: {wanted}"
        fact = self.fact(rule.fact, rule.fresh_days)
        if isinstance(fact, Criterion):
            return name, fact.result, fact.detail, fact.missing
        shown = value_display(rule.fact, fact.value)
        detail = f"{label} {shown} on {fact.observed_on:%d %b %Y}."
        result = Result.PASS if fact.value in rule.values else Result.FAIL
        return name, result, detail, ()

    def lines(self, rule: CriterionRule):
        lines_rule = rule.lines
        name = f"Failed lines ≥ {lines_rule.count}"
        if not self.patient.lines:
            return name, Result.UNKNOWN, "No treatment lines recorded.", ("treatment_lines",)
        sure, unsure = [], []
        for line in self.patient.lines:
            fits = _line_fits(line, lines_rule, self.today)
            if fits is True:
                sure.append(line)
            elif fits is None:
                unsure.append(line)
        counted = _distinct_lines(sure, lines_rule.count_as_one)
        possible = _distinct_lines(sure + unsure, lines_rule.count_as_one)
        classes = lines_rule.required_classes
        has_class = not classes or any(line.drug_classes & classes for line in sure)
        may_have_class = not classes or any(line.drug_classes & classes for line in sure + unsure)
        wanted = _lines_wording(lines_rule)
        if counted >= lines_rule.count and has_class:
            return name, Result.PASS, f"{counted} counted ({wanted}).", ()
        if possible >= lines_rule.count and may_have_class:
            detail = f"{counted} counted, {possible - counted} more if their dates fit ({wanted})."
            return name, Result.UNKNOWN, detail, ("line_dates",)
        if not has_class and counted >= lines_rule.count:
            detail = f"No counted line includes {', '.join(sorted(classes))} ({wanted})."
            return name, Result.FAIL, detail, ()
        return name, Result.FAIL, f"{counted} counted, {lines_rule.count} needed ({wanted}).", ()

    def washout(self, rule: CriterionRule):
        wanted = ", ".join(sorted(rule.therapies | rule.classes))
        name = f"No {wanted} in the last {rule.months} months"
        since = _months_before(self.today, rule.months)
        undated = False
        for line in self.patient.lines:
            if not (line.therapies & rule.therapies or line.drug_classes & rule.classes):
                continue
            if line.reason_stopped == ReasonStopped.ONGOING:
                return name, Result.FAIL, f"{_line_names(line)} is ongoing.", ()
            if line.end is None:
                undated = True
            elif line.end >= since:
                detail = f"{_line_names(line)} stopped {line.end:%d %b %Y}."
                return name, Result.FAIL, detail, ()
        if undated:
            return name, Result.UNKNOWN, "A matching line has no stop date.", ("line_dates",)
        return name, Result.PASS, f"None since {since:%d %b %Y}.", ()

    def manual(self, rule: CriterionRule):
        return (
            "Clinician review",
            Result.UNKNOWN,
            "Check against the sentence quoted.",
            ("clinician_review",),
        )


def _line_fits(line: Line, rule, today: datetime.date) -> bool | None:
    """Whether a line counts under `rule`: True, False, or None when its dates would decide."""
    if not line.counts or line.reason_stopped not in rule.stop_reasons:
        return False
    if rule.therapies and not line.therapies & rule.therapies:
        return False
    unsure = False
    if rule.min_weeks is not None:
        if line.start is None or line.end is None:
            unsure = True
        elif (line.end - line.start).days < rule.min_weeks * 7:
            return False
    if rule.within_months is not None:
        if line.end is None:
            unsure = True
        elif line.end < _months_before(today, rule.within_months):
            return False
    return None if unsure else True


def _distinct_lines(lines: list[Line], count_as_one: tuple[frozenset[str], ...]) -> int:
    """Lines counted, where lines of therapies from one group count once together."""
    keys = set()
    for index, line in enumerate(lines):
        group = next((g for g, names in enumerate(count_as_one) if line.therapies <= names), None)
        keys.add(("group", group) if group is not None else ("line", index))
    return len(keys)


def _lines_wording(rule) -> str:
    parts = []
    if rule.therapies:
        parts.append("of " + ", ".join(sorted(rule.therapies)))
    if rule.min_weeks:
        parts.append(f"each ≥ {rule.min_weeks} weeks")
    if rule.within_months:
        parts.append(f"within {rule.within_months} months")
    reasons = sorted(str(ReasonStopped(r).label).lower() for r in rule.stop_reasons)
    parts.append("stopped for " + " or ".join(reasons))
    for group in rule.count_as_one:
        parts.append(" + ".join(sorted(group)) + " count as one")
    return "; ".join(parts)


def _line_names(line: Line) -> str:
    return ", ".join(sorted(line.therapies)) or "A line"


def _months_before(day: datetime.date, months: int) -> datetime.date:
    return _months_after(day, -months)


def _months_after(day: datetime.date, months: int) -> datetime.date:
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return datetime.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _years_between(start: datetime.date, today: datetime.date) -> float:
    return (today - start).days / 365.25


def _within(start: datetime.date, today: datetime.date, low: int | None, high: int | None) -> bool:
    """Whether `today` is at least `low` and at most `high` whole years after `start`."""
    return (low is None or today >= _months_after(start, 12 * low)) and (
        high is None or today <= _months_after(start, 12 * high)
    )


def _years_limits(low: int | None, high: int | None) -> str:
    if low is None:
        return f"≤ {high} years"
    if high is None:
        return f"≥ {low} years"
    return f"{low}–{high} years"


def _compare(value: Decimal, op: str, limit: Decimal) -> bool:
    return {
        ">=": value >= limit,
        "<=": value <= limit,
        ">": value > limit,
        "<": value < limit,
    }[op]
