"""Follow-up after treatment: the CAR-T outcome, the follow-up visits it schedules and their
tasks.
"""

import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from referrals.models import FollowUpVisit, Referral, Task, TreatmentOutcome, add_months
from referrals.services.common import ReferralError, _display_name, _event
from referrals.vocabulary import (
    FOLLOW_UP_MONTHS,
    FOLLOW_UP_STAGES,
    GRADE_MAX,
    GRADES,
    MEASURES,
    EventKind,
)


def _require_treated(referral: Referral) -> None:
    if referral.stage not in FOLLOW_UP_STAGES:
        raise ReferralError(
            "Outcomes and follow-up visits are recorded once the lead is treated "
            f"(this lead is {referral.get_stage_display().lower()})."
        )


def _date_problems(label: str, day: datetime.date | None, infusion: datetime.date) -> list[str]:
    if day is None:
        return []
    if day > timezone.localdate():
        return [f"The {label} ({day:%d %b %Y}) is in the future."]
    if day < infusion:
        return [f"The {label} ({day:%d %b %Y}) is before the infusion ({infusion:%d %b %Y})."]
    return []


def _grade_problems(label: str, grade) -> list[str]:
    if grade is None or (isinstance(grade, int) and grade in GRADES):
        return []
    return [f"The {label} grade must be 0 to {GRADE_MAX} (ASTCT grading); {grade} is not a grade."]


def _refuse(problems: list[str]) -> None:
    if problems:
        raise ReferralError(" ".join(problems))


def _full_clean(instance, exclude: list[str]) -> None:
    """The model's own validators and constraints, as a refusal rather than a crash."""
    try:
        instance.full_clean(exclude=exclude, validate_unique=False)
    except ValidationError as error:
        raise ReferralError(" ".join(error.messages)) from None


def _grade_text(grade: int | None) -> str:
    return "not assessed" if grade is None else f"grade {grade}"


def _outcome_summary(outcome: TreatmentOutcome) -> str:
    relapse = f"relapse on {outcome.relapse_date:%d %b %Y}" if outcome.relapse else "no relapse"
    return (
        f"{outcome.product}, infused {outcome.infusion_date:%d %b %Y}; "
        f"CRS {_grade_text(outcome.crs_grade)}, ICANS {_grade_text(outcome.icans_grade)}; "
        f"{relapse}."
    )


