"""Reading and checking the reference data files (`trials/reference/*.json`) into rows; no
writes. `reference_data` writes the rows.

Every value is checked against the model field it will be saved to, and problems are collected
across all files, so one run names every mistake before anything is written. Criteria are
checked as the admin checks them (`trials.criteria`), against the names the other files define.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trials.criteria import CriterionError, CriterionKind, CriterionRole, parse_rule, role_problem
from trials.models import (
    Condition,
    DrugClass,
    EligibilityCriterion,
    Hospital,
    Program,
    Therapy,
    Trial,
)
from trials.services.reference_reader import ObjectReader, check_unique, field_of, read_file

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


def _check_age_range(reader: ObjectReader, min_age: int | None, max_age: int | None) -> None:
    if isinstance(min_age, int) and isinstance(max_age, int) and min_age > max_age:
        reader.problem("min_age", f"{min_age} is above max_age {max_age}")


def _condition_row(reader: ObjectReader) -> ConditionRow:
    return ConditionRow(
        slug=reader.text("slug"),
        name=reader.text("name"),
        icd10_codes=reader.joined("icd10_codes", ", "),
        group=reader.text("group"),
        synonyms=reader.joined("synonyms", "\n"),
        name_translations=reader.translations("translations"),
        parent=reader.optional_text("parent", model_field=Condition._meta.get_field("slug")),
    )


def _therapy_row(reader: ObjectReader) -> TherapyRow:
    return TherapyRow(
        name=reader.text("name"),
        generic_name=reader.text("generic_name"),
        drug_class=reader.text("drug_class"),
        counts_toward_failed_lines=reader.flag("counts_toward_failed_lines"),
        name_translations=reader.translations("translations"),
    )


def _hospital_row(reader: ObjectReader) -> HospitalRow:
    return HospitalRow(
        name=reader.text("name"),
        city=reader.text("city"),
        country=reader.text("country"),
        notes=reader.text("notes"),
    )


def _trial_row(reader: ObjectReader) -> TrialRow:
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


def _program_row(reader: ObjectReader) -> ProgramRow:
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


def _criterion_row(reader: ObjectReader, known: _KnownNames) -> CriterionRow:
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
    reader: ObjectReader, known: _KnownNames
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
    conditions = read_file(
        directory,
        "conditions.json",
        model=Condition,
        label=field_of("slug"),
        build=_condition_row,
        problems=problems,
    )
    therapies = read_file(
        directory,
        "therapies.json",
        model=Therapy,
        label=field_of("name"),
        build=_therapy_row,
        problems=problems,
    )
    hospitals = read_file(
        directory,
        "hospitals.json",
        model=Hospital,
        label=field_of("name"),
        build=_hospital_row,
        problems=problems,
    )
    trials = read_file(
        directory,
        "trials.json",
        model=Trial,
        label=field_of("nct_id"),
        build=_trial_row,
        problems=problems,
    )
    programs = read_file(
        directory,
        "programs.json",
        model=Program,
        label=field_of("name"),
        build=_program_row,
        problems=problems,
    )

    check_unique("conditions.json", "slug", (row.slug for row in conditions), problems)
    check_unique("conditions.json", "name", (row.name for row in conditions), problems)
    check_unique("therapies.json", "name", (row.name for row in therapies), problems)
    check_unique("hospitals.json", "name", (row.name for row in hospitals), problems)
    check_unique("trials.json", "nct_id", (row.nct_id for row in trials), problems)
    check_unique(
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
    criteria = read_file(
        directory,
        "criteria.json",
        model=EligibilityCriterion,
        label=_criterion_label,
        build=lambda reader: _criterion_row(reader, known),
        problems=problems,
    )
    check_unique(
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
