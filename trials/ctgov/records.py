"""Whole ClinicalTrials.gov records and files → `StudyRecord`s, every problem collected into one
`CtgovError`; and `to_v2`, a record back as minimal API v2 JSON. Single values (ages, phases,
the CAR target) are read by `values`.
"""

import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trials.ctgov.values import PHASE_MAP, Intervention, guess_car_target, map_phases, parse_age
from trials.vocabulary import (
    NCT_ID_PATTERN,
    SITE_CITY_MAX_LENGTH,
    SITE_COUNTRY_MAX_LENGTH,
    SITE_FACILITY_MAX_LENGTH,
    TRIAL_SHORT_NAME_MAX_LENGTH,
    TRIAL_SPONSOR_MAX_LENGTH,
    TRIAL_TITLE_MAX_LENGTH,
    TrialStatus,
)

ID = "protocolSection.identificationModule"
STATUS = "protocolSection.statusModule.overallStatus"
SPONSOR = "protocolSection.sponsorCollaboratorsModule.leadSponsor.name"
PHASES = "protocolSection.designModule.phases"
CONDITIONS = "protocolSection.conditionsModule.conditions"
ELIGIBILITY = "protocolSection.eligibilityModule"
INTERVENTIONS = "protocolSection.armsInterventionsModule.interventions"
LOCATIONS = "protocolSection.contactsLocationsModule.locations"

# `to_v2` writes a stored phase back as the registry's list of phases.
_PHASE_LISTS = {phase: list(phases) for phases, phase in PHASE_MAP.items()}
_NCT_ID = re.compile(NCT_ID_PATTERN)
# Checking stops after this many problems: a file of thousands of broken records would otherwise
# make an error list too long to read or to render.
MAX_PROBLEMS = 100

# Registry text longer than our columns is cut rather than refused: an over-long facility name
# is no reason to reject a whole page of studies.
_LIMITS = {
    "title": TRIAL_TITLE_MAX_LENGTH,
    "short_name": TRIAL_SHORT_NAME_MAX_LENGTH,
    "sponsor": TRIAL_SPONSOR_MAX_LENGTH,
    "facility": SITE_FACILITY_MAX_LENGTH,
    "city": SITE_CITY_MAX_LENGTH,
    "country": SITE_COUNTRY_MAX_LENGTH,
}


