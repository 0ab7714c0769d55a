"""Loading the reference data (conditions, therapies, hospitals, trials, programs and their
eligibility criteria) from the JSON files that `reference_files` reads and checks.

The files in `trials/reference/` own the fields they list: a reload writes those fields back over
admin edits. Statuses are the exception: a trial's overall status and a program's status seed a
new row only, because admins keep them current; so do a trial's title and eligibility text,
which the ClinicalTrials.gov import owns from then on. Everything else is the admins': a reload
never deletes a row, never unlinks a condition an admin added to a trial or program, and never
touches fields the files leave out (a hospital's phone, a program's contacts, capacity or linked
trial). A criterion is known by its trial or program, kind and source sentence: the file owns its
role, parameters and position, and criteria admins added stay.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from django.db import IntegrityError, models, transaction

from trials.models import Condition, EligibilityCriterion, Hospital, Program, Therapy, Trial
from trials.services.reference_files import (
    REFERENCE_DIR,
    ReferenceData,
    ReferenceDataError,
    read_reference_files,
)


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
    criteria: EntityCounts

    def by_entity(self) -> dict[str, EntityCounts]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


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


def _link_parent(condition: Condition, parent: Condition | None, outcome: Outcome) -> Outcome:
    """The file's parent; a subtype an admin placed under a parent stays where they put it."""
    if parent is None or condition.parent_id is not None:
        return outcome
    condition.parent = parent
    condition.save(update_fields=["parent"])
    return Outcome.UPDATED if outcome is Outcome.UNCHANGED else outcome


def _write(data: ReferenceData) -> ReferenceLoadReport:
    conditions: dict[str, Condition] = {}
    condition_outcomes = []
    for row in data.conditions:
        condition, outcome = _upsert(
            Condition,
            where=f"conditions.json ({row.slug})",
            lookup={"slug": row.slug},
            values=_values(row, omit={"slug", "parent"}),
        )
        conditions[row.slug] = condition
        condition_outcomes.append(outcome)
    for index, row in enumerate(data.conditions):
        condition_outcomes[index] = _link_parent(
            conditions[row.slug], conditions.get(row.parent), condition_outcomes[index]
        )

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

    trials: dict[str, Trial] = {}
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
        trials[row.nct_id] = trial
        trial_outcomes.append(_link_conditions(trial, row.conditions, conditions, outcome))

    programs: dict[tuple[str, str], Program] = {}
    program_outcomes = []
    for row in data.programs:
        program, outcome = _upsert(
            Program,
            where=f"programs.json ({row.name})",
            lookup={"hospital": hospitals[row.hospital], "name": row.name},
            values=_values(row, omit={"hospital", "name", "conditions", "status"}),
            initial={"status": row.status},
        )
        programs[(row.hospital, row.name)] = program
        program_outcomes.append(_link_conditions(program, row.conditions, conditions, outcome))

    criterion_outcomes = [
        _upsert(
            EligibilityCriterion,
            where=f"criteria.json ({row.trial or ': '.join(row.program)}: {row.source_text})",
            lookup={
                "trial": trials.get(row.trial),
                "program": programs.get(row.program),
                "kind": row.kind,
                "source_text": row.source_text,
            },
            values={"role": row.role, "params": row.params, "position": row.position},
        )[1]
        for row in data.criteria
    ]

    return ReferenceLoadReport(
        conditions=EntityCounts.of(condition_outcomes),
        therapies=EntityCounts.of(therapy_outcomes),
        hospitals=EntityCounts.of(hospital_outcomes),
        trials=EntityCounts.of(trial_outcomes),
        programs=EntityCounts.of(program_outcomes),
        criteria=EntityCounts.of(criterion_outcomes),
    )


def reference_data_load(*, directory: Path = REFERENCE_DIR) -> ReferenceLoadReport:
    """Create or update the reference rows from the JSON files in `directory`.

    Every file is parsed and checked before the first write, and the writes share one
    transaction, so a bad file or a clash with an admin's row leaves the database as it was.
    """
    data = read_reference_files(directory)
    with transaction.atomic():
        return _write(data)
