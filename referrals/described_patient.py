"""A patient described in a file rather than stored: the `manage.py match --facts` format and the
screening page's. Parsed and checked here (pure); `selectors.described_patient_facts` resolves
its names into the engine's `PatientFacts`.

    {
      "as_of": "2026-12-07",                      optional; today when absent
      "date_of_birth": "1981-04-02",              or "age": 45
      "conditions": ["lupus-nephritis"],          condition slugs, the first is the primary
      "diagnosis_year": 2015,                     optional
      "lines": [{"therapies": ["Mycophenolate mofetil"], "start": "2020-01-10",
                 "end": "2021-03-01", "reason_stopped": "inadequate_response"}],
      "facts": [{"kind": "egfr", "value": "62", "observed_on": "2026-11-20"}],
      "exclusions": ["free text a clinician must check"]
    }

Nothing is written; every problem names its field ("lines[2].reason_stopped: …").
"""

import datetime
from dataclasses import dataclass

from referrals.eligibility import Fact
from trials.clinical import FactValueError, ReasonStopped, age_on, parse_fact_value

KNOWN_FIELDS = {
    "as_of",
    "age",
    "date_of_birth",
    "conditions",
    "diagnosis_year",
    "lines",
    "facts",
    "exclusions",
}


class DescribedPatientError(ValueError):
    """The description does not fit the format; the message names the field."""


@dataclass(frozen=True)
class DescribedLine:
    therapies: tuple[str, ...]
    start: datetime.date | None
    end: datetime.date | None
    reason_stopped: str


@dataclass(frozen=True)
class DescribedPatient:
    as_of: datetime.date
    age: int | None
    conditions: tuple[str, ...]
    diagnosis_year: int | None
    lines: tuple[DescribedLine, ...]
    facts: tuple[Fact, ...]
    exclusions: tuple[str, ...]


def described_patient_parse(data: object, *, today: datetime.date) -> DescribedPatient:
    if not isinstance(data, dict):
        raise DescribedPatientError("The description must be a JSON object.")
    unknown = sorted(set(data) - KNOWN_FIELDS)
    if unknown:
        raise DescribedPatientError(f"Unknown field: {', '.join(unknown)}.")
    as_of = _date(data, "as_of", "as_of") or today
    return DescribedPatient(
        as_of=as_of,
        age=_age(data, as_of),
        conditions=tuple(_strings(data.get("conditions", []), "conditions")),
        diagnosis_year=_whole(data.get("diagnosis_year"), "diagnosis_year"),
        lines=tuple(
            _line(line, f"lines[{index}]", as_of)
            for index, line in enumerate(_list(data.get("lines", []), "lines"), start=1)
        ),
        facts=tuple(
            _fact(fact, f"facts[{index}]", as_of)
            for index, fact in enumerate(_list(data.get("facts", []), "facts"), start=1)
        ),
        exclusions=tuple(_strings(data.get("exclusions", []), "exclusions")),
    )


def _age(data: dict, as_of: datetime.date) -> int | None:
    born = _date(data, "date_of_birth", "date_of_birth")
    if born is not None:
        if born > as_of:
            raise DescribedPatientError("date_of_birth: after as_of.")
        return age_on(born, as_of)
    age = _whole(data.get("age"), "age")
    if age is not None and age > 120:
        raise DescribedPatientError("age: above 120.")
    return age


def _line(raw: object, where: str, as_of: datetime.date) -> DescribedLine:
    if not isinstance(raw, dict):
        raise DescribedPatientError(f"{where}: must be an object.")
    unknown = sorted(set(raw) - {"therapies", "start", "end", "reason_stopped"})
    if unknown:
        raise DescribedPatientError(f"{where}: unknown field {', '.join(unknown)}.")
    therapies = _strings(raw.get("therapies", []), f"{where}.therapies")
    if not therapies:
        raise DescribedPatientError(f"{where}.therapies: name at least one therapy.")
    reason = raw.get("reason_stopped", ReasonStopped.UNKNOWN)
    if reason not in ReasonStopped.values:
        raise DescribedPatientError(
            f"{where}.reason_stopped: one of {', '.join(ReasonStopped.values)}."
        )
    start, end = _date(raw, "start", f"{where}.start"), _date(raw, "end", f"{where}.end")
    if start and end and end < start:
        raise DescribedPatientError(f"{where}.end: before its start.")
    if end and end > as_of:
        raise DescribedPatientError(f"{where}.end: after as_of.")
    return DescribedLine(tuple(therapies), start, end, reason)


def _fact(raw: object, where: str, as_of: datetime.date) -> Fact:
    if not isinstance(raw, dict):
        raise DescribedPatientError(f"{where}: must be an object.")
    unknown = sorted(set(raw) - {"kind", "value", "observed_on"})
    if unknown:
        raise DescribedPatientError(f"{where}: unknown field {', '.join(unknown)}.")
    kind = raw.get("kind")
    try:
        value = parse_fact_value(str(kind), raw.get("value"))
    except FactValueError as error:
        raise DescribedPatientError(f"{where}: {error}") from None
    observed_on = _date(raw, "observed_on", f"{where}.observed_on")
    if observed_on is None:
        raise DescribedPatientError(f"{where}.observed_on: required.")
    if observed_on > as_of:
        raise DescribedPatientError(f"{where}.observed_on: after as_of.")
    return Fact(str(kind), value, observed_on)


def _date(data: dict, key: str, where: str) -> datetime.date | None:
    raw = data.get(key)
    if raw is None:
        return None
    try:
        return datetime.date.fromisoformat(str(raw))
    except ValueError:
        raise DescribedPatientError(f"{where}: a date as YYYY-MM-DD.") from None


def _whole(raw: object, where: str) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise DescribedPatientError(f"{where}: a whole number.")
    return raw


def _list(raw: object, where: str) -> list:
    if not isinstance(raw, list):
        raise DescribedPatientError(f"{where}: must be a list.")
    return raw


def _strings(raw: object, where: str) -> list[str]:
    items = _list(raw, where)
    if not all(isinstance(item, str) and item.strip() for item in items):
        raise DescribedPatientError(f"{where}: a list of non-empty texts.")
    return [item.strip() for item in items]