@transaction.atomic
def treatment_outcome_save(
    *,
    referral: Referral,
    infusion_date: datetime.date | None,
    product: str,
    crs_grade: int | None = None,
    icans_grade: int | None = None,
    infections: str = "",
    relapse: bool = False,
    relapse_date: datetime.date | None = None,
    by: AbstractBaseUser | None,
) -> TreatmentOutcome:
    """Record the infusion of a treated lead, or correct its outcome.

    The first save creates the 1-, 3-, 6- and 12-month follow-up visits, each due that many
    months after the infusion, and a task for each in the coordinator's queue (the lead's
    coordinator, or whoever records the infusion when the lead has none). Moving the infusion
    date moves the visits still to be done and their open tasks. Grades outside 0–4, dates in
    the future or before the infusion are refused and nothing is written.
    """
    current = Referral.objects.select_for_update().select_related("patient").get(pk=referral.pk)
    _require_treated(current)
    outcome = TreatmentOutcome.objects.select_for_update().filter(
        referral=current
    ).first() or TreatmentOutcome(referral=current)
    is_new = outcome.pk is None
    problems = []
    if infusion_date is None:
        problems.append("Give the infusion date.")
    elif infusion_date > timezone.localdate():
        problems.append(f"The infusion date ({infusion_date:%d %b %Y}) is in the future.")
    if not product.strip():
        problems.append("Say which CAR-T product was infused.")
    problems += _grade_problems("CRS", crs_grade) + _grade_problems("ICANS", icans_grade)
    if relapse and relapse_date is None:
        problems.append("Give the date of the relapse.")
    if relapse_date is not None and not relapse:
        problems.append("A relapse date is only recorded with a relapse.")
    _refuse(problems)
    problems += _date_problems("relapse date", relapse_date, infusion_date)
    if not is_new:
        for visit in outcome.visits.filter(done_on__lt=infusion_date):
            problems.append(
                f"The {visit.month}-month visit was done on {visit.done_on:%d %b %Y}, "
                "before that infusion date."
            )
    _refuse(problems)

    old_infusion = outcome.infusion_date
    outcome.infusion_date, outcome.product = infusion_date, product.strip()
    outcome.crs_grade, outcome.icans_grade = crs_grade, icans_grade
    outcome.infections = infections.strip()
    outcome.relapse, outcome.relapse_date = relapse, relapse_date
    outcome.recorded_by = by
    _full_clean(outcome, exclude=["referral", "recorded_by"])
    outcome.save()

    if is_new:
        assignee = current.assigned_to or by
        for month in FOLLOW_UP_MONTHS:
            due_on = add_months(infusion_date, month)
            task = None
            if assignee is not None:
                task = Task.objects.create(
                    referral=current,
                    title=f"{month}-month follow-up after CAR-T: disease activity and remission",
                    due_on=due_on,
                    assignee=assignee,
                    created_by=by,
                )
            FollowUpVisit.objects.create(outcome=outcome, month=month, due_on=due_on, task=task)
        tasks_for = f"; tasks for {_display_name(assignee)}" if assignee else ""
        body = (
            f"Infusion recorded: {_outcome_summary(outcome)} Follow-up visits due "
            + ", ".join(f"{add_months(infusion_date, m):%d %b %Y}" for m in FOLLOW_UP_MONTHS)
            + f"{tasks_for}."
        )
    else:
        if old_infusion != infusion_date:
            for visit in outcome.visits.filter(done_on__isnull=True).select_related("task"):
                visit.due_on = add_months(infusion_date, visit.month)
                visit.save(update_fields=["due_on", "updated_at"])
                if visit.task and not visit.task.is_done:
                    visit.task.due_on = visit.due_on
                    visit.task.save(update_fields=["due_on"])
        body = f"Outcome updated: {_outcome_summary(outcome)}"
    _event(current, EventKind.OUTCOME, by, body)
    return outcome


@transaction.atomic
def follow_up_visit_record(
    *,
    visit: FollowUpVisit,
    done_on: datetime.date | None,
    sledai_2k: int | None = None,
    das28=None,
    mrss: int | None = None,
    mg_adl: int | None = None,
    drug_free_remission: bool | None = None,
    notes: str = "",
    by: AbstractBaseUser | None,
) -> FollowUpVisit:
    """Record (or correct) a follow-up visit; its task, if still open, is done with it."""
    visit = (
        FollowUpVisit.objects.select_for_update(of=("self",))
        .select_related("outcome__referral", "task")
        .get(pk=visit.pk)
    )
    referral = visit.outcome.referral
    _require_treated(referral)
    if done_on is None:
        raise ReferralError("Give the date of the visit.")
    problems = _date_problems("visit date", done_on, visit.outcome.infusion_date)
    values = {"sledai_2k": sledai_2k, "das28": das28, "mrss": mrss, "mg_adl": mg_adl}
    for name, value in values.items():
        measure = MEASURES[name]
        if value is not None and not 0 <= value <= measure.high:
            problems.append(
                f"{measure.label} is scored 0 to {measure.high}; {value} is out of range."
            )
    _refuse(problems)
    was_done = visit.is_done
    visit.done_on, visit.drug_free_remission, visit.notes = done_on, drug_free_remission, notes
    for name, value in values.items():
        setattr(visit, name, value)
    visit.notes = notes.strip()
    visit.recorded_by = by
    _full_clean(visit, exclude=["outcome", "task", "recorded_by"])
    visit.save()
    task_done = ""
    if visit.task and not visit.task.is_done:
        visit.task.done_at = timezone.now()
        visit.task.save(update_fields=["done_at"])
        task_done = " Task done."
    measures = ", ".join(f"{label} {value}" for label, value in visit.measures) or "no measures"
    remission = {True: "yes", False: "no", None: "not assessed"}[drug_free_remission]
    _event(
        referral,
        EventKind.FOLLOW_UP,
        by,
        f"{visit.month}-month follow-up {'corrected' if was_done else 'recorded'} "
        f"({done_on:%d %b %Y}): {measures}; drug-free remission: {remission}.{task_done}",
    )
    return visit
