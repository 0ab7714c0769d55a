"""The eligibility engine's inputs: a patient's dated facts and lines, every program and trial
with its typed criteria, and the condition hierarchy, read in a fixed number of queries."""

import datetime
from collections.abc import Callable

from django.db.models import Prefetch
from django.utils import timezone

from referrals.described_patient import DescribedPatient, DescribedPatientError
from referrals.eligibility import (
    Candidate,
    ConditionTree,
    Evaluation,
    Fact,
    Line,
    Override,
    PatientFacts,
    Result,
    TypedCriterion,
    evaluate,
)
from referrals.models import ClinicalFact, Patient, PriorTreatmentLine, Referral
from trials.clinical import FACTS, counts_as_failed, is_stale
from trials.criteria import CriterionError, CriterionKind, CriterionRule, parse_rule
from trials.models import (
    Condition,
    EligibilityCriterion,
    Program,
    ProgramStatus,
    Therapy,
    Trial,
    TrialStatus,
)


def patient_facts(patient: Patient) -> PatientFacts:
    """Facts for the engine; expects what `patient_for_eligibility` prefetches."""
    conditions = [patient.primary_condition] if patient.primary_condition else []
    conditions += [c for c in patient.other_conditions.all() if c not in conditions]
    lines = patient.treatment_lines.all()
    latest: dict[str, Fact] = {}
    for fact in patient.clinical_facts.all():  # newest first: the first of each kind is current
        latest.setdefault(fact.kind, Fact(fact.kind, fact.value, fact.observed_on))
    return PatientFacts(
        age=patient.age,
        condition_ids=frozenset(c.pk for c in conditions),
        condition_names=tuple(c.name for c in conditions),
        failed_line_count=patient.failed_line_count,
        line_count=len(lines),
        exclusions=tuple(patient.exclusion_list),
        lines=tuple(
            Line(
                therapies=frozenset(t.name for t in line.therapies.all()),
                drug_classes=frozenset(t.drug_class for t in line.therapies.all()),
                counts=any(t.counts_toward_failed_lines for t in line.therapies.all()),
                start=line.start_date,
                end=line.end_date,
                reason_stopped=line.reason_stopped,
            )
            for line in lines
        ),
        facts=latest,
        diagnosis_year=patient.diagnosis_year,
    )


def condition_tree() -> ConditionTree:
    rows = Condition.objects.values_list("id", "parent_id", "slug")
    return ConditionTree(
        parents={pk: parent for pk, parent, _slug in rows},
        slugs={pk: slug for pk, _parent, slug in rows},
    )


def eligibility_candidates(tree: ConditionTree | None = None) -> list[Candidate]:
    """Every program and trial as engine input: seven queries in all (six with `tree`)."""
    tree = tree or condition_tree()
    conditions = Prefetch("conditions", queryset=Condition.objects.only("id", "name"))
    criteria = Prefetch("criteria", queryset=EligibilityCriterion.objects.confirmed())
    programs = Program.objects.select_related("hospital").prefetch_related(conditions, criteria)
    trials = Trial.objects.prefetch_related(conditions, criteria, "sites")
    return [
        Candidate(
            kind="program",
            id=program.pk,
            name=str(program),
            condition_ids=frozenset(c.pk for c in program.conditions.all()),
            condition_names=tuple(c.name for c in program.conditions.all()),
            min_age=program.min_age,
            max_age=program.max_age,
            min_failed_lines=program.min_failed_lines,
            is_open=program.status == ProgramStatus.ACCEPTING,
            status_label=str(ProgramStatus(program.status).label),
            criteria=_typed_criteria(program),
            countries=frozenset({program.hospital.country}),
        )
        for program in programs
    ] + [
        Candidate(
            kind="trial",
            id=trial.pk,
            name=str(trial),
            condition_ids=frozenset(c.pk for c in trial.conditions.all()),
            condition_names=tuple(c.name for c in trial.conditions.all()),
            min_age=trial.min_age,
            max_age=trial.max_age,
            min_failed_lines=trial.min_failed_lines,
            is_open=trial.overall_status == TrialStatus.RECRUITING,
            status_label=str(TrialStatus(trial.overall_status).label),
            criteria=_typed_criteria(trial),
            countries=frozenset(site.country for site in trial.sites.all() if site.country) or None,
        )
        for trial in trials
    ]


def _typed_criteria(owner: Program | Trial) -> tuple[TypedCriterion, ...]:
    return tuple(_typed_criterion(criterion) for criterion in owner.criteria.all())


def _typed_criterion(criterion: EligibilityCriterion) -> TypedCriterion:
    """A saved criterion for the engine. One that no longer reads (edited outside the admin)
    becomes a manual review that says why, rather than breaking every page that evaluates."""
    source = criterion.source_text
    try:
        rule = parse_rule(
            criterion.kind,
            criterion.params,
            condition_slugs=None,
            therapy_names=None,
            drug_classes=None,
        )
    except CriterionError as error:
        rule, source = CriterionRule(CriterionKind.MANUAL), f"{source} [cannot be read: {error}]"
    return TypedCriterion(key=f"c{criterion.pk}", role=criterion.role, rule=rule, source=source)


