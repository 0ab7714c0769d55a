"""Every read a staff page needs, in a fixed number of queries however many leads there are."""

import datetime
import heapq
import math
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, User
from django.core.cache import caches
from django.db.models import (
    Case,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.expressions import Window
from django.db.models.functions import Coalesce, Lower, RowNumber, TruncDate
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from referrals.access import referrals_visible_to
from referrals.eligibility import Candidate, Evaluation, PatientFacts, evaluate
from referrals.models import (
    FollowUpVisit,
    ImportJob,
    ImportJobRow,
    LeadDocument,
    Patient,
    PriorTreatmentLine,
    Referral,
    ReferralEvent,
    ReferralSnapshot,
    ScreeningRecord,
    Task,
    TreatmentOutcome,
)
from referrals.pipeline import first_day_on_time
from referrals.vocabulary import (
    HOSPITAL_OPEN_STAGES,
    OPEN_STAGES,
    CloseReason,
    EventKind,
    ScreenFailureCriterion,
    Source,
    Stage,
)
from trials.models import Condition, Program, ProgramStatus, Trial, TrialSite, TrialStatus

BOARD_COLUMN_LIMIT = 25
QUEUE_PAGE_SIZE = settings.LIST_PAGE_ROWS
# The queue shows a coordinator's next tasks; the task list, a link away, holds all of them.
QUEUE_TASK_LIMIT = 10
TIMELINE_LIMIT = 200

# What a queue row or a board card shows; the rest of the lead (consent text, intake message…)
# is not read. A template that used another field would cost a query per row, which the flat
# query-count tests catch.
# The condition shows as its name: its other columns (codes, synonyms, the translations as JSON)
# are neither read nor decoded.
PATIENT_NAME = ("patient__first_name", "patient__last_name", "patient__primary_condition__name")
QUEUE_ROW = (
    "stage",
    "created_at",
    "next_action",
    "next_action_due",
    "priority",
    "hospital_update_at",
    "coordinator_seen_at",
    *PATIENT_NAME,
)
BOARD_CARD = (
    "stage",
    "version",
    "stage_changed_at",
    *PATIENT_NAME,
    "assigned_to__first_name",
    "assigned_to__last_name",
    "assigned_to__username",
)


# --- eligibility -------------------------------------------------------------------------


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


# --- my queue ----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilters:
    search: str = ""
    stage: str = ""
    only_overdue: bool = False


def _contact_overdue_before(today: datetime.date) -> datetime.datetime:
    """New leads received before this moment are overdue for first contact today."""
    start = datetime.datetime.combine(first_day_on_time(today), datetime.time.min)
    return timezone.make_aware(start, timezone.get_current_timezone())


def _urgency(today: datetime.date) -> Case:
    """0 overdue, 1 due today, 2 later: a new lead not contacted in time is overdue too."""
    contact_overdue = Q(stage=Stage.NEW, created_at__lt=_contact_overdue_before(today))
    return Case(
        When(contact_overdue | Q(next_action_due__lt=today), then=Value(0)),
        When(next_action_due=today, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )


def queue_for(user: AbstractBaseUser, filters: QueueFilters, page: int = 1) -> list[Referral]:
    """The coordinator's open leads, overdue first, then due today, then by due date.

    Queries: the ids of the page, sorted within the (assigned_to, stage, next_action_due,
    priority, created_at) index without reading the leads; the page of leads (patient and
    condition joined, each with its failed-line count): two, for any number of leads.
    """
    now = timezone.now()
    today = timezone.localdate(now)
    leads = Referral.objects.open().for_coordinator(user).annotate(urgency=_urgency(today))
    if filters.stage:
        leads = leads.filter(stage=filters.stage)
    if filters.only_overdue:
        leads = leads.filter(urgency=0)
    if filters.search:
        leads = leads.matching(filters.search)
    order = ("urgency", F("next_action_due").asc(nulls_last=True), "-priority", "created_at", "id")
    offset = (page - 1) * QUEUE_PAGE_SIZE
    ids = list(
        leads.order_by(*order).values_list("pk", flat=True)[offset : offset + QUEUE_PAGE_SIZE + 1]
    )
    rows = (
        Referral.objects.filter(pk__in=ids)
        .select_related("patient__primary_condition")
        .only(*QUEUE_ROW)
        .with_failed_line_count()
    )
    by_id = {row.pk: row for row in rows}
    return [by_id[pk] for pk in ids]


def open_tasks_for(user: AbstractBaseUser) -> list[Task]:
    """The coordinator's next open tasks, earliest due first, one more than the queue shows
    (QUEUE_TASK_LIMIT) so it knows to link the rest: one query."""
    return list(
        Task.objects.open()
        .filter(assignee=user)
        .select_related("referral__patient")
        .only("title", "due_on", "referral__patient__first_name", "referral__patient__last_name")
        .order_by("due_on", "id")[: QUEUE_TASK_LIMIT + 1]
    )


# --- pipeline board ----------------------------------------------------------------------


@dataclass(frozen=True)
class BoardFilters:
    coordinator_id: int | None = None
    condition_id: int | None = None
    program_id: int | None = None


@dataclass
class BoardColumn:
    stage: Stage
    count: int
    cards: list[Referral]

    @property
    def hidden(self) -> int:
        return self.count - len(self.cards)


def board_columns(filters: BoardFilters) -> list[BoardColumn]:
    """A column per open stage with its count and its longest-waiting cards.

    Queries: counts per stage (one aggregate), the ids of each column's first cards (one small
    query per open stage, read in order from the (stage, stage_changed_at, id) index, so a
    column costs the same with 100,000 leads as with 1,000), those cards with their
    failed-line counts: twelve in all.
    """
    leads = Referral.objects.filter(stage__in=OPEN_STAGES)
    if filters.coordinator_id:
        leads = leads.filter(assigned_to_id=filters.coordinator_id)
    if filters.condition_id:
        leads = leads.filter(patient__primary_condition_id=filters.condition_id)
    if filters.program_id:
        leads = leads.filter(target_program_id=filters.program_id)
    counts = dict(leads.values_list("stage").annotate(n=Count("id")).order_by())
    first_cards: list[int] = []
    for stage in OPEN_STAGES:
        column = leads.filter(stage=stage).order_by("stage_changed_at", "id")
        first_cards += column.values_list("pk", flat=True)[:BOARD_COLUMN_LIMIT]
    cards = (
        Referral.objects.filter(pk__in=first_cards)
        .select_related("patient__primary_condition", "assigned_to")
        .only(*BOARD_CARD)
        .with_failed_line_count()
        .order_by("stage_changed_at", "id")
    )
    by_stage: dict[str, list[Referral]] = {stage: [] for stage in OPEN_STAGES}
    for card in cards:
        by_stage[card.stage].append(card)
    return [
        BoardColumn(stage=stage, count=counts.get(stage, 0), cards=by_stage[stage])
        for stage in OPEN_STAGES
    ]


def board_filter_choices() -> dict[str, list]:
    return {
        "coordinators": list(coordinators()),
        "conditions": list(Condition.objects.only("id", "name")),
        "programs": list(Program.objects.select_related("hospital")),
    }


# --- lead page ---------------------------------------------------------------------------


def referral_for_lead_page(referral_id: int) -> Referral:
    """The lead with its patient, lines, target, tasks, screenings, documents and outcome.

    Raises Referral.DoesNotExist.
    """
    return (
        Referral.objects.select_related(
            "patient__primary_condition",
            "assigned_to",
            "target_program__hospital",
            "target_trial",
            "treatment_outcome",
        )
        .prefetch_related(
            "patient__other_conditions",
            Prefetch("possible_duplicates", queryset=Referral.objects.select_related("patient")),
            Prefetch(
                "patient__treatment_lines",
                queryset=PriorTreatmentLine.objects.prefetch_related("therapies").order_by(
                    "line_number"
                ),
            ),
            Prefetch(
                "tasks",
                queryset=Task.objects.select_related("assignee").order_by(
                    F("done_at").asc(nulls_first=True), "due_on"
                ),
            ),
            Prefetch(
                "screenings",
                queryset=ScreeningRecord.objects.select_related("recorded_by"),
            ),
            Prefetch("documents", queryset=LeadDocument.objects.select_related("uploaded_by")),
            "treatment_outcome__visits",
        )
        .get(pk=referral_id)
    )


def lead_timeline(referral: Referral) -> list[ReferralEvent]:
    return list(referral.events.select_related("author")[:TIMELINE_LIMIT])


def lead_has_eligible_screening(referral: Referral) -> bool:
    return referral.screenings.filter(verdict="eligible").exists()


def coordinators() -> QuerySet[User]:
    return User.objects.filter(is_active=True, groups__name="Coordinator").order_by(
        "first_name", "username"
    )


def lead_treatment_line(referral: Referral, line_id: int) -> PriorTreatmentLine | None:
    """One of the lead's patient's treatment lines, or None."""
    return PriorTreatmentLine.objects.filter(patient_id=referral.patient_id, pk=line_id).first()


def lead_task(referral: Referral, task_id: int) -> Task | None:
    return Task.objects.select_related("referral").filter(pk=task_id, referral=referral).first()


def lead_follow_up_visit(referral: Referral, visit_id: int) -> FollowUpVisit | None:
    return FollowUpVisit.objects.filter(pk=visit_id, outcome__referral=referral).first()


def lead_document(referral: Referral, document_id: int) -> LeadDocument | None:
    return LeadDocument.objects.filter(pk=document_id, referral=referral).first()


def screening_candidate(kind: str, candidate_id: int) -> Program | Trial | None:
    """The program or trial a coordinator picked on the lead page, if it still exists."""
    model = Program if kind == "program" else Trial
    return model.objects.filter(pk=candidate_id).first()


# --- intake ------------------------------------------------------------------------------


def _open_leads_of(coordinator: OuterRef, *conditions: Q) -> Subquery:
    """How many open leads (matching `conditions`) a coordinator carries, read from the
    queue's (assigned_to, stage, …) index alone: the work is the coordinator's open leads, not
    every lead, and no lead row is read (the count is of a column the index holds)."""
    leads = (
        Referral.objects.filter(*conditions, assigned_to=coordinator, stage__in=OPEN_STAGES)
        .order_by()
        .values("assigned_to")
        .annotate(n=Count("assigned_to"))
        .values("n")
    )
    return Coalesce(Subquery(leads, output_field=IntegerField()), 0)


_COORDINATOR_LOAD_KEY = "intake:coordinator-loads"


def _coordinator_loads() -> dict[int, int]:
    """Open leads per coordinator (active at the snapshot), by coordinator id.

    Counting every coordinator's open leads reads the index entries of all open leads (24,000
    at 100,000 leads): a third of a public submission's cost. So the counts are kept in the
    shared cache for COORDINATOR_LOAD_SECONDS, with the id of the newest lead they include,
    and each call adds the open leads created since (a few rows, read by primary key): new
    leads count at once; a lead closed or reassigned counts from the next snapshot on.
    0 takes a fresh snapshot for every call.
    """
    seconds = settings.COORDINATOR_LOAD_SECONDS
    store = caches["shared"]
    snapshot = store.get(_COORDINATOR_LOAD_KEY) if seconds else None
    if snapshot is None:
        newest = Referral.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        counts = coordinators().annotate(
            open_leads=_open_leads_of(OuterRef("pk"), Q(pk__lte=newest))
        )
        snapshot = {"newest": newest, "loads": dict(counts.values_list("pk", "open_leads"))}
        if seconds:
            store.set(_COORDINATOR_LOAD_KEY, snapshot, seconds)
    loads = snapshot["loads"]
    since = (
        Referral.objects.filter(pk__gt=snapshot["newest"], stage__in=OPEN_STAGES)
        .filter(assigned_to__in=list(loads))
        .order_by()
        .values_list("assigned_to")
        .annotate(n=Count("pk"))
    )
    for coordinator_id, n in since:
        loads[coordinator_id] += n
    return loads


def coordinator_with_fewest_open_leads() -> User | None:
    """The active coordinator carrying the fewest open leads (ties: the longest-standing)."""
    loads = _coordinator_loads()
    for coordinator_id in sorted(loads, key=lambda pk: (loads[pk], pk)):
        # Deactivated since the snapshot: the next one in line.
        chosen = coordinators().filter(pk=coordinator_id).first()
        if chosen is not None:
            return chosen
    return None


def coordinators_for_new_leads(count: int) -> list[User | None]:
    """A coordinator for each of `count` new leads (an import): each lead goes to the active
    coordinator with the fewest open leads, counting the leads given out before it, so the
    file is spread as `coordinator_with_fewest_open_leads` would spread them one by one."""
    loads = _coordinator_loads()
    active = {user.pk: user for user in coordinators().filter(pk__in=list(loads))}
    waiting = [(loads[pk], pk) for pk in active]
    heapq.heapify(waiting)
    chosen: list[User | None] = []
    for _ in range(count):
        if not waiting:
            chosen.append(None)
            continue
        load, pk = heapq.heappop(waiting)
        chosen.append(active[pk])
        heapq.heappush(waiting, (load + 1, pk))
    return chosen


def same_person_keys(
    *,
    phone: str,
    email: str,
    first_name: str,
    last_name: str,
    date_of_birth: datetime.date | None,
) -> frozenset[tuple]:
    """What makes two leads possibly the same person: the same phone, the same e-mail in any
    case, or the same name (any case) and date of birth: the one rule for the public form and
    the import, against CareCRM and within a file."""
    keys: set[tuple] = set()
    if phone:
        keys.add(("phone", phone))
    if email:
        keys.add(("email", email.lower()))
    if date_of_birth:
        keys.add(("born", date_of_birth, first_name.lower(), last_name.lower()))
    return frozenset(keys)


def possible_duplicates(
    *,
    phone: str,
    email: str,
    first_name: str,
    last_name: str,
    date_of_birth: datetime.date | None,
) -> list[int]:
    """Ids of the leads (not merged away) whose patient may be the same person
    (`same_person_keys`), newest first."""
    person = same_person_keys(
        phone=phone,
        email=email,
        first_name=first_name,
        last_name=last_name,
        date_of_birth=date_of_birth,
    )
    return possible_duplicates_of_many([person])[0]


def possible_duplicates_of_many(
    people: list[frozenset[tuple]], limit: int | None = None
) -> list[list[int]]:
    """For each person (their `same_person_keys`), the ids of the leads that may be theirs,
    newest first and at most `limit` of them: one query.

    The query reads candidates through indexes (phone; lower-cased e-mail; date of birth) as
    plain values, and the keys decide; so an intake costs the same against 100,000 patients as
    against 1,000, and an import's batch of 500 rows one query, not 500.
    """
    wanted = set().union(*people)
    if not wanted:
        return [[] for _ in people]
    phones = [key[1] for key in wanted if key[0] == "phone"]
    emails = [key[1] for key in wanted if key[0] == "email"]
    # Names are compared here, not in SQL: SQLite lower-cases ASCII letters only.
    births = [key[1] for key in wanted if key[0] == "born"]
    candidates = Patient.objects.annotate(email_lower=Lower("email")).filter(
        Q(phone__in=phones) | Q(email_lower__in=emails) | Q(date_of_birth__in=births)
    )
    leads = (
        Referral.objects.filter(patient__in=candidates.values("pk"), merged_into__isnull=True)
        .order_by("-created_at", "-pk")
        .values_list(
            "pk",
            "patient__phone",
            "patient__email",
            "patient__first_name",
            "patient__last_name",
            "patient__date_of_birth",
        )
    )
    order: dict[int, int] = {}  # lead id → its place, newest first
    leads_of_key: dict[tuple, list[int]] = {}
    for place, (pk, phone, email, first_name, last_name, born) in enumerate(leads):
        order[pk] = place
        for key in same_person_keys(
            phone=phone,
            email=email,
            first_name=first_name,
            last_name=last_name,
            date_of_birth=born,
        ):
            leads_of_key.setdefault(key, []).append(pk)
    found = []
    for person in people:
        matches = {pk for key in person for pk in leads_of_key.get(key, [])[:limit]}
        found.append(sorted(matches, key=order.__getitem__)[:limit])
    return found


# --- referral import ---------------------------------------------------------------------


def import_jobs_visible_to(user: AbstractBaseUser) -> QuerySet[ImportJob]:
    """A coordinator's own uploads; everyone's for those who may view all of them (admins)."""
    jobs = ImportJob.objects.defer("content").select_related("created_by")
    if user.has_perm("referrals.view_importjob"):
        return jobs
    return jobs.filter(created_by=user)


IMPORT_ROW_FILTERS = {
    "all": Q(),
    "problems": Q(has_problems=True),
    "flagged": ~Q(duplicate_of=""),
}


def import_job_rows(job: ImportJob, show: str) -> QuerySet[ImportJobRow]:
    """The preview's rows: those with problems first, then in file order."""
    return job.rows.filter(IMPORT_ROW_FILTERS[show]).order_by("-has_problems", "number")


# --- dashboard ---------------------------------------------------------------------------
# Every figure is an aggregate query; the page's query count does not grow with the leads.


@dataclass(frozen=True)
class Period:
    start: datetime.datetime
    end: datetime.datetime

    def of_created(self) -> Q:
        return Q(created_at__gte=self.start, created_at__lt=self.end)


def _overdue(today: datetime.date, prefix: str = "") -> Q:
    return ~Q(**{f"{prefix}stage": Stage.CLOSED}) & (
        Q(**{f"{prefix}next_action_due__lt": today})
        | Q(
            **{
                f"{prefix}stage": Stage.NEW,
                f"{prefix}created_at__lt": _contact_overdue_before(today),
            }
        )
    )


def dashboard_kpis(now: datetime.datetime) -> dict[str, int]:
    """Open leads, new this week, overdue, referred this month, treated to date: two queries.

    Each reads only the rows its figures are about (open or recent leads; referred and treated
    stage changes), through the stage, created_at and (kind, to_stage, created_at) indexes.
    """
    today = timezone.localdate(now)
    week_start = timezone.make_aware(
        datetime.datetime.combine(
            today - datetime.timedelta(days=(today.weekday() + 1) % 7), datetime.time.min
        )
    )
    month_start = timezone.make_aware(
        datetime.datetime.combine(today.replace(day=1), datetime.time.min)
    )
    is_open = Q(stage__in=OPEN_STAGES)
    leads = Referral.objects.filter(is_open | Q(created_at__gte=week_start)).aggregate(
        open_leads=Count("id", filter=is_open),
        new_this_week=Count("id", filter=Q(created_at__gte=week_start)),
        overdue=Count("id", filter=_overdue(today)),
    )
    milestones = ReferralEvent.objects.filter(
        kind=EventKind.STAGE_CHANGE, to_stage__in=[Stage.REFERRED, Stage.TREATED]
    ).aggregate(
        referred_this_month=Count(
            "referral",
            distinct=True,
            filter=Q(to_stage=Stage.REFERRED, created_at__gte=month_start),
        ),
        treated_to_date=Count("referral", distinct=True, filter=Q(to_stage=Stage.TREATED)),
    )
    return {
        **{name: value or 0 for name, value in leads.items()},
        **{name: value or 0 for name, value in milestones.items()},
    }


@dataclass(frozen=True)
class FunnelStep:
    stage: Stage
    reached: int
    conversion: float | None  # share of the previous step that got this far


def dashboard_funnel(period: Period) -> list[FunnelStep]:
    """Of the leads received in the period, how many ever reached each stage: two queries."""
    received = Referral.objects.filter(period.of_created()).count()
    reached = dict(
        ReferralEvent.objects.filter(
            kind=EventKind.STAGE_CHANGE,
            referral__created_at__gte=period.start,
            referral__created_at__lt=period.end,
        )
        .values_list("to_stage")
        .annotate(n=Count("referral", distinct=True))
        .order_by()
    )
    counts = [received] + [reached.get(stage, 0) for stage in OPEN_STAGES[1:]]
    return [
        FunnelStep(
            stage=stage,
            reached=count,
            conversion=None if index == 0 or not counts[index - 1] else count / counts[index - 1],
        )
        for index, (stage, count) in enumerate(zip(OPEN_STAGES, counts, strict=True))
    ]


# The moment each milestone was first reached, as a stage-change event.
MILESTONES = {
    "first contact": Q(to_stage=Stage.CONTACTED),
    "screening decision": Q(to_stage=Stage.ELIGIBLE)
    | Q(to_stage=Stage.CLOSED, from_stage=Stage.SCREENING),
    "referral": Q(to_stage=Stage.REFERRED),
    "hospital decision": Q(to_stage=Stage.ACCEPTED)
    | Q(to_stage=Stage.CLOSED, from_stage=Stage.REFERRED),
}


@dataclass(frozen=True)
class MilestoneTimes:
    milestone: str
    leads: int
    median: datetime.timedelta | None
    p90: datetime.timedelta | None


def _nearest_rank(ordered: list, fraction: float):
    if not ordered:
        return None
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def dashboard_milestone_times(period: Period) -> list[MilestoneTimes]:
    """Median and 90th-percentile time from lead to each milestone, nearest-rank: one query.

    The query returns, per lead received in the period, when it first reached each milestone
    (a conditional MIN over its stage changes); the waits are sorted here.
    """
    firsts = (
        ReferralEvent.objects.filter(
            kind=EventKind.STAGE_CHANGE,
            referral__created_at__gte=period.start,
            referral__created_at__lt=period.end,
        )
        .values("referral")
        .annotate(
            received=Min("referral__created_at"),
            **{
                f"first_{index}": Min("created_at", filter=condition)
                for index, condition in enumerate(MILESTONES.values())
            },
        )
        .order_by()
    )
    waits: list[list[datetime.timedelta]] = [[] for _ in MILESTONES]
    for row in firsts:
        for index, found in enumerate(waits):
            if row[f"first_{index}"] is not None:
                found.append(row[f"first_{index}"] - row["received"])
    result = []
    for name, found in zip(MILESTONES, waits, strict=True):
        found.sort()
        result.append(
            MilestoneTimes(name, len(found), _nearest_rank(found, 0.5), _nearest_rank(found, 0.9))
        )
    return result


def dashboard_screen_failures(period: Period) -> list[tuple[str, int]]:
    rows = (
        Referral.objects.filter(
            close_reason=CloseReason.SCREEN_FAILED,
            stage_changed_at__gte=period.start,
            stage_changed_at__lt=period.end,
        )
        .values_list("screen_failure_criterion")
        .annotate(n=Count("id"))
        .order_by("-n", "screen_failure_criterion")
    )
    labels = dict(ScreenFailureCriterion.choices)
    return [(labels.get(criterion, criterion), n) for criterion, n in rows]


def dashboard_leads_by(period: Period, field: str) -> list[tuple[str, int]]:
    """Leads received in the period grouped by `field` (a condition name or the source)."""
    rows = (
        Referral.objects.filter(period.of_created())
        .values_list(field)
        .annotate(n=Count("id"))
        .order_by("-n", field)
    )
    labels = dict(Source.choices)
    return [(labels.get(value, value) or "Not recorded", n) for value, n in rows]


def dashboard_program_capacity(now: datetime.datetime) -> list[Program]:
    """Each program with `referred_this_month`: leads referred to it since the 1st.

    Counted from this month's "referred" stage changes (an index range), not from every lead
    ever sent to the program.
    """
    month_start = timezone.make_aware(
        datetime.datetime.combine(timezone.localdate(now).replace(day=1), datetime.time.min)
    )
    referred = (
        ReferralEvent.objects.filter(
            kind=EventKind.STAGE_CHANGE,
            to_stage=Stage.REFERRED,
            created_at__gte=month_start,
            referral__target_program=OuterRef("pk"),
        )
        .order_by()
        .values("referral__target_program")
        .annotate(n=Count("referral", distinct=True))
        .values("n")
    )
    return list(
        Program.objects.select_related("hospital").annotate(
            referred_this_month=Coalesce(Subquery(referred, output_field=IntegerField()), 0)
        )
    )


def dashboard_workload(now: datetime.datetime) -> list[User]:
    """Each active coordinator with `open_leads` and `overdue_leads`."""
    today = timezone.localdate(now)
    return list(
        coordinators().annotate(
            open_leads=_open_leads_of(OuterRef("pk")),
            overdue_leads=_open_leads_of(OuterRef("pk"), _overdue(today)),
        )
    )


# --- the task worker ---------------------------------------------------------------------
# `manage.py db_worker` looks for tasks every second; a task older than this, while no task has
# finished for as long, means nobody takes them: e-mails wait and the figures go stale.
TASK_WORKER_STALLED_AFTER = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class TaskQueue:
    now: datetime.datetime
    waiting: int
    oldest_enqueued_at: datetime.datetime | None
    last_finished_at: datetime.datetime | None

    @property
    def worker_stalled(self) -> bool:
        limit = self.now - TASK_WORKER_STALLED_AFTER
        return (
            self.oldest_enqueued_at is not None
            and self.oldest_enqueued_at < limit
            and (self.last_finished_at is None or self.last_finished_at < limit)
        )


def task_queue(now: datetime.datetime) -> TaskQueue:
    """The tasks waiting for the worker and when it last finished one, as django-tasks-db
    records them: two indexed queries (its partial index of ready tasks, and the index on
    `finished_at` added by migration referrals 0023), read on every view, never cached."""
    waiting = DBTaskResult.objects.ready().aggregate(count=Count("*"), oldest=Min("enqueued_at"))
    return TaskQueue(
        now=now,
        waiting=waiting["count"],
        oldest_enqueued_at=waiting["oldest"],
        last_finished_at=DBTaskResult.objects.aggregate(last=Max("finished_at"))["last"],
    )


# --- privacy -----------------------------------------------------------------------------


def _plain(instance, fields: list[str]) -> dict:
    values = {}
    for name in fields:
        value = getattr(instance, name)
        values[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return values


def patient_data_export(patient_id: int) -> dict:
    """Everything CareCRM holds about one patient, as plain JSON-ready data (GDPR art. 15)."""
    patient = (
        Patient.objects.select_related("primary_condition")
        .prefetch_related(
            "other_conditions",
            Prefetch(
                "treatment_lines", queryset=PriorTreatmentLine.objects.prefetch_related("therapies")
            ),
            Prefetch(
                "referrals",
                queryset=Referral.objects.select_related(
                    "assigned_to", "target_program__hospital", "target_trial", "treatment_outcome"
                ).prefetch_related(
                    Prefetch("events", queryset=ReferralEvent.objects.select_related("author")),
                    "screenings",
                    "tasks",
                    "documents",
                    "treatment_outcome__visits",
                    "snapshots",
                ),
            ),
        )
        .get(pk=patient_id)
    )
    return {
        "patient": {
            **_plain(
                patient,
                [
                    "id",
                    "first_name",
                    "last_name",
                    "date_of_birth",
                    "stated_age",
                    "sex",
                    "phone",
                    "email",
                    "city",
                    "preferred_language",
                    "condition_other",
                    "diagnosis_year",
                    "sledai_2k",
                    "mrss",
                    "mg_adl",
                    "exclusions",
                    "notes",
                    "created_at",
                    "erased_at",
                ],
            ),
            "das28": str(patient.das28) if patient.das28 is not None else None,
            "primary_condition": str(patient.primary_condition or "") or None,
            "other_conditions": [str(c) for c in patient.other_conditions.all()],
        },
        "treatment_lines": [
            {
                **_plain(
                    line,
                    [
                        "line_number",
                        "start_date",
                        "end_date",
                        "best_response",
                        "reason_stopped",
                        "notes",
                    ],
                ),
                "therapies": [t.name for t in line.therapies.all()],
            }
            for line in patient.treatment_lines.all()
        ],
        "referrals": [
            {
                **_plain(
                    referral,
                    [
                        "id",
                        "source",
                        "stage",
                        "close_reason",
                        "close_detail",
                        "screen_failure_criterion",
                        "referring_physician_name",
                        "referring_physician_contact",
                        "submitter_role",
                        "submitter_name",
                        "contact_channel",
                        "intake_message",
                        "consent_version",
                        "consent_text",
                        "consented_at",
                        "scheduled_for",
                        "created_at",
                        "referred_at",
                        "receipt_confirmed_at",
                        "hospital_decision_at",
                        "hospital_decline_reason",
                        "consult_date",
                        "apheresis_date",
                    ],
                ),
                "coordinator": str(referral.assigned_to or "") or None,
                "target": str(referral.target_program or referral.target_trial or "") or None,
                "timeline": [
                    {
                        **_plain(e, ["created_at", "kind", "from_stage", "to_stage", "body"]),
                        "author": str(e.author or ""),
                    }
                    for e in referral.events.all()
                ],
                "screenings": [
                    _plain(s, ["recorded_at", "candidate_name", "verdict", "criteria"])
                    for s in referral.screenings.all()
                ],
                "tasks": [_plain(t, ["title", "due_on", "done_at"]) for t in referral.tasks.all()],
                # What was received and when; the files themselves are downloaded from the lead.
                "documents": [
                    _plain(d, ["uploaded_at", "kind", "original_filename", "content_type", "size"])
                    for d in referral.documents.all()
                ],
                "treatment_outcome": _outcome_export(referral),
                # What each hospital was sent, as it was sent.
                "sent_to_hospital": [
                    {**_plain(snapshot, ["taken_at"]), "packet": snapshot.data}
                    for snapshot in referral.snapshots.all()
                ],
            }
            for referral in patient.referrals.all()
        ],
    }


def _outcome_export(referral: Referral) -> dict | None:
    outcome = getattr(referral, "treatment_outcome", None)
    if outcome is None:
        return None
    return {
        **_plain(
            outcome,
            [
                "infusion_date",
                "product",
                "crs_grade",
                "icans_grade",
                "infections",
                "relapse",
                "relapse_date",
            ],
        ),
        "follow_up_visits": [
            {
                **_plain(
                    visit,
                    ["month", "due_on", "done_on", "sledai_2k", "mrss", "mg_adl"],
                ),
                "das28": str(visit.das28) if visit.das28 is not None else None,
                **_plain(visit, ["drug_free_remission", "notes"]),
            }
            for visit in outcome.visits.all()
        ],
    }


def closed_leads_past_retention(cutoff: datetime.datetime) -> QuerySet[Patient]:
    """Patients not yet erased whose every lead is closed and was closed before `cutoff`."""
    return (
        Patient.objects.filter(erased_at__isnull=True, referrals__isnull=False)
        .exclude(referrals__stage__in=OPEN_STAGES)
        .exclude(referrals__stage_changed_at__gte=cutoff)
        .distinct()
    )


# --- the hospital side -------------------------------------------------------------------
# Which referrals a liaison may see is decided in `referrals.access`.

HOSPITAL_PAGE_SIZE = 50


def referral_snapshot_data(referral: Referral) -> dict:
    """What the hospital is sent: the patient, lines, failed-line count and the latest
    eligibility check for the target, as plain JSON (the `ReferralSnapshot`)."""
    patient = patient_for_eligibility(referral.patient_id)
    lines = sorted(patient.treatment_lines.all(), key=lambda line: line.line_number)
    program, trial = referral.target_program, referral.target_trial
    checks = ScreeningRecord.objects.filter(referral=referral).select_related("recorded_by")
    check = (checks.filter(program=program) if program else checks.filter(trial=trial)).first()
    coordinator = referral.assigned_to
    iso = _plain
    return {
        "referral": {
            "id": referral.pk,
            "received": referral.created_at.isoformat(),
            "source": referral.get_source_display(),
            "referring_physician": referral.referring_physician_name,
        },
        "target": {
            "kind": "program" if program else "trial",
            "name": str(program or trial or ""),
            "hospital": program.hospital.name if program else "",
        },
        "coordinator": {
            "name": (coordinator.get_full_name() or coordinator.get_username())
            if coordinator
            else "",
            "email": coordinator.email if coordinator else "",
        },
        "patient": {
            "name": str(patient),
            **iso(patient, ["first_name", "last_name", "date_of_birth", "phone", "email"]),
            "age": patient.age,
            "sex": patient.get_sex_display(),
            "city": patient.city,
            "preferred_language": patient.get_preferred_language_display(),
            "primary_condition": str(patient.primary_condition or ""),
            "condition_other": patient.condition_other,
            "other_conditions": [
                str(c) for c in patient.other_conditions.all() if c != patient.primary_condition
            ],
            "diagnosis_year": patient.diagnosis_year,
            "sledai_2k": patient.sledai_2k,
            "das28": str(patient.das28) if patient.das28 is not None else None,
            "mrss": patient.mrss,
            "mg_adl": patient.mg_adl,
            "exclusions": patient.exclusion_list,
        },
        "failed_line_count": patient.failed_line_count,
        "treatment_lines": [
            {
                **iso(line, ["line_number", "start_date", "end_date", "notes"]),
                "regimen": [therapy.name for therapy in line.therapies.all()],
                "best_response": line.get_best_response_display(),
                "reason_stopped": line.get_reason_stopped_display(),
                "counts_as_failed": line.counts_as_failed,
            }
            for line in lines
        ],
        "eligibility": {
            "candidate_name": check.candidate_name,
            "verdict": check.verdict,
            "verdict_label": check.get_verdict_display(),
            "criteria": check.criteria,
            "recorded_at": check.recorded_at.isoformat(),
            "recorded_by": str(check.recorded_by or ""),
        }
        if check
        else None,
        "documents": [
            {"kind": document.get_kind_display(), "filename": document.original_filename}
            for document in referral.documents.all()
        ],
    }


def sent_snapshot(referral: Referral) -> ReferralSnapshot | None:
    """The snapshot sent to the lead's current target, from `referral.sent_snapshots`."""
    return next(
        (s for s in referral.sent_snapshots if s.program_id == referral.target_program_id), None
    )


SENT_SNAPSHOTS = Prefetch(
    "snapshots",
    queryset=ReferralSnapshot.objects.order_by("-taken_at", "-id"),
    to_attr="sent_snapshots",
)


@dataclass(frozen=True)
class HospitalFilters:
    search: str = ""
    show: str = "open"  # open, closed or all


def liaison_referrals(
    user: AbstractBaseUser, filters: HospitalFilters, page: int = 1
) -> list[Referral]:
    """The liaison's referrals: awaiting a decision first (longest waiting first), then the
    rest by referral date. Two queries: the page of referrals and their snapshots."""
    leads = referrals_visible_to(user).select_related("target_program__hospital", "assigned_to")
    if filters.show == "open":
        leads = leads.filter(stage__in=HOSPITAL_OPEN_STAGES)
    elif filters.show == "closed":
        leads = leads.exclude(stage__in=HOSPITAL_OPEN_STAGES)
    search = filters.search.strip().lstrip("#")
    if search.isdecimal():
        leads = leads.filter(pk=int(search))
    elif search:
        leads = leads.matching(search)
    awaiting = Case(
        When(stage=Stage.REFERRED, hospital_decision_at__isnull=True, then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    )
    offset = (page - 1) * HOSPITAL_PAGE_SIZE
    ordered = leads.annotate(awaiting=awaiting).order_by(
        "awaiting",
        Case(When(awaiting=0, then=F("referred_at"))).asc(nulls_last=True),
        F("referred_at").desc(),
        "-id",
    )
    return list(ordered.prefetch_related(SENT_SNAPSHOTS)[offset : offset + HOSPITAL_PAGE_SIZE + 1])


HOSPITAL_EVENT_KINDS = (
    EventKind.STAGE_CHANGE,
    EventKind.RECEIPT_CONFIRMED,
    EventKind.DOCUMENTS_REQUESTED,
    EventKind.HOSPITAL_DATES,
    EventKind.DOCUMENT_RECEIVED,
)


def referral_for_liaison_page(referral: Referral) -> Referral:
    """The referral (already scoped) with its snapshots, documents and the hospital timeline:
    what happened since it was sent, without the coordinator's own notes and calls."""
    referral = (
        Referral.objects.select_related("target_program__hospital", "assigned_to")
        .prefetch_related(
            SENT_SNAPSHOTS,
            Prefetch("documents", queryset=LeadDocument.objects.order_by("-uploaded_at", "-id")),
        )
        .get(pk=referral.pk)
    )
    referral.hospital_timeline = list(
        referral.events.filter(kind__in=HOSPITAL_EVENT_KINDS, created_at__gte=referral.referred_at)
        .select_related("author")
        .order_by("-created_at", "-id")[:TIMELINE_LIMIT]
    )
    return referral


def hospital_open_counts(user: AbstractBaseUser) -> dict[str, int]:
    """The liaison's open referrals by what they wait for: one query."""
    return referrals_visible_to(user).aggregate(
        awaiting_receipt=Count(
            "id", filter=Q(stage=Stage.REFERRED, receipt_confirmed_at__isnull=True)
        ),
        awaiting_decision=Count(
            "id", filter=Q(stage=Stage.REFERRED, hospital_decision_at__isnull=True)
        ),
        accepted=Count("id", filter=Q(stage=Stage.ACCEPTED)),
        scheduled=Count("id", filter=Q(stage=Stage.SCHEDULED)),
    )


# The hospital's milestones, each as days after the referral: receipt confirmed, decision
# (accepted or declined), consult (once its date has passed), infusion (treated leads only).
HOSPITAL_MILESTONES = ("receipt confirmed", "hospital decision", "consult", "infusion")


@dataclass
class HospitalSideRow:
    hospital: str
    program: str  # "" for the hospital's total row
    referred: int
    treated: int
    median_days: list[int | None]

    @property
    def treated_share(self) -> float | None:
        return self.treated / self.referred if self.referred else None


def _days_after_referral(today: datetime.date) -> list:
    referred_on = TruncDate("referred_at")
    treated = Exists(
        ReferralEvent.objects.filter(
            referral=OuterRef("pk"), kind=EventKind.STAGE_CHANGE, to_stage=Stage.TREATED
        )
    )

    def days(end, condition: Q | None = None):
        wait = ExpressionWrapper(end - referred_on, output_field=DurationField())
        if condition is None:
            return wait
        return Case(When(condition, then=wait), output_field=DurationField())

    return [
        days(TruncDate("receipt_confirmed_at")),
        days(TruncDate("hospital_decision_at")),
        days(F("consult_date"), Q(consult_date__lte=today)),
        days(F("scheduled_for"), Q(treated)),
    ]


def _hospital_side_leads(period: Period, hospital_id: int | None) -> QuerySet[Referral]:
    leads = Referral.objects.filter(
        target_program__isnull=False,
        referred_at__gte=period.start,
        referred_at__lt=period.end,
    )
    if hospital_id is not None:
        leads = leads.filter(target_program__hospital_id=hospital_id)
    return leads


def _group_medians(leads: QuerySet[Referral], group: str, today: datetime.date) -> dict:
    """{group id: [median days per milestone]}, nearest-rank, in one windowed query.

    Each milestone's waits are numbered within the group (nulls last) and counted; the rows
    holding a median (row number = ceil(count / 2)) are the only ones returned.
    """
    waits = _days_after_referral(today)
    annotated = leads.annotate(
        **{f"wait_{i}": wait for i, wait in enumerate(waits)},
    )
    windows = {}
    for i in range(len(waits)):
        windows[f"rank_{i}"] = Window(
            RowNumber(),
            partition_by=[F(group)],
            order_by=[F(f"wait_{i}").asc(nulls_last=True), F("id").asc()],
        )
        windows[f"count_{i}"] = Window(Count(f"wait_{i}"), partition_by=[F(group)])
    annotated = annotated.annotate(**windows)
    is_median = Q()
    for i in range(len(waits)):
        is_median |= Q(**{f"rank_{i}": (F(f"count_{i}") + 1) / 2})
    rows = annotated.filter(is_median).values(
        group,
        *(f"wait_{i}" for i in range(len(waits))),
        *(f"rank_{i}" for i in range(len(waits))),
        *(f"count_{i}" for i in range(len(waits))),
    )
    medians: dict = {}
    for row in rows:
        found = medians.setdefault(row[group], [None] * len(waits))
        for i in range(len(waits)):
            if row[f"count_{i}"] and row[f"rank_{i}"] == (row[f"count_{i}"] + 1) // 2:
                found[i] = row[f"wait_{i}"].days
    return medians


def dashboard_hospital_side(
    period: Period, today: datetime.date, hospital_id: int | None = None
) -> list[HospitalSideRow]:
    """Per hospital (a total row) and program: leads referred in the period, how many were
    treated, and the median days from referral to each hospital milestone. Three queries."""
    leads = _hospital_side_leads(period, hospital_id)
    treated = Exists(
        ReferralEvent.objects.filter(
            referral=OuterRef("pk"), kind=EventKind.STAGE_CHANGE, to_stage=Stage.TREATED
        )
    )
    counts = (
        leads.values(
            "target_program_id",
            "target_program__name",
            "target_program__hospital_id",
            "target_program__hospital__name",
        )
        .annotate(referred=Count("id"), treated=Count("id", filter=Q(treated)))
        .order_by("target_program__hospital__name", "target_program__name")
    )
    by_program = _group_medians(leads, "target_program_id", today)
    by_hospital = _group_medians(leads, "target_program__hospital_id", today)
    rows: list[HospitalSideRow] = []
    totals: dict[int, HospitalSideRow] = {}
    for count in counts:
        hospital_id_ = count["target_program__hospital_id"]
        total = totals.get(hospital_id_)
        if total is None:
            total = totals[hospital_id_] = HospitalSideRow(
                hospital=count["target_program__hospital__name"],
                program="",
                referred=0,
                treated=0,
                median_days=by_hospital.get(hospital_id_, [None] * len(HOSPITAL_MILESTONES)),
            )
            rows.append(total)
        total.referred += count["referred"]
        total.treated += count["treated"]
        rows.append(
            HospitalSideRow(
                hospital=count["target_program__hospital__name"],
                program=count["target_program__name"],
                referred=count["referred"],
                treated=count["treated"],
                median_days=by_program.get(
                    count["target_program_id"], [None] * len(HOSPITAL_MILESTONES)
                ),
            )
        )
    return rows


# --- hand-off: the referral packet and the FHIR export -----------------------------------


@dataclass
class ReferralPacket:
    """Everything the referral letter says, read in a fixed number of queries."""

    referral: Referral
    patient: Patient
    lines: list[PriorTreatmentLine]
    failed_line_count: int
    target: Program | Trial | None
    evaluation: Evaluation | None  # the target, evaluated now with the same engine
    recorded_check: ScreeningRecord | None  # the latest check of the target in the log
    required: list  # packet.RequiredDocument
    other_documents: list[LeadDocument]
    today: datetime.date


def referral_for_handoff(referral_id: int) -> Referral:
    """The lead with what a packet or a FHIR bundle needs; raises Referral.DoesNotExist."""
    return (
        Referral.objects.select_related(
            "patient__primary_condition",
            "assigned_to",
            "target_program__hospital",
            "target_trial",
            "treatment_outcome",
        )
        .prefetch_related(
            "patient__other_conditions",
            Prefetch(
                "patient__treatment_lines",
                queryset=PriorTreatmentLine.objects.prefetch_related("therapies").order_by(
                    "line_number"
                ),
            ),
            Prefetch("screenings", queryset=ScreeningRecord.objects.select_related("recorded_by")),
            Prefetch("documents", queryset=LeadDocument.objects.order_by("uploaded_at", "id")),
            Prefetch(
                "target_trial__sites",
                queryset=TrialSite.objects.select_related("hospital").order_by("id"),
            ),
        )
        .get(pk=referral_id)
    )


def referral_packet(referral_id: int) -> ReferralPacket:
    from referrals import packet  # the module renders templates; selectors stay import-light

    referral = referral_for_handoff(referral_id)
    patient = referral.patient
    target = referral.target_program or referral.target_trial
    evaluation = recorded = None
    if target is not None:
        kind = "program" if referral.target_program_id else "trial"
        evaluation = next(
            (
                e
                for e in patient_evaluations(patient)
                if e.candidate.kind == kind and e.candidate.id == target.pk
            ),
            None,
        )
        recorded = next(
            (
                s
                for s in referral.screenings.all()
                if (s.program_id if kind == "program" else s.trial_id) == target.pk
            ),
            None,
        )
    names = referral.target_program.required_document_list if referral.target_program else []
    required, others = packet.required_documents(names, list(referral.documents.all()))
    return ReferralPacket(
        referral=referral,
        patient=patient,
        lines=list(patient.treatment_lines.all()),
        failed_line_count=patient.failed_line_count,
        target=target,
        evaluation=evaluation,
        recorded_check=recorded,
        required=required,
        other_documents=others,
        today=timezone.localdate(),
    )


# --- outcomes after CAR-T ----------------------------------------------------------------


@dataclass(frozen=True)
class OutcomeFigures:
    patients_treated: int  # patients with an infusion recorded
    infusions: int
    crs_assessed: int  # infusions with a CRS grade recorded
    crs_grade_2_plus: int
    six_month_assessed: int  # 6-month visits done with remission assessed
    six_month_remission: int  # of those, in drug-free remission

    @property
    def crs_grade_2_plus_rate(self) -> float | None:
        return self.crs_grade_2_plus / self.crs_assessed if self.crs_assessed else None

    @property
    def six_month_remission_rate(self) -> float | None:
        return (
            self.six_month_remission / self.six_month_assessed if self.six_month_assessed else None
        )


def dashboard_outcomes() -> OutcomeFigures:
    """Patients treated, drug-free remission at the 6-month visit, CRS ≥ grade 2: one query.

    Every infusion recorded to date counts. Outcome rows are joined to their visits, so the
    per-infusion counts are distinct; a 6-month visit counts once it is done and remission was
    assessed (yes or no).
    """
    six_months = Q(
        visits__month=6, visits__done_on__isnull=False, visits__drug_free_remission__isnull=False
    )
    figures = TreatmentOutcome.objects.aggregate(
        patients_treated=Count("referral__patient", distinct=True),
        infusions=Count("id", distinct=True),
        crs_assessed=Count("id", distinct=True, filter=Q(crs_grade__isnull=False)),
        crs_grade_2_plus=Count("id", distinct=True, filter=Q(crs_grade__gte=2)),
        six_month_assessed=Count("visits", filter=six_months),
        six_month_remission=Count(
            "visits", filter=six_months & Q(visits__drug_free_remission=True)
        ),
    )
    return OutcomeFigures(**figures)
