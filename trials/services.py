"""Loading the reference data (conditions, therapies, hospitals, trials, programs) from JSON,
and (at the end of this module) the ClinicalTrials.gov import of trials and their sites.

The files in `trials/reference/` own the fields they list: a reload writes those fields back over
admin edits. Statuses are the exception: a trial's overall status and a program's status seed a
new row only, because admins keep them current; so do a trial's title and eligibility text,
which the ClinicalTrials.gov import owns from then on. Everything else is the admins': a reload
never deletes a row, never unlinks a condition an admin added to a trial or program, and never
touches fields the files leave out (a hospital's phone, a program's contacts, capacity or linked
trial).
"""

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from dataclasses import field as dataclass_field
from enum import StrEnum
from pathlib import Path
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import IntegrityError, models, transaction

from trials.ctgov import CtgovError, Location, StudyRecord
from trials.models import (
    TRANSLATED_LANGUAGES,
    CarTarget,
    Condition,
    Hospital,
    Program,
    Therapy,
    Trial,
    TrialPhase,
    TrialSite,
    TrialStatus,
)

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


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
class ReferenceData:
    conditions: tuple[ConditionRow, ...]
    therapies: tuple[TherapyRow, ...]
    hospitals: tuple[HospitalRow, ...]
    trials: tuple[TrialRow, ...]
    programs: tuple[ProgramRow, ...]


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class EntityCounts:
    created: int
    updated: int
    unchanged: int

    @classmethod
    def of(cls, outcomes: Iterable[Outcome]) -> "EntityCounts":
        tally = Counter(outcomes)
        return cls(
            created=tally[Outcome.CREATED],
            updated=tally[Outcome.UPDATED],
            unchanged=tally[Outcome.UNCHANGED],
        )


@dataclass(frozen=True)
class ReferenceLoadReport:
    conditions: EntityCounts
    therapies: EntityCounts
    hospitals: EntityCounts
    trials: EntityCounts
    programs: EntityCounts

    def by_entity(self) -> dict[str, EntityCounts]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


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