def patient_for_eligibility(patient_id: int) -> Patient:
    """A patient with everything `patient_facts` reads; raises Patient.DoesNotExist."""
    return (
        Patient.objects.select_related("primary_condition")
        .prefetch_related(
            "other_conditions",
            Prefetch(
                "treatment_lines",
                queryset=PriorTreatmentLine.objects.prefetch_related("therapies"),
            ),
            Prefetch(
                "clinical_facts",
                queryset=ClinicalFact.objects.order_by("-observed_on", "-id"),
            ),
        )
        .get(pk=patient_id)
    )


def referral_evaluations(referral: Referral, *, today: datetime.date | None = None):
    """The lead's patient against every candidate, with the lead's overrides applied.

    Reads the patient as `referral_with_patient` prefetches it (or loads it so), and the
    overrides (prefetched as `criterion_overrides` on the lead page)."""
    patient = referral.patient
    if "clinical_facts" not in getattr(patient, "_prefetched_objects_cache", {}):
        patient = patient_for_eligibility(referral.patient_id)
    overrides = {
        (o.candidate_kind, o.candidate_id, o.criterion_key): Override(
            result=Result(o.result),
            reason=o.reason,
            by=o.decided_by.get_full_name() or o.decided_by.get_username(),
            on=timezone.localdate(o.decided_at),
        )
        for o in referral.criterion_overrides.all()
    }
    return _evaluations(lambda tree: patient_facts(patient), today=today, overrides=overrides)


def patient_evaluations(
    patient: Patient, *, today: datetime.date | None = None
) -> list[Evaluation]:
    return _evaluations(lambda tree: patient_facts(patient), today=today)


def _evaluations(
    facts_of: Callable[[ConditionTree], PatientFacts],
    *,
    today: datetime.date | None,
    overrides: dict | None = None,
) -> list[Evaluation]:
    """Every candidate evaluated against the patient `facts_of` describes, with one read of the
    condition hierarchy for both."""
    tree = condition_tree()
    return evaluate(
        facts_of(tree),
        eligibility_candidates(tree),
        today=today or timezone.localdate(),
        tree=tree,
        overrides=overrides,
    )


def current_facts(patient: Patient, today: datetime.date) -> list[dict]:
    """The patient's current fact of each kind, in catalogue order, each with whether it is too
    old to decide on and how many earlier values there are. Reads the prefetched facts."""
    by_kind: dict[str, list[ClinicalFact]] = {}
    for fact in patient.clinical_facts.all():  # newest first
        by_kind.setdefault(fact.kind, []).append(fact)
    return [
        {
            "fact": facts[0],
            "stale": is_stale(kind, facts[0].observed_on, today),
            "earlier": facts[1:],
        }
        for kind in FACTS
        if (facts := by_kind.get(kind))
    ]


def described_patient_facts(described: DescribedPatient, tree: ConditionTree) -> PatientFacts:
    """A described patient as the engine reads a stored one: names resolved to conditions and
    therapies (one query); an unknown name is a `DescribedPatientError` naming its field."""
    ids_by_slug = {slug: pk for pk, slug in tree.slugs.items()}
    unknown = [slug for slug in described.conditions if slug not in ids_by_slug]
    if unknown:
        raise DescribedPatientError(f"conditions: unknown condition {', '.join(unknown)}.")
    names = {name for line in described.lines for name in line.therapies}
    therapies = {
        therapy.name: therapy
        for therapy in Therapy.objects.filter(name__in=names).only(
            "name", "drug_class", "counts_toward_failed_lines"
        )
    }
    lines = []
    for index, line in enumerate(described.lines, start=1):
        missing = [name for name in line.therapies if name not in therapies]
        if missing:
            raise DescribedPatientError(
                f"lines[{index}].therapies: unknown therapy {', '.join(missing)}."
            )
        regimen = [therapies[name] for name in line.therapies]
        lines.append(
            Line(
                therapies=frozenset(line.therapies),
                drug_classes=frozenset(t.drug_class for t in regimen),
                counts=any(t.counts_toward_failed_lines for t in regimen),
                start=line.start,
                end=line.end,
                reason_stopped=line.reason_stopped,
            )
        )
    latest: dict[str, Fact] = {}
    for fact in sorted(described.facts, key=lambda f: f.observed_on, reverse=True):
        latest.setdefault(fact.kind, fact)
    condition_ids = [ids_by_slug[slug] for slug in dict.fromkeys(described.conditions)]
    names_by_id = dict(Condition.objects.filter(pk__in=condition_ids).values_list("pk", "name"))
    return PatientFacts(
        age=described.age,
        condition_ids=frozenset(condition_ids),
        condition_names=tuple(names_by_id[pk] for pk in condition_ids),
        failed_line_count=sum(counts_as_failed(line.reason_stopped, line.counts) for line in lines),
        line_count=len(lines),
        exclusions=described.exclusions,
        lines=tuple(lines),
        facts=latest,
        diagnosis_year=described.diagnosis_year,
    )


def described_patient_evaluations(described: DescribedPatient) -> list[Evaluation]:
    """The same verdicts a stored patient with these facts gets, on the description's date."""
    return _evaluations(
        lambda tree: described_patient_facts(described, tree), today=described.as_of
    )
