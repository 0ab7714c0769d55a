"""Reading and checking the reference data files (`trials/reference/*.json`) into rows; no
writes. `reference_data` writes the rows.

Every value is checked against the model field it will be saved to, and problems are collected
across all files, so one run names every mistake before anything is written. Criteria are
checked as the admin checks them (`trials.criteria`), against the names the other files define.
"""

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from trials.criteria import CriterionError, CriterionKind, CriterionRole, parse_rule, role_problem
from trials.models import (
    TRANSLATED_LANGUAGES,
    Condition,
    DrugClass,
    EligibilityCriterion,
    Hospital,
    Program,
    Therapy,
    Trial,
)

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference"


class ReferenceDataError(Exception):
    """The reference data is invalid or clashes with the database; nothing was written."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            "Reference data not loaded:\n" + "\n".join(f"- {p}" for p in self.problems)
        )


@dataclass(frozen=True)
class ConditionRow:
    slug: str
    name: str
    icd10_codes: str
    group: str
    synonyms: str
    name_translations: dict[str, str]
    parent: str = ""  # the slug of the broader condition, if this is a subtype


@dataclass(frozen=True)
class TherapyRow:
    name: str
    generic_name: str
    drug_class: str
    counts_toward_failed_lines: bool
    name_translations: dict[str, str]


@dataclass(frozen=True)
class HospitalRow:
    name: str
    city: str
    country: str
    notes: str


@dataclass(frozen=True)
class TrialRow:
    nct_id: str
    short_name: str
    title: str
    sponsor: str
    product: str
    car_target: str
    phase: str
    overall_status: str
    conditions: tuple[str, ...]
    min_age: int | None
    max_age: int | None
    min_failed_lines: int
    eligibility_text: str
    source_url: str


@dataclass(frozen=True)
class ProgramRow:
    hospital: str
    name: str
    car_target: str
    kind: str
    status: str
    conditions: tuple[str, ...]
    min_failed_lines: int
    min_age: int | None
    max_age: int | None
    notes: str


@dataclass(frozen=True)
class CriterionRow:
    # Its owner: a trial's NCT ID, or a program's hospital and name (the other left blank).
    trial: str
    program: tuple[str, str] | None
    role: str
    kind: str
    params: dict[str, Any]
    source_text: str
    position: int


@dataclass(frozen=True)
class ReferenceData:
    conditions: tuple[ConditionRow, ...]
    therapies: tuple[TherapyRow, ...]
    hospitals: tuple[HospitalRow, ...]
    trials: tuple[TrialRow, ...]
    programs: tuple[ProgramRow, ...]
    criteria: tuple[CriterionRow, ...]


# What `_ObjectReader._take` returns for a missing or mistyped value, already reported.
_INVALID = object()


class _ObjectReader:
    """Reads one JSON object, checking each value against the model field it will be saved to.

    Problems are collected rather than raised, so one run reports every mistake in the files.
    """

    def __init__(
        self,
        *,
        where: str,
        raw: dict[str, Any],
        model: type[models.Model],
        problems: list[str],
    ) -> None:
        self.where = where
        self.raw = raw
        self.model = model
        self.problems = problems
        self.read: set[str] = set()

    def problem(self, field: str, message: str) -> None:
        self.problems.append(f"{self.where}, field {field!r}: {message}")

    def text(self, field: str, *, model_field: models.Field | None = None) -> str:
        value = self._take(field, str, "a string")
        return "" if value is _INVALID else self._clean(field, value, model_field)

    def number(self, field: str) -> int | None:
        value = self._take(field, (int, type(None)), "a whole number or null")
        return None if value is _INVALID else self._clean(field, value)

    def optional_number(self, field: str, *, default: int) -> int:
        if field not in self.raw:
            self.read.add(field)
            return default
        value = self._take(field, int, "a whole number")
        return default if value is _INVALID else self._clean(field, value)

    def mapping(self, field: str) -> dict[str, Any]:
        value = self._take(field, dict, "a JSON object")
        return {} if value is _INVALID else value

    def optional_text(self, field: str, *, model_field: models.Field) -> str:
        if field not in self.raw:
            self.read.add(field)
            return ""
        return self.text(field, model_field=model_field)

    def flag(self, field: str) -> bool:
        value = self._take(field, bool, "true or false")
        return False if value is _INVALID else self._clean(field, value)

    def strings(self, field: str) -> tuple[str, ...]:
        value = self._take(field, list, "a list of strings")
        if value is _INVALID:
            return ()
        if not all(isinstance(item, str) and item.strip() for item in value):
            self.problem(field, f"expected a list of non-empty strings, got {value!r}")
            return ()
        return tuple(value)

    def translations(self, field: str) -> dict[str, str]:
        """Optional names by language code; only the languages the intake form offers."""
        self.read.add(field)
        value = self.raw.get(field, {})
        if not isinstance(value, dict):
            self.problem(field, f"expected an object of language: name, got {value!r}")
            return {}
        for language, name in value.items():
            if language not in TRANSLATED_LANGUAGES:
                self.problem(field, f"unknown language {language!r}")
            elif not isinstance(name, str) or not name.strip():
                self.problem(field, f"the {language!r} name must be a non-empty string")
        return dict(value)

    def joined(self, field: str, separator: str) -> str:
        """A list in the file, stored as one text field (synonyms one per line, codes by comma)."""
        return self._clean(field, separator.join(self.strings(field)))

    def report_unknown_fields(self) -> None:
        # A misspelt key would otherwise be ignored silently and its field left as it was.
        for field in sorted(set(self.raw) - self.read):
            self.problem(field, "unknown field")

    def _take(self, field: str, kind: type | tuple[type, ...], expected: str) -> Any:
        self.read.add(field)
        if field not in self.raw:
            self.problem(field, "missing")
            return _INVALID
        value = self.raw[field]
        # JSON `true` is an int to Python; as an age or a count it is a typo, not 1.
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            self.problem(field, f"expected {expected}, got {value!r}")
            return _INVALID
        return value

    def _clean(self, field: str, value: Any, model_field: models.Field | None = None) -> Any:
        # The model field's own checks (choices, max_length, URL, slug, NCT ID, age limit) run
        # here, so a bad file fails before the first write rather than half-way through.
        model_field = model_field or self.model._meta.get_field(field)
        try:
            return model_field.clean(value, None)
        except ValidationError as error:
            self.problem(field, f"{value!r}: {' '.join(error.messages)}")
            return value


def _check_age_range(reader: _ObjectReader, min_age: int | None, max_age: int | None) -> None:
    if isinstance(min_age, int) and isinstance(max_age, int) and min_age > max_age:
        reader.problem("min_age", f"{min_age} is above max_age {max_age}")


def _condition_row(reader: _ObjectReader) -> ConditionRow:
    return ConditionRow(
        slug=reader.text("slug"),
        name=reader.text("name"),
        icd10_codes=reader.joined("icd10_codes", ", "),
        group=reader.text("group"),
        synonyms=reader.joined("synonyms", "\n"),
        name_translations=reader.translations("translations"),
        parent=reader.optional_text("parent", model_field=Condition._meta.get_field("slug")),
    )


def _therapy_row(reader: _ObjectReader) -> TherapyRow:
    return TherapyRow(
        name=reader.text("name"),
        generic_name=reader.text("generic_name"),
        drug_class=reader.text("drug_class"),
        counts_toward_failed_lines=reader.flag("counts_toward_failed_lines"),
        name_translations=reader.translations("translations"),
    )


def _hospital_row(reader: _ObjectReader) -> HospitalRow:
    return HospitalRow(
        name=reader.text("name"),
        city=reader.text("city"),
        country=reader.text("country"),
        notes=reader.text("notes"),
    )


def _trial_row(reader: _ObjectReader) -> TrialRow:
    row = TrialRow(
        nct_id=reader.text("nct_id"),
        short_name=reader.text("short_name"),
        title=reader.text("title"),
        sponsor=reader.text("sponsor"),
        product=reader.text("product"),
        car_target=reader.text("car_target"),
        phase=reader.text("phase"),
        overall_status=reader.text("overall_status"),
        conditions=reader.strings("conditions"),
        min_age=reader.number("min_age"),
        max_age=reader.number("max_age"),
        min_failed_lines=reader.number("min_failed_lines"),
        eligibility_text=reader.text("eligibility_text"),
        source_url=reader.text("source_url"),
    )
    _check_age_range(reader, row.min_age, row.max_age)
    return row


def _program_row(reader: _ObjectReader) -> ProgramRow:
    row = ProgramRow(
        hospital=reader.text("hospital", model_field=Hospital._meta.get_field("name")),
        name=reader.text("name"),
        car_target=reader.text("car_target"),
        kind=reader.text("kind"),
        status=reader.text("status"),
        conditions=reader.strings("conditions"),
        min_failed_lines=reader.number("min_failed_lines"),
        min_age=reader.number("min_age"),
        max_age=reader.number("max_age"),
        notes=reader.text("notes"),
    )
    _check_age_range(reader, row.min_age, row.max_age)
    return row


@dataclass(frozen=True)
class _KnownNames:
    """What the other files define, for the criteria that name them."""

    nct_ids: frozenset[str]
    programs: frozenset[tuple[str, str]]
    slugs: dict[str, frozenset[str]]


def _criterion_row(reader: _ObjectReader, known: _KnownNames) -> CriterionRow:
    trial, program = _criterion_owner(reader, known)
    row = CriterionRow(
        trial=trial,
        program=program,
        role=reader.text("role"),
        kind=reader.text("kind"),
        params=reader.mapping("params"),
        source_text=reader.text("source_text"),
        position=reader.optional_number("position", default=0),
    )
    if row.kind not in CriterionKind.values:
        return row  # the kind's own problem is reported; its parameters cannot be read
    if row.role in CriterionRole.values and (problem := role_problem(row.kind, row.role)):
        reader.problem("role", problem)
    try:
        parse_rule(row.kind, row.params, **known.slugs)
    except CriterionError as error:
        reader.problem("params", str(error))
    return row


def _criterion_owner(
    reader: _ObjectReader, known: _KnownNames
) -> tuple[str, tuple[str, str] | None]:
    """The NCT ID or the (hospital, name) of the trial or program the criterion belongs to."""
    reader.read.update({"trial", "program"})
    if "trial" in reader.raw and "program" in reader.raw:
        reader.problem("program", "give 'trial' or 'program', not both")
        return "", None
    if "trial" not in reader.raw and "program" not in reader.raw:
        reader.problem("trial", "missing: give 'trial' (an NCT ID) or 'program'")
        return "", None
    if "trial" in reader.raw:
        nct_id = reader.text("trial", model_field=Trial._meta.get_field("nct_id"))
        if nct_id and nct_id not in known.nct_ids:
            reader.problem("trial", f"unknown trial {nct_id!r} (not in trials.json)")
        return nct_id, None
    raw = reader.raw["program"]
    if (
        not isinstance(raw, dict)
        or set(raw) != {"hospital", "name"}
        or not all(isinstance(value, str) for value in raw.values())
    ):
        reader.problem("program", f'expected {{"hospital": "...", "name": "..."}}, got {raw!r}')
        return "", None
    program = (raw["hospital"], raw["name"])
    if program not in known.programs:
        reader.problem(
            "program",
            f"unknown program {raw['name']!r} at {raw['hospital']!r} (not in programs.json)",
        )
    return "", program


def _owner(row: CriterionRow) -> str:
    return row.trial or ": ".join(row.program or ())


def _criterion_label(raw: dict[str, Any]) -> Any:
    program = raw.get("program")
    return raw.get("trial") or (program.get("name") if isinstance(program, dict) else None)


def _read_file[Row](
    directory: Path,
    file_name: str,
    *,
    model: type[models.Model],
    label: Callable[[dict[str, Any]], Any],
    build: Callable[[_ObjectReader], Row],
    problems: list[str],
) -> tuple[Row, ...]:
    try:
        items = json.loads((directory / file_name).read_text(encoding="utf-8"))
    except OSError as error:
        problems.append(f"{file_name}: cannot be read ({error})")
        return ()
    except ValueError as error:
        problems.append(f"{file_name}: not valid JSON ({error})")
        return ()
    if not isinstance(items, list):
        problems.append(f"{file_name}: expected a JSON list of objects")
        return ()
    rows = []
    for index, raw in enumerate(items, start=1):
        where = f"{file_name} item {index}"
        if not isinstance(raw, dict):
            problems.append(f"{where}: expected an object, got {raw!r}")
            continue
        if isinstance(name := label(raw), str):
            where = f"{where} ({name})"
        reader = _ObjectReader(where=where, raw=raw, model=model, problems=problems)
        rows.append(build(reader))
        reader.report_unknown_fields()
    return tuple(rows)


def _field(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda raw: raw.get(name)


def _check_unique(file_name: str, field: str, values: Iterable[str], problems: list[str]) -> None:
    for value, count in Counter(values).items():
        if count > 1:
            problems.append(f"{file_name}, field {field!r}: {value!r} appears {count} times")


def _check_condition_slugs(
    file_name: str,
    rows: Iterable[TrialRow | ProgramRow],
    known: set[str],
    problems: list[str],
) -> None:
    for row in rows:
        label = row.nct_id if isinstance(row, TrialRow) else row.name
        for slug in row.conditions:
            if slug not in known:
                problems.append(
                    f"{file_name} ({label}), field 'conditions': unknown condition slug "
                    f"{slug!r} (not in conditions.json)"
                )


def _check_condition_parents(conditions: Iterable[ConditionRow], problems: list[str]) -> None:
    parents = {row.slug: row.parent for row in conditions}
    for slug, parent in parents.items():
        if parent and parent not in parents:
            problems.append(
                f"conditions.json ({slug}), field 'parent': unknown condition slug {parent!r}"
            )
            continue
        seen, ancestor = {slug}, parent
        while ancestor:
            if ancestor in seen:
                problems.append(f"conditions.json ({slug}), field 'parent': a loop of subtypes")
                break
            seen.add(ancestor)
            ancestor = parents.get(ancestor, "")


def read_reference_files(directory: Path) -> ReferenceData:
    """Every file's rows, checked within and across files; `ReferenceDataError` lists all
    problems found."""
    problems: list[str] = []
    conditions = _read_file(
        directory,
        "conditions.json",
        model=Condition,
        label=_field("slug"),
        build=_condition_row,
        problems=problems,
    )
    therapies = _read_file(
        directory,
        "therapies.json",
        model=Therapy,
        label=_field("name"),
        build=_therapy_row,
        problems=problems,
    )
    hospitals = _read_file(
        directory,
        "hospitals.json",
        model=Hospital,
        label=_field("name"),
        build=_hospital_row,
        problems=problems,
    )
    trials = _read_file(
        directory,
        "trials.json",
        model=Trial,
        label=_field("nct_id"),
        build=_trial_row,
        problems=problems,
    )
    programs = _read_file(
        directory,
        "programs.json",
        model=Program,
        label=_field("name"),
        build=_program_row,
        problems=problems,
    )

    _check_unique("conditions.json", "slug", (row.slug for row in conditions), problems)
    _check_unique("conditions.json", "name", (row.name for row in conditions), problems)
    _check_unique("therapies.json", "name", (row.name for row in therapies), problems)
    _check_unique("hospitals.json", "name", (row.name for row in hospitals), problems)
    _check_unique("trials.json", "nct_id", (row.nct_id for row in trials), problems)
    _check_unique(
        "programs.json",
        "hospital, name",
        (f"{row.hospital}: {row.name}" for row in programs),
        problems,
    )
    slugs = {row.slug for row in conditions}
    _check_condition_parents(conditions, problems)
    _check_condition_slugs("trials.json", trials, slugs, problems)
    _check_condition_slugs("programs.json", programs, slugs, problems)
    hospital_names = {row.name for row in hospitals}
    problems.extend(
        f"programs.json ({row.name}), field 'hospital': unknown hospital {row.hospital!r} "
        f"(not in hospitals.json)"
        for row in programs
        if row.hospital not in hospital_names
    )

    known = _KnownNames(
        nct_ids=frozenset(row.nct_id for row in trials),
        programs=frozenset((row.hospital, row.name) for row in programs),
        slugs={
            "condition_slugs": frozenset(slugs),
            "therapy_names": frozenset(row.name for row in therapies),
            "drug_classes": frozenset(DrugClass.values),
        },
    )
    criteria = _read_file(
        directory,
        "criteria.json",
        model=EligibilityCriterion,
        label=_criterion_label,
        build=lambda reader: _criterion_row(reader, known),
        problems=problems,
    )
    _check_unique(
        "criteria.json",
        "trial or program, kind, source_text",
        (f"{_owner(row)}, {row.kind}, {row.source_text}" for row in criteria),
        problems,
    )

    if problems:
        raise ReferenceDataError(problems)
    return ReferenceData(
        conditions=conditions,
        therapies=therapies,
        hospitals=hospitals,
        trials=trials,
        programs=programs,
        criteria=criteria,
    )
