"""The clinical side of the demo patients: treatment lines that fit the disease and existed at
the time, and dated facts of the kinds trials ask about, some current, some too old, some
missing, so the demo shows every verdict.

The ladders follow the usual order of care (reference section D: EULAR for SLE, lupus nephritis
and RA; standard practice elsewhere); a drug is used only from the year it was approved. Values
are drawn from plausible ranges for refractory disease; they are demo data, not thresholds.
"""

import datetime
import random

from referrals.vocabulary import ReasonStopped

# First approval (FDA) of drugs a demo line may use that are younger than the demo's dates.
FIRST_USED = {
    "Mycophenolate mofetil": 1995,
    "Tacrolimus": 1994,
    "Rituximab": 1997,
    "Adalimumab": 2002,
    "Etanercept": 1998,
    "Abatacept": 2005,
    "Tocilizumab": 2010,
    "Belimumab": 2011,
    "Tofacitinib": 2012,
    "Eculizumab": 2017,
    "Anifrolumab": 2021,
    "Voclosporin": 2021,
    "Efgartigimod": 2021,
    "Avacopan": 2021,
}

# Each condition's lines in the order they are usually tried.
LADDERS = {
    "sle": [
        ["Hydroxychloroquine", "Prednisone"],
        ["Methotrexate"],
        ["Azathioprine"],
        ["Mycophenolate mofetil"],
        ["Belimumab"],
        ["Anifrolumab"],
        ["Rituximab"],
        ["Cyclophosphamide"],
    ],
    "lupus-nephritis": [
        ["Mycophenolate mofetil", "Prednisone"],
        ["Cyclophosphamide"],
        ["Belimumab"],
        ["Voclosporin"],
        ["Tacrolimus"],
        ["Rituximab"],
        ["Obinutuzumab"],
    ],
    "rheumatoid-arthritis": [
        ["Methotrexate", "Prednisone"],
        ["Leflunomide"],
        ["Adalimumab"],
        ["Etanercept"],
        ["Abatacept"],
        ["Tocilizumab"],
        ["Rituximab"],
        ["Tofacitinib"],
    ],
    "systemic-sclerosis": [
        ["Methotrexate"],
        ["Mycophenolate mofetil"],
        ["Cyclophosphamide"],
        ["Rituximab"],
        ["Tocilizumab"],
    ],
    "dermatomyositis": [
        ["Prednisone", "Methotrexate"],
        ["Azathioprine"],
        ["Mycophenolate mofetil"],
        ["Intravenous immunoglobulin (IVIG)"],
        ["Rituximab"],
        ["Tacrolimus"],
    ],
    "antisynthetase-syndrome": [
        ["Prednisone", "Mycophenolate mofetil"],
        ["Tacrolimus"],
        ["Rituximab"],
        ["Cyclophosphamide"],
        ["Intravenous immunoglobulin (IVIG)"],
    ],
    "anca-associated-vasculitis": [
        ["Prednisone", "Cyclophosphamide"],
        ["Azathioprine"],
        ["Rituximab"],
        ["Methotrexate"],
        ["Avacopan"],
        ["Mycophenolate mofetil"],
    ],
    "sjogrens-disease": [
        ["Hydroxychloroquine"],
        ["Methotrexate"],
        ["Azathioprine"],
        ["Rituximab"],
        ["Mycophenolate mofetil"],
    ],
    "myasthenia-gravis": [
        ["Prednisone"],
        ["Azathioprine"],
        ["Mycophenolate mofetil"],
        ["Intravenous immunoglobulin (IVIG)"],
        ["Rituximab"],
        ["Eculizumab"],
        ["Efgartigimod"],
        ["Plasma exchange"],
    ],
}

STOP_REASONS = [
    ReasonStopped.INADEQUATE_RESPONSE,
    ReasonStopped.INADEQUATE_RESPONSE,
    ReasonStopped.LOSS_OF_RESPONSE,
    ReasonStopped.INTOLERANCE,
    ReasonStopped.ADVERSE_EVENT,
    ReasonStopped.PATIENT_CHOICE,
]


