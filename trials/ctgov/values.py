"""One ClinicalTrials.gov value at a time → CareCRM's value: an age text, the phase list, the
CAR target guessed from the interventions. Plain functions, no ORM.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from trials.vocabulary import AGE_LIMIT, CarTarget

REGISTRY_PHASES = ("EARLY_PHASE1", "PHASE1", "PHASE2", "PHASE3", "PHASE4", "NA")
# The registry lists a study's phases; CareCRM stores one phase, combined ones included.
PHASE_MAP: dict[tuple[str, ...], str] = {
    ("EARLY_PHASE1",): "EARLY_PHASE1",
    ("PHASE1",): "PHASE1",
    ("PHASE1", "PHASE2"): "PHASE1_PHASE2",
    ("PHASE2",): "PHASE2",
    ("PHASE2", "PHASE3"): "PHASE2_PHASE3",
    ("PHASE3",): "PHASE3",
    ("NA",): "NA",
}

_AGE = re.compile(r"(\d+)\s*(year|month|week|day|hour|minute)s?", re.IGNORECASE)
_DAYS_PER_UNIT = {"year": None, "month": 12, "week": 52, "day": 365, "hour": None, "minute": None}


@dataclass(frozen=True)
class Intervention:
    name: str
    description: str = ""
    other_names: tuple[str, ...] = ()


def parse_age(text: str) -> int | None:
    """ "18 Years" → 18, "6 Months" → 0 (whole years, rounded down), "N/A" → None."""
    text = text.strip()
    if text.upper() in {"", "N/A", "NA"}:
        return None
    match = _AGE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not an age like '18 Years' or 'N/A'")
    number, unit = int(match[1]), match[2].lower()
    per_year = _DAYS_PER_UNIT[unit]
    years = number if unit == "year" else 0 if per_year is None else number // per_year
    if years > AGE_LIMIT:
        raise ValueError(f"{text!r} is above the {AGE_LIMIT}-year limit")
    return years


def map_phases(phases: Iterable[str]) -> str:
    """The registry's phase list as one `TrialPhase` value; "" when the registry lists none."""
    unknown = [phase for phase in phases if phase not in REGISTRY_PHASES]
    if unknown:
        raise ValueError(f"unknown phase {unknown[0]!r} (known: {', '.join(REGISTRY_PHASES)})")
    key = tuple(sorted(set(phases), key=REGISTRY_PHASES.index))
    if not key:
        return ""
    if key not in PHASE_MAP:
        raise ValueError(f"{list(key)!r} has no CareCRM phase")
    return PHASE_MAP[key]


_TARGET_RULES: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...] = (
    # Distinctive constructs first: a CAAR or CAR-Treg record may mention CD19 elsewhere.
    (CarTarget.CAAR, (re.compile(r"CAAR"), re.compile(r"chimeric auto-?antibody", re.I))),
    (CarTarget.CAR_TREG, (re.compile(r"Tregs?\b"), re.compile(r"regulatory T[- ]cell", re.I))),
    (CarTarget.CD19_BCMA, ()),  # both of the next two
    (CarTarget.CD19, (re.compile(r"\bCD-?19\b", re.I),)),
    # A BAFF-ligand CAR binds BCMA too, so BAFF wins over BCMA.
    (CarTarget.BAFF_R, (re.compile(r"\bBAFF", re.I),)),
    (CarTarget.BCMA, (re.compile(r"\bBCMA\b", re.I),)),
)


def _target_in(text: str) -> str | None:
    hits = {
        target
        for target, patterns in _TARGET_RULES
        if any(pattern.search(text) for pattern in patterns)
    }
    for target, _patterns in _TARGET_RULES:
        if target == CarTarget.CD19_BCMA and {CarTarget.CD19, CarTarget.BCMA} <= hits:
            return target
        if target in hits:
            return target
    return None


def guess_car_target(interventions: Iterable[Intervention]) -> str:
    """A first guess from the interventions (admins correct it; a re-import keeps theirs).

    Names and other names are looked at first; descriptions only when the names say nothing
    (e.g. "KYV-101" with the description "autologous anti-CD19 CAR T cells").
    """
    interventions = tuple(interventions)
    names = " | ".join(name for i in interventions for name in (i.name, *i.other_names))
    descriptions = " | ".join(i.description for i in interventions)
    return _target_in(names) or _target_in(descriptions) or CarTarget.OTHER
