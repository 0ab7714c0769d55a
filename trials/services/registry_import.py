"""The ClinicalTrials.gov import of trials and their sites.

`trials.ctgov` turns API v2 JSON into `StudyRecord`s (and refuses a bad file before anything is
written). Here a plan says, per record, what an import would do; applying it writes everything
in one transaction. What the registry owns and what stays the admins':

- Written from the registry on every import: title, overall status, ages (None = no limit),
  `conditions_text` (registry names matching none of our conditions, one per line), and
  short name (acronym), sponsor, phase and eligibility text when the registry gives them (a
  blank registry value never blanks a stored one).
- Only ever added: matched conditions (admin-linked ones stay linked), sites (admin-added
  ones stay), a site's hospital link when it has none, `source_url` when blank.
- Set on create only: `car_target` (a guess from the interventions, for admins to correct)
  and `min_failed_lines` (the model default; the registry does not say).
- Skipped: a record identical to an earlier one in the same run (overlapping pages or files),
  and a location without a facility name or listed twice. Anything malformed is an error,
  never a skip: the whole run is refused.
"""

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import StrEnum
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import IntegrityError, transaction

from trials.ctgov import CtgovError, Location, StudyRecord
from trials.models import Condition, Hospital, Trial, TrialSite
from trials.vocabulary import CarTarget, TrialPhase, TrialStatus


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