class CtgovError(Exception):
    """The input is not usable ClinicalTrials.gov JSON; nothing was written."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            "ClinicalTrials.gov import failed; nothing was written:\n"
            + "\n".join(f"- {problem}" for problem in self.problems)
        )


@dataclass(frozen=True)
class Location:
    facility: str
    city: str = ""
    country: str = ""
    status: str = ""


@dataclass(frozen=True)
class StudyRecord:
    nct_id: str
    title: str
    short_name: str
    sponsor: str
    overall_status: str
    phase: str
    conditions: tuple[str, ...]
    min_age: int | None
    max_age: int | None
    eligibility_text: str
    interventions: tuple[Intervention, ...]
    locations: tuple[Location, ...]
    # Where the record came from ("page.json record 2"); not part of its identity.
    source: str = field(default="", compare=False)

    @property
    def car_target(self) -> str:
        return guess_car_target(self.interventions)

    @property
    def registry_url(self) -> str:
        return f"https://clinicaltrials.gov/study/{self.nct_id}"


# -- reading one record ----------------------------------------------------------------------

_MISSING = object()


class _RecordReader:
    """Reads dotted paths out of one record, collecting a problem per bad field."""

    def __init__(self, where: str, raw: dict[str, Any], problems: list[str]) -> None:
        self.where = where
        self.raw = raw
        self.problems = problems
        self.reported: set[str] = set()

    def problem(self, path: str, message: str) -> None:
        if path not in self.reported:
            self.reported.add(path)
            self.problems.append(f"{self.where}, field {path!r}: {message}")

    def value(self, path: str, base: Any = None, base_path: str = "") -> Any:
        """The value at `path` (relative to `base` when given), or _MISSING; null is missing."""
        node, walked = (self.raw if base is None else base), base_path
        for key in path.split("."):
            if not isinstance(node, dict):
                self.problem(walked, f"expected an object, got {_short(node)}")
                return _MISSING
            walked = f"{walked}.{key}" if walked else key
            node = node.get(key)
            if node is None:
                return _MISSING
        return node

    def text(
        self, path: str, *, required: bool = False, base: Any = None, base_path: str = ""
    ) -> str:
        value = self.value(path, base, base_path)
        full = f"{base_path}.{path}" if base_path else path
        if value is _MISSING:
            if required:
                self.problem(full, "missing")
            return ""
        if not isinstance(value, str):
            self.problem(full, f"expected a string, got {_short(value)}")
            return ""
        if required and not value.strip():
            self.problem(full, "missing (empty)")
        return value.strip()

    def strings(self, path: str, *, base: Any = None, base_path: str = "") -> tuple[str, ...]:
        value = self.value(path, base, base_path)
        full = f"{base_path}.{path}" if base_path else path
        if value is _MISSING:
            return ()
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.problem(full, f"expected a list of strings, got {_short(value)}")
            return ()
        return tuple(item.strip() for item in value if item.strip())

    def objects(self, path: str) -> list[tuple[str, dict[str, Any]]]:
        value = self.value(path)
        if value is _MISSING:
            return []
        if not isinstance(value, list):
            self.problem(path, f"expected a list of objects, got {_short(value)}")
            return []
        items = []
        for index, item in enumerate(value):
            if isinstance(item, dict):
                items.append((f"{path}[{index}]", item))
            else:
                self.problem(f"{path}[{index}]", f"expected an object, got {_short(item)}")
        return items


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}…"


def _cut(name: str, value: str) -> str:
    limit = _LIMITS[name]
    return value if len(value) <= limit else f"{value[: limit - 1]}…"


def _age(reader: _RecordReader, name: str) -> int | None:
    path = f"{ELIGIBILITY}.{name}"
    text = reader.text(path)
    try:
        return parse_age(text)
    except ValueError as error:
        reader.problem(path, str(error))
        return None


def _status(reader: _RecordReader, path: str, value: str) -> str:
    if value and value not in TrialStatus.values:
        reader.problem(path, f"unknown status {value!r} (known: {', '.join(TrialStatus.values)})")
    return value


def _read_record(where: str, raw: Any, problems: list[str]) -> StudyRecord | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a study record (an object), got {_short(raw)}")
        return None
    reader = _RecordReader(where, raw, problems)
    if reader.value("protocolSection") is _MISSING:
        reader.problem("protocolSection", "missing")
        return None

    nct_id = reader.text(f"{ID}.nctId", required=True)
    if nct_id:
        reader.where = where = f"{where} ({nct_id})"
        if not _NCT_ID.fullmatch(nct_id):
            reader.problem(f"{ID}.nctId", f"{nct_id!r} is not 'NCT' followed by 8 digits")
    brief_title = reader.text(f"{ID}.briefTitle")
    official_title = reader.text(f"{ID}.officialTitle")
    if not (brief_title or official_title):
        reader.problem(f"{ID}.briefTitle", "missing (and no officialTitle either)")
    status = _status(reader, STATUS, reader.text(STATUS, required=True))

    phases = reader.strings(PHASES)
    try:
        phase = map_phases(phases)
    except ValueError as error:
        reader.problem(PHASES, str(error))
        phase = ""

    min_age, max_age = _age(reader, "minimumAge"), _age(reader, "maximumAge")
    if min_age is not None and max_age is not None and min_age > max_age:
        reader.problem(f"{ELIGIBILITY}.maximumAge", f"{max_age} is below minimumAge {min_age}")

    interventions = tuple(
        Intervention(
            name=reader.text("name", base=item, base_path=path),
            description=reader.text("description", base=item, base_path=path),
            other_names=reader.strings("otherNames", base=item, base_path=path),
        )
        for path, item in reader.objects(INTERVENTIONS)
    )
    locations = []
    for path, item in reader.objects(LOCATIONS):
        site_status = reader.text("status", base=item, base_path=path)
        locations.append(
            Location(
                facility=_cut("facility", reader.text("facility", base=item, base_path=path)),
                city=_cut("city", reader.text("city", base=item, base_path=path)),
                country=_cut("country", reader.text("country", base=item, base_path=path)),
                status=_status(reader, f"{path}.status", site_status),
            )
        )

    return StudyRecord(
        nct_id=nct_id,
        title=_cut("title", brief_title or official_title),
        short_name=_cut("short_name", reader.text(f"{ID}.acronym")),
        sponsor=_cut("sponsor", reader.text(SPONSOR)),
        overall_status=status,
        phase=phase,
        conditions=reader.strings(CONDITIONS),
        min_age=min_age,
        max_age=max_age,
        eligibility_text=reader.text(f"{ELIGIBILITY}.eligibilityCriteria"),
        interventions=interventions,
        locations=tuple(locations),
        source=where,
    )


# -- reading files ---------------------------------------------------------------------------


def _records_in(document: Any, source: str, problems: list[str]) -> list[Any] | None:
    if isinstance(document, list):
        return document
    if isinstance(document, dict) and "studies" in document:
        studies = document["studies"]
        if not isinstance(studies, list):
            problems.append(f"{source}, field 'studies': expected a list, got {_short(studies)}")
            return None
        return studies
    if isinstance(document, dict):
        return [document]
    problems.append(
        f"{source}: expected a study record, a list of records or a page with 'studies', "
        f"got {_short(document)}"
    )
    return None


def _parse_into(text: str | bytes, source: str, problems: list[str]) -> list[StudyRecord]:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            problems.append(f"{source}: not UTF-8 text (byte {error.start})")
            return []
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        problems.append(
            f"{source}: not valid JSON at line {error.lineno} column {error.colno} ({error.msg})"
        )
        return []
    # Valid JSON that Python's parser refuses: `[[[…]]]` thousands deep, or an integer with more
    # digits than Python converts (a guard against quadratic-time conversion).
    except RecursionError:
        problems.append(f"{source}: not usable JSON: nested too deeply to read")
        return []
    except ValueError:
        problems.append(
            f"{source}: not usable JSON: a number is longer than "
            f"{sys.get_int_max_str_digits()} digits"
        )
        return []
    items = _records_in(document, source, problems)
    if items is None:
        return []
    if not items:
        problems.append(f"{source}: no study records")
        return []
    records = []
    for number, raw in enumerate(items, start=1):
        if len(problems) >= MAX_PROBLEMS:
            problems.append(
                f"{source}: stopped after {len(problems)} problems; "
                f"records {number}–{len(items)} were not checked"
            )
            break
        record = _read_record(f"{source}: record {number}", raw, problems)
        if record is not None:
            records.append(record)
    return records


def _check_conflicts(records: Iterable[StudyRecord], problems: list[str]) -> None:
    """One NCT ID twice with different content: which one is right cannot be guessed."""
    first: dict[str, StudyRecord] = {}
    for record in records:
        earlier = first.setdefault(record.nct_id, record)
        if earlier is not record and earlier != record:
            problems.append(
                f"{record.source}, field '{ID}.nctId': {record.nct_id} differs from the record "
                f"with the same NCT ID in {earlier.source}"
            )


def parse_text(text: str | bytes, *, source: str) -> tuple[StudyRecord, ...]:
    """The records in one JSON document; `source` (a file name) heads every problem."""
    problems: list[str] = []
    records = _parse_into(text, source, problems)
    _check_conflicts(records, problems)
    if problems:
        raise CtgovError(problems)
    return tuple(records)


def json_files(path: Path) -> list[Path]:
    """PATH itself, or the *.json files in the directory PATH, sorted by name."""
    if path.is_dir():
        files = sorted(child for child in path.glob("*.json") if child.is_file())
        if not files:
            raise CtgovError([f"{path}: no *.json files in this directory"])
        return files
    if not path.is_file():
        raise CtgovError([f"{path}: no such file or directory"])
    return [path]


def parse_path(path: Path) -> tuple[StudyRecord, ...]:
    """Every record in a file or in a directory's *.json files; all files checked first."""
    problems: list[str] = []
    records: list[StudyRecord] = []
    for file in json_files(path):
        try:
            raw = file.read_bytes()
        except OSError as error:
            problems.append(f"{file.name}: cannot be read ({error.strerror})")
            continue
        records.extend(_parse_into(raw, file.name, problems))
    _check_conflicts(records, problems)
    if problems:
        raise CtgovError(problems)
    return tuple(records)


