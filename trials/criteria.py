"""Typed eligibility criteria: the kinds an admin attaches to a program or trial, what each
kind's parameters mean, and the check that refuses a malformed one.

Plain Python. `trials.models.EligibilityCriterion` stores a kind and its parameters as JSON and
validates them here; `referrals.eligibility` evaluates them against a patient's dated facts.
Parameters name facts (`trials.clinical.FACTS`), conditions and therapies by slug, drug classes
and stop reasons by value, so a criterion reads the same in the admin, the API and a file.
"""

import dataclasses
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _

from trials.clinical import FACTS, FAILURE_REASONS, ReasonStopped, ValueType


class CriterionRole(TextChoices):
    INCLUSION = "inclusion", _("Inclusion")
    EXCLUSION = "exclusion", _("Exclusion")


class CriterionKind(TextChoices):
    CONDITION = "condition", _("Condition or subtype")
    DISEASE_DURATION = "disease_duration", _("Disease duration")
    FAILED_LINES = "failed_lines", _("Failed treatment lines")
    THRESHOLD = "threshold", _("Score or lab threshold")
    FACT_VALUE = "fact_value", _("Recorded value (serology, class, history)")
    WASHOUT = "washout", _("Recent therapy (washout)")
    MANUAL = "manual", _("Manual review")


COMPARISONS = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}

# What each kind's parameters are, for the admin's help text and the README.
PARAMETER_HELP = {
    CriterionKind.CONDITION: '{"conditions": ["lupus-nephritis"]}: the patient has one of these '
    "(or a subtype of one).",
    CriterionKind.DISEASE_DURATION: '{"fact": "first_non_raynaud_symptom", "max_years": 7} '
    '(or "min_years"); "fact" is disease_onset unless given.',
    CriterionKind.FAILED_LINES: '{"count": 2, "min_weeks": 12, "within_months": 24, '
    '"stop_reasons": ["inadequate_response"], "therapies": ["Mycophenolate mofetil"], '
    '"required_classes": ["anti_cd20"], "count_as_one": [["Methotrexate", "Azathioprine"]]}; '
    "only count is required.",
    CriterionKind.THRESHOLD: '{"fact": "sledai_2k", "op": ">=", "value": 8, "fresh_days": 30}',
    CriterionKind.FACT_VALUE: '{"fact": "achr_ab", "values": ["positive"]}',
    CriterionKind.WASHOUT: '{"therapies": ["Rituximab"], "classes": ["anti_cd20"], "months": 12}',
    CriterionKind.MANUAL: "{}: the source sentence is for a clinician to check.",
}
# Any kind also takes "applies_to": ["sle"], for a sentence about one cohort of a basket trial:
# the criterion then passes for patients of other conditions.


class CriterionError(ValueError):
    """A criterion's parameters do not make sense; the message names the parameter."""


# Kinds that only read one way: a failed-lines count is required, a recent therapy excludes.
ROLE_OF_KIND = {
    CriterionKind.FAILED_LINES: CriterionRole.INCLUSION,
    CriterionKind.WASHOUT: CriterionRole.EXCLUSION,
}


def role_problem(kind: str, role: str) -> str:
    required = ROLE_OF_KIND.get(kind)
    if required is not None and role != required:
        return f"A “{CriterionKind(kind).label}” criterion is an {required.label.lower()}."
    return ""


@dataclass(frozen=True)
class FailedLinesRule:
    count: int
    stop_reasons: frozenset[str] = FAILURE_REASONS
    min_weeks: int | None = None
    within_months: int | None = None
    therapies: frozenset[str] = frozenset()
    required_classes: frozenset[str] = frozenset()
    count_as_one: tuple[frozenset[str], ...] = ()


@dataclass(frozen=True)
class CriterionRule:
    """A criterion's parameters, checked and typed. Only the fields of its kind are set."""

    kind: CriterionKind
    conditions: frozenset[str] = frozenset()
    fact: str = ""
    op: str = ""
    value: Decimal | None = None
    values: frozenset[str] = frozenset()
    fresh_days: int | None = None
    min_years: int | None = None
    max_years: int | None = None
    months: int | None = None
    therapies: frozenset[str] = frozenset()
    classes: frozenset[str] = frozenset()
    lines: FailedLinesRule | None = None
    # The conditions (and their subtypes) the criterion is written for; empty: every patient.
    applies_to: frozenset[str] = frozenset()


