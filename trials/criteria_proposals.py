"""Typed criteria proposed from a trial's registry eligibility text, for an admin to confirm.

Pure: sentences in, proposals out. Only sentences of a recognisable shape are proposed ("eGFR <
30", "MG-ADL ≥ 6", "AChR antibody positive", "rituximab within the prior 12 months", "prior
CAR-T"); everything else is left for an admin to encode or mark for manual review. A proposal
quotes its sentence and passes `parse_rule` like any criterion.
"""

import re
from dataclasses import dataclass

from trials.criteria import CriterionError, CriterionRole, parse_rule

# How registries write the scores and labs of `trials.clinical.FACTS`.
THRESHOLD_FACTS = {
    "egfr": r"e?gfr",
    "sledai_2k": r"sledai(?:-2k)?",
    "mg_adl": r"mg-adl",
    "qmg": r"qmg",
    "das28": r"das28(?:-crp|-esr)?",
    "mrss": r"mrss",
    "bvas": r"bvas",
    "essdai": r"essdai",
    "platelets": r"platelets?",
    "anc": r"anc|absolute neutrophil count",
    "haemoglobin": r"ha?emoglobin",
    "igg": r"igg",
}
OPERATORS = {"≥": ">=", ">=": ">=", "≤": "<=", "<=": "<=", ">": ">", "<": "<"}
ANTIBODIES = {"achr_ab": r"achr|acetylcholine receptor", "musk_ab": r"musk", "lrp4_ab": r"lrp4"}
HARD_EXCLUSIONS = {
    "prior_car_t": (r"\b(?:prior|previous)\b.*\b(?:car[- ]?t|chimeric antigen receptor)", "yes"),
    "pregnant": (r"\bpregnan|breast-?feeding|lactating", "yes"),
    "hbv": (r"hepatitis b|\bhbv\b", "active"),
    "hcv": (r"hepatitis c|\bhcv\b", "positive"),
    "hiv": (r"\bhiv\b|human immunodeficiency", "positive"),
}
MGFA_CLASSES = {
    "2": ("IIa", "IIb"),
    "3": ("IIIa", "IIIb"),
    "4": ("IVa", "IVb"),
    "5": ("V",),
}
ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5"}


@dataclass(frozen=True)
class Proposal:
    role: CriterionRole
    kind: str
    params: dict
    source_text: str


def sentences(text: str) -> list[tuple[CriterionRole, str]]:
    """The eligibility text's sentences and list items, each with the section it stands in
    ("Exclusion Criteria:" starts the exclusions)."""
    role, found = CriterionRole.INCLUSION, []
    for line in text.splitlines():
        line = line.strip().lstrip("*-•·0123456789.) ").strip()
        if not line:
            continue
        heading = line.lower().rstrip(":")
        if heading.startswith("exclusion criteria"):
            role = CriterionRole.EXCLUSION
            continue
        if heading.startswith("inclusion criteria"):
            role = CriterionRole.INCLUSION
            continue
        for sentence in re.split(r"(?<=[.;])\s+(?=[A-Z])", line):
            if sentence.strip():
                found.append((role, sentence.strip()))
    return found


def criteria_propose(
    text: str,
    *,
    condition_slugs: frozenset[str],
    therapy_names: frozenset[str],
    drug_classes: frozenset[str],
) -> list[Proposal]:
    """What the text's recognisable sentences say, as checked criteria."""
    known = {
        "condition_slugs": condition_slugs,
        "therapy_names": therapy_names,
        "drug_classes": drug_classes,
    }
    proposals = []
    for role, sentence in sentences(text):
        for kind, params, sentence_role in _read(sentence, role, therapy_names):
            try:
                parse_rule(kind, params, **known)
            except CriterionError:
                continue
            proposals.append(Proposal(sentence_role, kind, params, sentence))
    return proposals


def _read(sentence: str, role: CriterionRole, therapy_names: frozenset[str]):
    lowered = sentence.lower()
    for fact, name in THRESHOLD_FACTS.items():
        pattern = rf"\b(?:{name})\b[^0-9≥≤<>]{{0,20}}(≥|>=|≤|<=|>|<)\s*(\d+(?:\.\d+)?)"
        match = re.search(pattern, lowered)
        if match:
            op, raw = OPERATORS[match.group(1)], match.group(2)
            value = int(raw) if raw.isdigit() else float(raw)
            yield "threshold", {"fact": fact, "op": op, "value": value}, role
    for fact, name in ANTIBODIES.items():
        negated = re.search(rf"\bnon-(?:{name})\b", lowered)
        positive = re.search(
            rf"\b(?:{name})\b[- ]?(?:ab|antibod\w*)?[- ]?(?:\+|positive|seropositive)", lowered
        )
        if negated:
            yield "fact_value", {"fact": fact, "values": ["positive"]}, CriterionRole.EXCLUSION
        elif positive:
            yield "fact_value", {"fact": fact, "values": ["positive"]}, role
    mgfa = re.search(
        r"mgfa\b[^0-9ivx]{0,12}\b(i{1,3}|iv|v|[2-5])\s*(?:–|-|to)\s*(i{1,3}|iv|v|[2-5])\b", lowered
    )
    if mgfa:
        low, high = (int(ROMAN.get(g, g)) for g in mgfa.groups())
        classes = [c for n in range(low, high + 1) for c in MGFA_CLASSES.get(str(n), ())]
        yield "fact_value", {"fact": "mgfa_class", "values": classes}, role
    months = re.search(r"(?:within|in) (?:the )?(?:prior|previous|past|last) (\d+) months", lowered)
    if months:
        named = sorted(name for name in therapy_names if name.lower() in lowered)
        if named:
            params = {"therapies": named, "months": int(months.group(1))}
            yield "washout", params, CriterionRole.EXCLUSION
    if role == CriterionRole.EXCLUSION:
        for fact, (pattern, value) in HARD_EXCLUSIONS.items():
            if re.search(pattern, lowered):
                yield "fact_value", {"fact": fact, "values": [value]}, role