def to_v2(record: StudyRecord) -> dict[str, Any]:
    """The record as minimal API v2 JSON: `parse_text` of it gives the same record back.

    The admin's preview signs this (not the whole upload) and re-reads it on "Apply".
    """
    eligibility: dict[str, Any] = {"eligibilityCriteria": record.eligibility_text}
    for name, age in (("minimumAge", record.min_age), ("maximumAge", record.max_age)):
        if age is not None:
            eligibility[name] = f"{age} Years"
    return {
        "protocolSection": {
            "identificationModule": {
                "nctId": record.nct_id,
                "briefTitle": record.title,
                "acronym": record.short_name,
            },
            "statusModule": {"overallStatus": record.overall_status},
            "sponsorCollaboratorsModule": {"leadSponsor": {"name": record.sponsor}},
            "designModule": {"phases": _PHASE_LISTS.get(record.phase, [])},
            "conditionsModule": {"conditions": list(record.conditions)},
            "eligibilityModule": eligibility,
            "armsInterventionsModule": {
                "interventions": [
                    {
                        "name": i.name,
                        "description": i.description,
                        "otherNames": list(i.other_names),
                    }
                    for i in record.interventions
                ]
            },
            "contactsLocationsModule": {
                "locations": [
                    {
                        "facility": location.facility,
                        "city": location.city,
                        "country": location.country,
                        "status": location.status,
                    }
                    for location in record.locations
                ]
            },
        }
    }
