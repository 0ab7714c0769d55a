"""The clinical facts a patient can have and a criterion can ask about: what each one is, its
unit, its valid range or values, and how long a measurement stays current.

Plain Python, read by both apps: `referrals` stores dated facts of these kinds, `trials.criteria`
checks the typed criteria written in them, and the engine (`referrals.eligibility`) compares the
two. Ranges are those of the scales and of physiology, so a typing slip is refused; they are not
eligibility thresholds (those come from each trial's own text, on its criteria).

Freshness is the service's pre-screening policy, not a trial's: labs and disease activity older
than 90 days, infection screens older than 180 days and a pregnancy status older than 30 days
count as unknown. A criterion may ask for a shorter window (`fresh_days`).
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _


class ReasonStopped(TextChoices):
    ONGOING = "ongoing", _("Ongoing")
    INADEQUATE_RESPONSE = "inadequate_response", _("Inadequate response")
    LOSS_OF_RESPONSE = "loss_of_response", _("Loss of response")
    INTOLERANCE = "intolerance", _("Intolerance")
    ADVERSE_EVENT = "adverse_event", _("Adverse event")
    REMISSION = "remission", _("Remission")
    PATIENT_CHOICE = "patient_choice", _("Patient choice")
    UNKNOWN = "unknown", _("Unknown")


# A line stopped for one of these failed; a criterion may count fewer (e.g. not intolerance).
FAILURE_REASONS = frozenset(
    {
        ReasonStopped.INADEQUATE_RESPONSE,
        ReasonStopped.LOSS_OF_RESPONSE,
        ReasonStopped.INTOLERANCE,
        ReasonStopped.ADVERSE_EVENT,
    }
)


class ValueType(StrEnum):
    NUMBER = "number"
    CHOICE = "choice"
    YES_NO = "yes_no"
    DATE = "date"


class FactGroup(TextChoices):
    ACTIVITY = "activity", _("Disease activity")
    SEROLOGY = "serology", _("Serology")
    LAB = "lab", _("Laboratory")
    ORGAN = "organ", _("Organ involvement")
    COURSE = "course", _("Disease course")
    INFECTION = "infection", _("Infection screening")
    REPRODUCTIVE = "reproductive", _("Pregnancy")
    HISTORY = "history", _("Medical history")
    LOGISTICS = "logistics", _("Logistics")


@dataclass(frozen=True)
class FactSpec:
    label: str
    group: FactGroup
    value_type: ValueType
    unit: str = ""
    low: Decimal | None = None
    high: Decimal | None = None
    choices: tuple[tuple[str, str], ...] = ()
    # Days a value stays current; None for facts that do not go stale (antibodies, history).
    fresh_days: int | None = None

    @property
    def values(self) -> tuple[str, ...]:
        if self.value_type == ValueType.YES_NO:
            return ("yes", "no")
        return tuple(value for value, _label in self.choices)


LAB_DAYS, ACTIVITY_DAYS, INFECTION_DAYS, PREGNANCY_DAYS = 90, 90, 180, 30

POSITIVE_NEGATIVE = (("positive", _("Positive")), ("negative", _("Negative")))
# Myositis-specific antibodies: antisynthetase (Jo-1 … OJ), dermatomyositis, necrotising myopathy.
MSA_NAMES = (
    *("Jo-1", "PL-7", "PL-12", "EJ", "OJ"),
    *("MDA5", "Mi-2", "TIF1-γ", "NXP2", "SAE"),
    *("SRP", "HMGCR"),
)


def _score(label: str, high: int) -> FactSpec:
    return FactSpec(
        label,
        FactGroup.ACTIVITY,
        ValueType.NUMBER,
        low=Decimal(0),
        high=Decimal(high),
        fresh_days=ACTIVITY_DAYS,
    )


def _antibody(label: str) -> FactSpec:
    return FactSpec(label, FactGroup.SEROLOGY, ValueType.CHOICE, choices=POSITIVE_NEGATIVE)


def _lab(label: str, unit: str, high: int) -> FactSpec:
    return FactSpec(
        label,
        FactGroup.LAB,
        ValueType.NUMBER,
        unit=unit,
        low=Decimal(0),
        high=Decimal(high),
        fresh_days=LAB_DAYS,
    )


def _yes_no(label: str, group: FactGroup, fresh_days: int | None = None) -> FactSpec:
    return FactSpec(label, group, ValueType.YES_NO, fresh_days=fresh_days)


FACTS: dict[str, FactSpec] = {
    # Disease activity: the scales' own ranges.
    "sledai_2k": _score("SLEDAI-2K", 105),
    "das28": _score("DAS28", 10),
    "mrss": _score("mRSS", 51),
    "bvas": _score("BVAS", 63),
    "essdai": _score("ESSDAI", 123),
    "cdasi_activity": _score("CDASI activity", 100),
    "mmt8": _score("MMT-8", 150),
    "mg_adl": _score("MG-ADL", 24),
    "qmg": _score("QMG", 39),
    "mgfa_class": FactSpec(
        "MGFA class",
        FactGroup.ACTIVITY,
        ValueType.CHOICE,
        choices=tuple(
            (value, value) for value in ("I", "IIa", "IIb", "IIIa", "IIIb", "IVa", "IVb", "V")
        ),
        fresh_days=ACTIVITY_DAYS,
    ),
    # Serology: a patient's antibody status does not go stale.
    "ana": _antibody("ANA"),
    "anti_dsdna": _antibody("Anti-dsDNA"),
    "anti_ccp": _antibody("Anti-CCP"),
    "rf": _antibody("Rheumatoid factor"),
    "anti_scl70": _antibody("Anti-Scl-70"),
    "anca_pr3": _antibody("ANCA PR3"),
    "anca_mpo": _antibody("ANCA MPO"),
    "achr_ab": _antibody("AChR antibodies"),
    "musk_ab": _antibody("MuSK antibodies"),
    "lrp4_ab": _antibody("LRP4 antibodies"),
    "myositis_antibody": FactSpec(
        "Myositis-specific antibody",
        FactGroup.SEROLOGY,
        ValueType.CHOICE,
        choices=(
            *((value.lower().replace("-", "").replace("γ", "g"), value) for value in MSA_NAMES),
            ("none", _("None found")),
        ),
    ),
    # Laboratory values, in the units Israeli laboratories report.
    "egfr": _lab("eGFR", "mL/min/1.73 m²", 200),
    "creatinine": _lab("Creatinine", "mg/dL", 30),
    "anc": _lab("Neutrophils (ANC)", "×10⁹/L", 100),
    "lymphocytes": _lab("Lymphocytes", "×10⁹/L", 100),
    "platelets": _lab("Platelets", "×10⁹/L", 2000),
    "haemoglobin": _lab("Haemoglobin", "g/dL", 25),
    "alt": _lab("ALT", "U/L", 10000),
    "ast": _lab("AST", "U/L", 10000),
    "bilirubin": _lab("Bilirubin", "mg/dL", 50),
    "igg": _lab("IgG", "g/L", 100),
    # Organ involvement; the biopsy class is dated by the biopsy.
    "ln_biopsy_class": FactSpec(
        "Lupus nephritis biopsy class (ISN/RPS)",
        FactGroup.ORGAN,
        ValueType.CHOICE,
        choices=tuple(
            (value, value) for value in ("I", "II", "III", "IV", "III+V", "IV+V", "V", "VI")
        ),
    ),
    "ild": _yes_no("Interstitial lung disease", FactGroup.ORGAN),
    "pah": _yes_no("Pulmonary arterial hypertension", FactGroup.ORGAN),
    "cns_lupus": _yes_no("Neuropsychiatric (CNS) lupus", FactGroup.ORGAN),
    # The disease's course: dates the durations are counted from.
    "disease_onset": FactSpec("Disease onset", FactGroup.COURSE, ValueType.DATE),
    "first_non_raynaud_symptom": FactSpec(
        "First non-Raynaud symptom", FactGroup.COURSE, ValueType.DATE
    ),
    # Infection screening.
    "hbv": FactSpec(
        "Hepatitis B",
        FactGroup.INFECTION,
        ValueType.CHOICE,
        choices=(
            ("active", _("Active (HBsAg or HBV DNA positive)")),
            ("resolved", _("Past, resolved (anti-HBc only)")),
            ("negative", _("Negative")),
        ),
        fresh_days=INFECTION_DAYS,
    ),
    "hcv": FactSpec(
        "Hepatitis C",
        FactGroup.INFECTION,
        ValueType.CHOICE,
        choices=POSITIVE_NEGATIVE,
        fresh_days=INFECTION_DAYS,
    ),
    "hiv": FactSpec(
        "HIV",
        FactGroup.INFECTION,
        ValueType.CHOICE,
        choices=POSITIVE_NEGATIVE,
        fresh_days=INFECTION_DAYS,
    ),
    "tb": FactSpec(
        "Tuberculosis",
        FactGroup.INFECTION,
        ValueType.CHOICE,
        choices=(("active", _("Active")), ("latent", _("Latent")), ("negative", _("Negative"))),
        fresh_days=INFECTION_DAYS,
    ),
    # Pregnancy.
    "pregnant": _yes_no("Pregnant or breastfeeding", FactGroup.REPRODUCTIVE, PREGNANCY_DAYS),
    "childbearing_potential": _yes_no("Of childbearing potential", FactGroup.REPRODUCTIVE),
    # History.
    "malignancy_history": _yes_no("History of malignancy", FactGroup.HISTORY),
    "prior_car_t": _yes_no("Prior CAR-T therapy", FactGroup.HISTORY),
    "prior_cell_gene_therapy": _yes_no("Prior other cell or gene therapy", FactGroup.HISTORY),
    # Whether a trial that runs only abroad is open to the patient.
    "travel_abroad": _yes_no("Can be treated abroad", FactGroup.LOGISTICS),
}

FACT_CHOICES = [(kind, spec.label) for kind, spec in FACTS.items()]


def fact_label(kind: str) -> str:
    spec = FACTS.get(kind)
    return str(spec.label) if spec else kind


def value_display(kind: str, value: object) -> str:
    """A stored value as a coordinator reads it: "25 mL/min/1.73 m²", "Positive", "Yes"."""
    spec = FACTS[kind]
    if spec.value_type == ValueType.NUMBER:
        number = format(Decimal(value).normalize(), "f")  # 62, not 62.00
        return f"{number} {spec.unit}".strip()
    if spec.value_type == ValueType.YES_NO:
        return "Yes" if value in (True, "yes") else "No"
    if spec.value_type == ValueType.DATE:
        return f"{value:%d %b %Y}"
    return str(dict(spec.choices).get(value, value))


# Numbers are stored with two decimals: enough for every lab value and score in `FACTS`.
FACT_DECIMALS = 2


class FactValueError(ValueError):
    """A typed value that does not fit its fact; the message says what would."""


def parse_fact_value(kind: str, raw: object) -> Decimal | str | datetime.date:
    """`raw` (typed text, or a value from a file) as the value `kind` stores."""
    spec = FACTS.get(kind)
    if spec is None:
        raise FactValueError(f"Unknown fact “{kind}”.")
    text = str(raw).strip() if raw is not None else ""
    if not text:
        raise FactValueError(f"Give the {spec.label} value.")
    if spec.value_type == ValueType.NUMBER:
        try:
            value = Decimal(text.replace(",", "."))
        except InvalidOperation:
            raise FactValueError(f"{spec.label} is a number.") from None
        if not value.is_finite() or not spec.low <= value <= spec.high:
            raise FactValueError(
                f"{spec.label} is {spec.low} to {spec.high} {spec.unit}".strip() + "."
            )
        if value.as_tuple().exponent < -FACT_DECIMALS:
            raise FactValueError(f"{spec.label} takes at most {FACT_DECIMALS} decimals.")
        return value
    if spec.value_type == ValueType.DATE:
        try:
            return datetime.date.fromisoformat(text)
        except ValueError:
            raise FactValueError(f"{spec.label} is a date (YYYY-MM-DD).") from None
    lowered = text.lower()
    by_label = {str(label).lower(): value for value, label in spec.choices}
    value = lowered if lowered in spec.values else by_label.get(lowered, text)
    if value not in spec.values:
        raise FactValueError(f"{spec.label} is one of: {', '.join(spec.values)}.")
    return value


def is_stale(
    kind: str, observed_on: datetime.date, today: datetime.date, fresh_days: int | None = None
) -> bool:
    """Whether a value observed on `observed_on` is too old to decide on: past the criterion's
    window (`fresh_days`) if it sets one, else past the catalogue's."""
    window = fresh_days if fresh_days is not None else FACTS[kind].fresh_days
    return window is not None and (today - observed_on).days > window


def freshness_window(kind: str, fresh_days: int | None = None) -> int | None:
    return fresh_days if fresh_days is not None else FACTS[kind].fresh_days


def counts_as_failed(reason_stopped: str, has_counting_therapy: bool) -> bool:
    """The single rule for a failed line: stopped for a failure, with a therapy that counts
    (`PriorTreatmentLine.counts_as_failed` and its SQL twin `failed()` apply it)."""
    return reason_stopped in FAILURE_REASONS and has_counting_therapy


def age_on(date_of_birth: datetime.date, today: datetime.date) -> int:
    before_birthday = (today.month, today.day) < (date_of_birth.month, date_of_birth.day)
    return today.year - date_of_birth.year - before_birthday