def _read_file[Row](
    directory: Path,
    file_name: str,
    *,
    model: type[models.Model],
    key: str,
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
        if isinstance(raw.get(key), str):
            where = f"{where} ({raw[key]})"
        reader = _ObjectReader(where=where, raw=raw, model=model, problems=problems)
        rows.append(build(reader))
        reader.report_unknown_fields()
    return tuple(rows)


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


def _parse(directory: Path) -> ReferenceData:
    problems: list[str] = []
    conditions = _read_file(
        directory,
        "conditions.json",
        model=Condition,
        key="slug",
        build=_condition_row,
        problems=problems,
    )
    therapies = _read_file(
        directory,
        "therapies.json",
        model=Therapy,
        key="name",
        build=_therapy_row,
        problems=problems,
    )
    hospitals = _read_file(
        directory,
        "hospitals.json",
        model=Hospital,
        key="name",
        build=_hospital_row,
        problems=problems,
    )
    trials = _read_file(
        directory, "trials.json", model=Trial, key="nct_id", build=_trial_row, problems=problems
    )
    programs = _read_file(
        directory,
        "programs.json",
        model=Program,
        key="name",
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
    _check_condition_slugs("trials.json", trials, slugs, problems)
    _check_condition_slugs("programs.json", programs, slugs, problems)
    hospital_names = {row.name for row in hospitals}
    problems.extend(
        f"programs.json ({row.name}), field 'hospital': unknown hospital {row.hospital!r} "
        f"(not in hospitals.json)"
        for row in programs
        if row.hospital not in hospital_names
    )

    if problems:
        raise ReferenceDataError(problems)
    return ReferenceData(
        conditions=conditions,
        therapies=therapies,
        hospitals=hospitals,
        trials=trials,
        programs=programs,
    )


def _values(row: object, *, omit: set[str]) -> dict[str, Any]:
    return {field.name: getattr(row, field.name) for field in fields(row) if field.name not in omit}


def _upsert[M: models.Model](
    model: type[M],
    *,
    where: str,
    lookup: dict[str, Any],
    values: dict[str, Any],
    initial: dict[str, Any] | None = None,
) -> tuple[M, Outcome]:
    """`values` are owned by the files; `initial` only seeds a new row (admins own it after)."""
    instance = model.objects.filter(**lookup).first()
    try:
        if instance is None:
            return model.objects.create(**lookup, **values, **(initial or {})), Outcome.CREATED
        changed = {
            name: value for name, value in values.items() if getattr(instance, name) != value
        }
        if not changed:
            # No save at all: an unchanged reload must not write history rows or bump updated_at.
            return instance, Outcome.UNCHANGED
        for name, value in changed.items():
            setattr(instance, name, value)
        instance.save()
        return instance, Outcome.UPDATED
    except IntegrityError as error:
        # E.g. an admin-added condition already uses this name under another slug.
        raise ReferenceDataError(
            [f"{where}: clashes with a row already in the database ({error})"]
        ) from error


def _link_conditions(
    instance: Trial | Program,
    slugs: Iterable[str],
    conditions: dict[str, Condition],
    outcome: Outcome,
) -> Outcome:
    """Add the file's conditions that are missing; conditions an admin linked stay linked."""
    linked = set(instance.conditions.values_list("pk", flat=True))
    missing = {conditions[slug].pk for slug in slugs} - linked
    if not missing:
        return outcome
    instance.conditions.add(*missing)
    return Outcome.UPDATED if outcome is Outcome.UNCHANGED else outcome


def _write(data: ReferenceData) -> ReferenceLoadReport:
    conditions: dict[str, Condition] = {}
    condition_outcomes = []
    for row in data.conditions:
        condition, outcome = _upsert(
            Condition,
            where=f"conditions.json ({row.slug})",
            lookup={"slug": row.slug},
            values=_values(row, omit={"slug"}),
        )
        conditions[row.slug] = condition
        condition_outcomes.append(outcome)

    therapy_outcomes = [
        _upsert(
            Therapy,
            where=f"therapies.json ({row.name})",
            lookup={"name": row.name},
            values=_values(row, omit={"name"}),
        )[1]
        for row in data.therapies
    ]

    hospitals: dict[str, Hospital] = {}
    hospital_outcomes = []
    for row in data.hospitals:
        hospital, outcome = _upsert(
            Hospital,
            where=f"hospitals.json ({row.name})",
            lookup={"name": row.name},
            values=_values(row, omit={"name"}),
        )
        hospitals[row.name] = hospital
        hospital_outcomes.append(outcome)

    trial_outcomes = []
    for row in data.trials:
        trial, outcome = _upsert(
            Trial,
            where=f"trials.json ({row.nct_id})",
            lookup={"nct_id": row.nct_id},
            values=_values(
                row, omit={"nct_id", "conditions", "overall_status", "title", "eligibility_text"}
            ),
            initial={
                "overall_status": row.overall_status,
                "title": row.title,
                "eligibility_text": row.eligibility_text,
            },
        )
        trial_outcomes.append(_link_conditions(trial, row.conditions, conditions, outcome))

    program_outcomes = []
    for row in data.programs:
        program, outcome = _upsert(
            Program,
            where=f"programs.json ({row.name})",
            lookup={"hospital": hospitals[row.hospital], "name": row.name},
            values=_values(row, omit={"hospital", "name", "conditions", "status"}),
            initial={"status": row.status},
        )
        program_outcomes.append(_link_conditions(program, row.conditions, conditions, outcome))

    return ReferenceLoadReport(
        conditions=EntityCounts.of(condition_outcomes),
        therapies=EntityCounts.of(therapy_outcomes),
        hospitals=EntityCounts.of(hospital_outcomes),
        trials=EntityCounts.of(trial_outcomes),
        programs=EntityCounts.of(program_outcomes),
    )


def reference_data_load(*, directory: Path = REFERENCE_DIR) -> ReferenceLoadReport:
    """Create or update the reference rows from the JSON files in `directory`.

    Every file is parsed and checked before the first write, and the writes share one
    transaction, so a bad file or a clash with an admin's row leaves the database as it was.
    """
    data = _parse(directory)
    with transaction.atomic():
        return _write(data)


# -- ClinicalTrials.gov import ------------------------------------------------------------------
#
# `trials.ctgov` turns API v2 JSON into `StudyRecord`s (and refuses a bad file before anything is
# written). Here a plan says, per record, what an import would do; applying it writes everything
# in one transaction. What the registry owns and what stays the admins':
#
# - Written from the registry on every import: title, overall status, ages (None = no limit),
#   `conditions_text` (registry names matching none of our conditions, one per line), and
#   short name (acronym), sponsor, phase and eligibility text when the registry gives them (a
#   blank registry value never blanks a stored one).
# - Only ever added: matched conditions (admin-linked ones stay linked), sites (admin-added
#   ones stay), a site's hospital link when it has none, `source_url` when blank.
# - Set on create only: `car_target` (a guess from the interventions, for admins to correct)
#   and `min_failed_lines` (the model default; the registry does not say).
# - Skipped: a record identical to an earlier one in the same run (overlapping pages or files),
#   and a location without a facility name or listed twice. Anything malformed is an error,
#   never a skip: the whole run is refused.


class ImportOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str
    new: str

    @property
    def label(self) -> str:
        """The field's name as the admin shows it ("overall status", "hospital")."""
        for model in (Trial, TrialSite):
            try:
                return str(model._meta.get_field(self.field).verbose_name)
            except FieldDoesNotExist:
                continue
        return self.field


@dataclass(frozen=True)
class SitePlan:
    facility: str
    city: str
    country: str
    outcome: ImportOutcome
    hospital: str = ""
    changes: tuple[FieldChange, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class TrialPlan:
    nct_id: str
    title: str
    source: str
    outcome: ImportOutcome
    changes: tuple[FieldChange, ...] = ()
    sites: tuple[SitePlan, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class ImportCounts:
    created: int
    updated: int
    unchanged: int
    skipped: int

    @classmethod
    def of(cls, outcomes: Iterable[ImportOutcome]) -> "ImportCounts":
        tally = Counter(outcomes)
        return cls(*(tally[outcome] for outcome in ImportOutcome))

    def __str__(self) -> str:
        return (
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.skipped} skipped"
        )


@dataclass(frozen=True)
class ImportPlan:
    """What an import would do, record by record; computed without writing anything."""

    trials: tuple[TrialPlan, ...]

    @property
    def trial_counts(self) -> ImportCounts:
        return ImportCounts.of(trial.outcome for trial in self.trials)

    @property
    def site_counts(self) -> ImportCounts:
        return ImportCounts.of(site.outcome for trial in self.trials for site in trial.sites)

    @property
    def changes_anything(self) -> bool:
        trials, sites = self.trial_counts, self.site_counts
        return bool(trials.created or trials.updated or sites.created or sites.updated)

    def summary_lines(self) -> list[str]:
        return [f"trials: {self.trial_counts}", f"sites: {self.site_counts}"]


@dataclass(frozen=True)
class ImportReport(ImportPlan):
    """What an import did (the plan it carried out inside its transaction)."""


@dataclass
class _SiteWork:
    plan: SitePlan
    site: TrialSite | None = None
    values: dict[str, Any] = dataclass_field(default_factory=dict)


@dataclass
class _TrialWork:
    plan: TrialPlan
    record: StudyRecord
    trial: Trial | None = None
    values: dict[str, Any] = dataclass_field(default_factory=dict)
    add_conditions: list[Condition] = dataclass_field(default_factory=list)
    sites: list[_SiteWork] = dataclass_field(default_factory=list)


def _normalized(text: str) -> str:
    return " ".join(text.split()).casefold()


class _ConditionIndex:
    """A registry condition name → our conditions: by name first, else by any synonym line."""

    def __init__(self, conditions: Iterable[Condition]) -> None:
        self.by_name: dict[str, Condition] = {}
        self.by_synonym: dict[str, list[Condition]] = {}
        for condition in conditions:
            self.by_name[_normalized(condition.name)] = condition
            for synonym in condition.synonyms.splitlines():
                if synonym.strip():
                    self.by_synonym.setdefault(_normalized(synonym), []).append(condition)

    def match(self, names: Iterable[str]) -> tuple[list[Condition], list[str]]:
        matched: dict[int, Condition] = {}
        unmatched: list[str] = []
        for name in names:
            key = _normalized(name)
            found = [self.by_name[key]] if key in self.by_name else self.by_synonym.get(key, [])
            matched.update((condition.pk, condition) for condition in found)
            if not found and name not in unmatched:
                unmatched.append(name)
        return list(matched.values()), unmatched


def _hospital_names(hospital: Hospital) -> set[str]:
    # "Tel Aviv Sourasky Medical Center (Ichilov)" is listed without its parenthesis too.
    name = _normalized(hospital.name)
    return {name, _normalized(re.sub(r"\s*\([^)]*\)\s*$", "", hospital.name))} - {""}


def _match_hospital(location: Location, hospitals: list[Hospital]) -> Hospital | None:
    """Our hospital for a registry facility: same name, or its name inside the facility's."""
    facility = _normalized(location.facility)
    country = _normalized(location.country)
    candidates = [
        hospital
        for hospital in hospitals
        if not (country and hospital.country and _normalized(hospital.country) != country)
    ]
    for hospital in candidates:
        if _normalized(hospital.name) == facility:
            return hospital
    contained = [
        hospital
        for hospital in candidates
        if any(name in facility for name in _hospital_names(hospital))
    ]
    return max(contained, key=lambda hospital: len(hospital.name), default=None)


_CHOICE_LABELS = {
    "overall_status": TrialStatus,
    "phase": TrialPhase,
    "car_target": CarTarget,
    "status": TrialStatus,
}


def _shown(name: str, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if name in _CHOICE_LABELS:
        return str(_CHOICE_LABELS[name](value).label)
    if isinstance(value, Hospital):
        return value.name
    return str(value)


def _changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[FieldChange, ...]:
    return tuple(
        FieldChange(name, _shown(name, old.get(name)), _shown(name, value))
        for name, value in new.items()
    )


def _plan_sites(record: StudyRecord, trial: Trial | None, hospitals: list[Hospital]):
    existing = (
        {(site.facility, site.city, site.country): site for site in trial.sites.all()}
        if trial is not None
        else {}
    )
    seen: set[tuple[str, str, str]] = set()
    for location in record.locations:
        key = (location.facility, location.city, location.country)
        where = {"facility": location.facility, "city": location.city, "country": location.country}
        if not location.facility:
            yield _SiteWork(SitePlan(**where, outcome=ImportOutcome.SKIPPED, reason="no facility"))
            continue
        if key in seen:
            yield _SiteWork(SitePlan(**where, outcome=ImportOutcome.SKIPPED, reason="listed twice"))
            continue
        seen.add(key)
        hospital = _match_hospital(location, hospitals)
        site = existing.get(key)
        if site is None:
            values = {**where, "status": location.status, "hospital": hospital}
            plan = SitePlan(
                **where,
                outcome=ImportOutcome.CREATED,
                hospital=hospital.name if hospital else "",
                changes=_changes({}, {"status": location.status} if location.status else {}),
            )
            yield _SiteWork(plan, values=values)
            continue
        values = {}
        if location.status and site.status != location.status:
            values["status"] = location.status
        if site.hospital is None and hospital is not None:
            values["hospital"] = hospital
        linked = site.hospital or hospital
        plan = SitePlan(
            **where,
            outcome=ImportOutcome.UPDATED if values else ImportOutcome.UNCHANGED,
            hospital=linked.name if linked else "",
            changes=_changes({"status": site.status, "hospital": site.hospital}, values),
        )
        yield _SiteWork(plan, site=site, values=values)


def _plan_trial(
    record: StudyRecord,
    trial: Trial | None,
    conditions: _ConditionIndex,
    hospitals: list[Hospital],
) -> _TrialWork:
    matched, unmatched = conditions.match(record.conditions)
    owned: dict[str, Any] = {
        "title": record.title,
        "overall_status": record.overall_status,
        "min_age": record.min_age,
        "max_age": record.max_age,
        "conditions_text": "\n".join(unmatched),
    }
    for name in ("short_name", "sponsor", "phase", "eligibility_text"):
        if getattr(record, name):
            owned[name] = getattr(record, name)
    sites = list(_plan_sites(record, trial, hospitals))
    site_plans = tuple(work.plan for work in sites)
    base = {"nct_id": record.nct_id, "title": record.title, "source": record.source}

    if trial is None:
        values = {**owned, "car_target": record.car_target, "source_url": record.registry_url}
        changes = _changes(
            {}, {name: value for name, value in values.items() if value not in (None, "")}
        )
        if matched:
            changes += (FieldChange("conditions", "—", ", ".join(c.name for c in matched)),)
        plan = TrialPlan(**base, outcome=ImportOutcome.CREATED, changes=changes, sites=site_plans)
        return _TrialWork(plan, record, values=values, add_conditions=matched, sites=sites)

    values = {name: value for name, value in owned.items() if getattr(trial, name) != value}
    if not trial.source_url:
        values["source_url"] = record.registry_url
    linked = {condition.pk for condition in trial.conditions.all()}
    missing = [condition for condition in matched if condition.pk not in linked]
    changes = _changes({name: getattr(trial, name) for name in values}, values)
    if missing:
        changes += (FieldChange("conditions", "—", "+ " + ", ".join(c.name for c in missing)),)
    plan = TrialPlan(
        **base,
        outcome=ImportOutcome.UPDATED if changes else ImportOutcome.UNCHANGED,
        changes=changes,
        sites=site_plans,
    )
    return _TrialWork(plan, record, trial, values=values, add_conditions=missing, sites=sites)


def _plan_work(records: Iterable[StudyRecord]) -> list[_TrialWork]:
    records = tuple(records)
    trials = {
        trial.nct_id: trial
        for trial in Trial.objects.filter(
            nct_id__in={record.nct_id for record in records}
        ).prefetch_related("conditions", "sites__hospital")
    }
    conditions = _ConditionIndex(Condition.objects.all())
    hospitals = list(Hospital.objects.all())
    work: list[_TrialWork] = []
    first: dict[str, StudyRecord] = {}
    for record in records:
        earlier = first.setdefault(record.nct_id, record)
        if earlier is not record:
            if earlier != record:
                raise CtgovError(
                    [f"{record.source}: differs from {earlier.source}, which has the same NCT ID"]
                )
            plan = TrialPlan(
                nct_id=record.nct_id,
                title=record.title,
                source=record.source,
                outcome=ImportOutcome.SKIPPED,
                reason=f"the same as {earlier.source}",
            )
            work.append(_TrialWork(plan, record))
            continue
        work.append(_plan_trial(record, trials.get(record.nct_id), conditions, hospitals))
    return work


IMPORT_CHANGE_REASON = "ClinicalTrials.gov import"


def _write_trial(work: _TrialWork) -> None:
    if work.plan.outcome is ImportOutcome.SKIPPED:
        return
    trial = work.trial
    if trial is None:
        trial = Trial(nct_id=work.record.nct_id, **work.values)
    else:
        for name, value in work.values.items():
            setattr(trial, name, value)
    if trial.pk is None or work.values:
        # No save for an unchanged trial: no history row, `updated_at` left alone.
        trial._change_reason = IMPORT_CHANGE_REASON
        trial.save()
    if work.add_conditions:
        trial.conditions.add(*work.add_conditions)
    for site_work in work.sites:
        plan, site = site_work.plan, site_work.site
        if plan.outcome is ImportOutcome.CREATED:
            TrialSite.objects.create(trial=trial, **site_work.values)
        elif plan.outcome is ImportOutcome.UPDATED:
            for name, value in site_work.values.items():
                setattr(site, name, value)
            site.save(update_fields=list(site_work.values))


def trial_import_plan(*, records: Iterable[StudyRecord]) -> ImportPlan:
    """What `trial_import_apply` would do with `records`, per record; writes nothing."""
    return ImportPlan(trials=tuple(work.plan for work in _plan_work(records)))


def trial_import_apply(*, records: Iterable[StudyRecord]) -> ImportReport:
    """Create or update trials and their sites from ClinicalTrials.gov records, by NCT ID.

    The plan is recomputed inside the transaction, so what is written matches what is read;
    a clash with the database (e.g. a constraint) rolls the whole run back.
    """
    with transaction.atomic():
        work = _plan_work(records)
        for trial_work in work:
            try:
                _write_trial(trial_work)
            except IntegrityError as error:
                raise CtgovError(
                    [f"{trial_work.record.source}: clashes with the database ({error})"]
                ) from error
    return ImportReport(trials=tuple(trial_work.plan for trial_work in work))
