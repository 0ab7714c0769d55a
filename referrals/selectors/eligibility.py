"""The eligibility engine's inputs: a patient's facts and every program and trial, read in a
fixed number of queries."""

from django.db.models import Prefetch

from referrals.eligibility import Candidate, Evaluation, PatientFacts, evaluate
from referrals.models import Patient, PriorTreatmentLine
from trials.models import Condition, Program, ProgramStatus, Trial, TrialStatus


def patient_facts(patient: Patient) -> PatientFacts:
    """Facts for the engine; expects lines, therapies and other conditions prefetched."""
    conditions = [patient.primary_condition] if patient.primary_condition else []
    conditions += [c for c in patient.other_conditions.all() if c not in conditions]
    lines = patient.treatment_lines.all()
    return PatientFacts(
        age=patient.age,
        condition_ids=frozenset(c.pk for c in conditions),
        condition_names=tuple(c.name for c in conditions),
        failed_line_count=patient.failed_line_count,
        line_count=len(lines),
        exclusions=tuple(patient.exclusion_list),
    )


def eligibility_candidates() -> list[Candidate]:
    """Every program and trial as engine input: four queries in all."""
    conditions = Prefetch("conditions", queryset=Condition.objects.only("id", "name"))
    programs = Program.objects.select_related("hospital").prefetch_related(conditions)
    trials = Trial.objects.prefetch_related(conditions)
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
            status_label=program.get_status_display(),
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
            status_label=trial.get_overall_status_display(),
        )
        for trial in trials
    ]


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
        )
        .get(pk=patient_id)
    )


def patient_evaluations(patient: Patient) -> list[Evaluation]:
    return evaluate(patient_facts(patient), eligibility_candidates())