def demo_lines(
    rng: random.Random, slug: str, diagnosis_year: int, last_end: datetime.date, count: int
) -> list[dict]:
    """`count` lines in ladder order, each 3–18 months, ending a little before `last_end`, none
    using a drug before its first approval."""
    ladder = LADDERS.get(slug, LADDERS["sle"])
    lengths = [rng.randint(90, 540) for _ in range(count)]
    gaps = [rng.randint(14, 90) for _ in range(count)]
    start = last_end - datetime.timedelta(days=sum(lengths) + sum(gaps[1:]))
    start = max(start, datetime.date(diagnosis_year, 6, 1))
    lines, step = [], 0
    for number in range(1, count + 1):
        end = min(start + datetime.timedelta(days=lengths[number - 1]), last_end)
        while step < len(ladder) - 1 and any(
            FIRST_USED.get(name, 0) > start.year for name in ladder[step]
        ):
            step += 1
        regimen = ladder[min(step, len(ladder) - 1)]
        if any(FIRST_USED.get(name, 0) > start.year for name in regimen):
            break
        lines.append(
            {
                "line_number": number,
                "regimen": regimen,
                "start_date": start,
                "end_date": end,
                "reason_stopped": rng.choice(STOP_REASONS),
            }
        )
        step += 1
        start = end + datetime.timedelta(days=gaps[number - 1])
        if start >= last_end:
            break
    return lines


def demo_facts(
    rng: random.Random, slug: str, *, female: bool, age: int | None, today: datetime.date
) -> list[tuple[str, object, datetime.date]]:
    """Dated facts for one demo patient: (kind, value as typed, observed on)."""

    def when() -> datetime.date:
        # Most recent, a fifth too old to decide on (past the 90-day window of labs).
        return today - datetime.timedelta(days=rng.choice([rng.randint(3, 80)] * 4 + [130]))

    def maybe(probability: float) -> bool:
        return rng.random() < probability

    facts = []
    if slug in ("sle", "lupus-nephritis"):
        facts.append(("sledai_2k", rng.randint(4, 20), when()))
        facts.append(("anti_dsdna", rng.choice(["Positive", "Positive", "Negative"]), when()))
        low = 20 if slug == "lupus-nephritis" else 55
        if maybe(0.8):
            facts.append(("egfr", rng.randint(low, 115), when()))
        if slug == "lupus-nephritis" and maybe(0.85):
            biopsy = today - datetime.timedelta(days=rng.randint(200, 1500))
            facts.append(("ln_biopsy_class", rng.choice(["III", "IV", "IV", "V", "IV+V"]), biopsy))
    elif slug == "rheumatoid-arthritis":
        facts.append(("das28", round(rng.uniform(3.0, 6.6), 2), when()))
        facts.append(("anti_ccp", rng.choice(["Positive", "Positive", "Negative"]), when()))
    elif slug == "systemic-sclerosis":
        facts.append(("mrss", rng.randint(8, 35), when()))
        facts.append(("anti_scl70", rng.choice(["Positive", "Negative"]), when()))
        onset = today - datetime.timedelta(days=rng.randint(365, 12 * 365))
        if maybe(0.8):
            facts.append(("first_non_raynaud_symptom", onset.isoformat(), onset))
        facts.append(("ild", rng.choice(["Yes", "No"]), when()))
    elif slug in ("dermatomyositis", "antisynthetase-syndrome"):
        antibodies = (
            ["Jo-1", "PL-7", "PL-12"]
            if slug != "dermatomyositis"
            else [
                "MDA5",
                "TIF1-γ",
                "NXP2",
                "Mi-2",
            ]
        )
        facts.append(("myositis_antibody", rng.choice(antibodies), when()))
        facts.append(("mmt8", rng.randint(90, 140), when()))
        facts.append(("ild", rng.choice(["Yes", "No"]), when()))
    elif slug == "anca-associated-vasculitis":
        facts.append(("bvas", rng.randint(4, 24), when()))
        facts.append((rng.choice(["anca_pr3", "anca_mpo"]), "Positive", when()))
    elif slug == "sjogrens-disease":
        facts.append(("essdai", rng.randint(5, 25), when()))
    elif slug == "myasthenia-gravis":
        serotype = rng.choices(["achr", "musk", "seronegative"], weights=[85, 8, 7])[0]
        facts.append(("achr_ab", "Positive" if serotype == "achr" else "Negative", when()))
        if serotype != "achr" or maybe(0.3):
            facts.append(("musk_ab", "Positive" if serotype == "musk" else "Negative", when()))
        facts.append(("mg_adl", rng.randint(4, 14), when()))
        facts.append(("mgfa_class", rng.choice(["IIa", "IIb", "IIIa", "IIIb", "IVa"]), when()))
    if maybe(0.7):
        facts.append(
            ("hbv", rng.choices(["Negative", "Resolved", "Active"], [90, 9, 1])[0], when())
        )
    if maybe(0.6):
        facts.append(("prior_car_t", rng.choices(["No", "Yes"], [97, 3])[0], when()))
    if female and age is not None and age < 50 and maybe(0.6):
        facts.append(("pregnant", "No", today - datetime.timedelta(days=rng.randint(1, 60))))
    return facts