def parse_rule(
    kind: str,
    params: object,
    *,
    condition_slugs: frozenset[str] | None,
    therapy_names: frozenset[str] | None,
    drug_classes: frozenset[str] | None,
) -> CriterionRule:
    """`params` as a `CriterionRule`, or `CriterionError` naming what is wrong.

    The known slugs and classes come from the caller (the reference data), so a criterion
    saved by an admin never names a condition or therapy that does not exist; the engine reads
    saved criteria with None (no check): a name that no longer exists then matches nothing.
    """
    try:
        kind = CriterionKind(kind)
    except ValueError:
        raise CriterionError(f"Unknown criterion kind “{kind}”.") from None
    if not isinstance(params, dict):
        raise CriterionError("The parameters must be a JSON object.")
    reader = _Reader(params)
    if kind == CriterionKind.CONDITION:
        conditions = reader.slugs("conditions", condition_slugs, "condition", required=True)
        rule = CriterionRule(kind, conditions=conditions)
    elif kind == CriterionKind.DISEASE_DURATION:
        fact = reader.fact("fact", default="disease_onset", value_types={ValueType.DATE})
        low, high = reader.whole("min_years"), reader.whole("max_years")
        if low is None and high is None:
            raise CriterionError("Give min_years, max_years or both.")
        if low is not None and high is not None and low > high:
            raise CriterionError("min_years is above max_years.")
        rule = CriterionRule(kind, fact=fact, min_years=low, max_years=high)
    elif kind == CriterionKind.FAILED_LINES:
        rule = CriterionRule(kind, lines=_lines_rule(reader, therapy_names, drug_classes))
    elif kind == CriterionKind.THRESHOLD:
        fact = reader.fact("fact", value_types={ValueType.NUMBER})
        reader.seen.add("op")
        op = params.get("op")
        if op not in COMPARISONS:
            raise CriterionError(f"op must be one of {', '.join(COMPARISONS)}.")
        value = reader.number("value", FACTS[fact])
        rule = CriterionRule(
            kind, fact=fact, op=op, value=value, fresh_days=reader.whole("fresh_days")
        )
    elif kind == CriterionKind.FACT_VALUE:
        fact = reader.fact("fact", value_types={ValueType.CHOICE, ValueType.YES_NO})
        values = reader.slugs("values", frozenset(FACTS[fact].values), "value", required=True)
        rule = CriterionRule(kind, fact=fact, values=values, fresh_days=reader.whole("fresh_days"))
    elif kind == CriterionKind.WASHOUT:
        therapies = reader.slugs("therapies", therapy_names, "therapy")
        classes = reader.slugs("classes", drug_classes, "drug class")
        if not therapies and not classes:
            raise CriterionError("Name the therapies or drug classes to wash out.")
        months = reader.whole("months", required=True)
        rule = CriterionRule(kind, therapies=therapies, classes=classes, months=months)
    else:
        rule = CriterionRule(kind)
    applies_to = reader.slugs("applies_to", condition_slugs, "condition")
    reader.refuse_unknown()
    return dataclasses.replace(rule, applies_to=applies_to) if applies_to else rule


def _lines_rule(
    reader: "_Reader", therapy_names: frozenset[str], drug_classes: frozenset[str]
) -> FailedLinesRule:
    count = reader.whole("count", required=True)
    if count < 1:
        raise CriterionError("count must be at least 1.")
    reasons = reader.slugs("stop_reasons", frozenset(FAILURE_REASONS), "stop reason")
    groups = reader.params.get("count_as_one", [])
    if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
        raise CriterionError("count_as_one is a list of lists of therapy names.")
    reader.seen.add("count_as_one")
    for group in groups:
        unknown = sorted(set(map(str, group)) - (therapy_names or set(map(str, group))))
        if unknown:
            raise CriterionError(f"count_as_one names unknown therapies: {', '.join(unknown)}.")
    return FailedLinesRule(
        count=count,
        stop_reasons=reasons or frozenset(FAILURE_REASONS),
        min_weeks=reader.whole("min_weeks"),
        within_months=reader.whole("within_months"),
        therapies=reader.slugs("therapies", therapy_names, "therapy"),
        required_classes=reader.slugs("required_classes", drug_classes, "drug class"),
        count_as_one=tuple(frozenset(map(str, group)) for group in groups),
    )


class _Reader:
    def __init__(self, params: dict) -> None:
        self.params, self.seen = params, set()

    def refuse_unknown(self) -> None:
        unknown = sorted(set(self.params) - self.seen)
        if unknown:
            raise CriterionError(f"Unknown parameter: {', '.join(unknown)}.")

    def whole(self, name: str, *, required: bool = False) -> int | None:
        self.seen.add(name)
        value = self.params.get(name)
        if value is None:
            if required:
                raise CriterionError(f"{name} is required.")
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CriterionError(f"{name} must be a whole number, 0 or more.")
        return value

    def number(self, name: str, spec) -> Decimal:
        self.seen.add(name)
        raw = self.params.get(name)
        if isinstance(raw, bool) or raw is None:
            raise CriterionError(f"{name} must be a number.")
        try:
            value = Decimal(str(raw))
        except InvalidOperation:
            raise CriterionError(f"{name} must be a number.") from None
        if not value.is_finite() or not spec.low <= value <= spec.high:
            raise CriterionError(f"{name} must be within {spec.label}'s {spec.low}–{spec.high}.")
        return value

    def fact(self, name: str, *, value_types: set, default: str = "") -> str:
        self.seen.add(name)
        fact = self.params.get(name, default)
        if fact not in FACTS:
            raise CriterionError(f"{name}: unknown fact “{fact}”.")
        if FACTS[fact].value_type not in value_types:
            raise CriterionError(f"{name}: {FACTS[fact].label} cannot be used in this kind.")
        return fact

    def slugs(
        self, name: str, known: frozenset[str] | None, what: str, *, required: bool = False
    ) -> frozenset[str]:
        self.seen.add(name)
        raw = self.params.get(name, [])
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            raise CriterionError(f"{name} must be a list of {what} names.")
        if required and not raw:
            raise CriterionError(f"{name}: name at least one {what}.")
        unknown = sorted(set(raw) - known) if known is not None else []
        if unknown:
            raise CriterionError(f"{name}: unknown {what} {', '.join(unknown)}.")
        return frozenset(raw)


def stop_reason_label(value: str) -> str:
    return str(ReasonStopped(value).label).lower()
