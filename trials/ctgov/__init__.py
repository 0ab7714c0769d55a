"""ClinicalTrials.gov API v2 JSON → plain, frozen dataclasses. No ORM: nothing here reads or
writes the database, so every rule can be tested on its own.

A file holds one study record (`{"protocolSection": …}`), a JSON list of records, or a page from
the list endpoint (`{"studies": […], "nextPageToken": …}`). Every file is read and every record
checked before anything is returned; all problems are collected and raised as one `CtgovError`
whose lines name the file, the record and the field:

    page.json: record 2 (NCT06328777), field 'protocolSection.statusModule.overallStatus': …

Only the fields CareCRM stores are read (and type-checked); the registry's other fields are
ignored, so a full record and a `fields=`-trimmed one both import.

`values` turns single registry values into ours (ages, phases, the CAR target); `records` reads
whole records and files and writes a record back as v2 JSON. Both import no Django model: their
limits and words come from `trials.vocabulary`. Re-exported here: what callers use.
"""

from trials.ctgov.records import (
    MAX_PROBLEMS,
    CtgovError,
    Location,
    StudyRecord,
    parse_path,
    parse_text,
    to_v2,
)
from trials.ctgov.values import Intervention, guess_car_target, map_phases, parse_age

__all__ = [
    "MAX_PROBLEMS",
    "CtgovError",
    "Intervention",
    "Location",
    "StudyRecord",
    "guess_car_target",
    "map_phases",
    "parse_age",
    "parse_path",
    "parse_text",
    "to_v2",
]
