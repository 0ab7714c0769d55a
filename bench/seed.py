"""Seed a benchmark database with N leads, fast: everything is built in memory and bulk-inserted.

Run inside a configured Django process (bench/run.py does it) on a freshly migrated database
that holds the reference data and no patients. Rows get explicit primary keys so timelines,
lines and tasks can be built without reading anything back; PostgreSQL's sequences are reset
afterwards. Nothing goes through model saves or signals, so django-simple-history writes no
history rows (as with `bulk_create`).

Rows are written in batches of raw inserts (see `Table`) rather than `bulk_create`, whose
per-value preparation made 100,000 leads take two minutes.

The mix, per lead: ~4 prior treatment lines (2–6, one or two therapies each), ~10 timeline
events (6–14: created, assignment, every stage change along the lead's path, notes, calls and
e-mails), an open task for a fifth of the open leads, a screening record for every lead that
got past screening. Leads are spread over three years; the stage depends on the lead's age
(recent leads are early in the pipeline, old ones mostly closed or in follow-up), and every
model constraint holds: closed ⇔ close reason, screen failure ⇒ criterion, line numbers unique
per patient, a line ends after it starts, no event in the future.
"""

import datetime
import itertools
import json
import random
import time

from django.contrib.auth.models import Group, User
from django.core.management.color import no_style
from django.db import connection, transaction
from django.db.models import DateField, DateTimeField, JSONField
from django.utils import timezone

from referrals.models import (
    Patient,
    PriorTreatmentLine,
    Referral,
    ReferralEvent,
    ScreeningRecord,
    Task,
)
from referrals.vocabulary import (
    OPEN_STAGES,
    BestResponse,
    CloseReason,
    ContactChannel,
    EventKind,
    Language,
    Priority,
    ReasonStopped,
    ScreenFailureCriterion,
    Sex,
    Source,
    Stage,
)
from trials.models import Condition, Program, Therapy, Trial

COORDINATORS = 20
HISTORY_DAYS = 3 * 365
BATCH = 5000  # leads per write
EMAIL_DOMAIN = "bench.carecrm.example"
COORDINATOR_NAME = "bench-coordinator-{:02d}"
ADMIN_NAME = "bench-admin"

FIRST_NAMES = [
    "Noa", "Tamar", "Maya", "Yael", "Olga", "Svetlana", "Leila", "Rana", "Miriam", "Avi",
    "Yosef", "Daniel", "Igor", "Dmitri", "Omar", "Samir", "Eitan", "David", "Shira", "Nadia",
]  # fmt: skip
LAST_NAMES = [
    "Cohen", "Levi", "Mizrahi", "Peretz", "Biton", "Friedman", "Ivanova", "Petrov", "Haddad",
    "Khoury", "Nasser", "Azoulay", "Katz", "Shapiro", "Dahan", "Abramov", "Ben-David", "Amar",
    "Vaknin", "Ohana", "Golan", "Segal", "Weiss", "Rosen", "Kaplan", "Mansour", "Saleh",
    "Volkov", "Smirnov", "Gabay", "Malka", "Hadad",
]  # fmt: skip
CITIES = ["Tel Aviv", "Jerusalem", "Haifa", "Beersheba", "Netanya", "Nazareth", "Ashdod"]
CONDITION_WEIGHTS = {
    "sle": 30,
    "lupus-nephritis": 20,
    "rheumatoid-arthritis": 12,
    "systemic-sclerosis": 12,
    "dermatomyositis": 6,
    "antisynthetase-syndrome": 4,
    "anca-associated-vasculitis": 5,
    "sjogrens-disease": 4,
    "myasthenia-gravis": 7,
}
STOP_REASONS = [
    ReasonStopped.INADEQUATE_RESPONSE,
    ReasonStopped.INADEQUATE_RESPONSE,
    ReasonStopped.LOSS_OF_RESPONSE,
    ReasonStopped.INTOLERANCE,
    ReasonStopped.ADVERSE_EVENT,
    ReasonStopped.PATIENT_CHOICE,
    ReasonStopped.REMISSION,
]
# Where a lead stands, by how long ago it arrived: (age limit in days, stage weights).
STAGE_MIX = [
    (7, {Stage.NEW: 50, Stage.CONTACTED: 30, Stage.RECORDS_REQUESTED: 10, Stage.CLOSED: 5}),
    (
        60,
        {
            Stage.NEW: 3,
            Stage.CONTACTED: 15,
            Stage.RECORDS_REQUESTED: 20,
            Stage.SCREENING: 25,
            Stage.ELIGIBLE: 10,
            Stage.REFERRED: 7,
            Stage.CLOSED: 20,
        },
    ),
    (
        180,
        {
            Stage.CONTACTED: 2,
            Stage.RECORDS_REQUESTED: 3,
            Stage.SCREENING: 5,
            Stage.ELIGIBLE: 5,
            Stage.REFERRED: 8,
            Stage.ACCEPTED: 6,
            Stage.SCHEDULED: 6,
            Stage.TREATED: 5,
            Stage.CLOSED: 60,
        },
    ),
    (
        HISTORY_DAYS + 1,
        {
            Stage.RECORDS_REQUESTED: 1,
            Stage.SCREENING: 1,
            Stage.REFERRED: 1,
            Stage.SCHEDULED: 1,
            Stage.TREATED: 4,
            Stage.FOLLOW_UP: 10,
            Stage.CLOSED: 82,
        },
    ),
]
# The last open stage of a closed lead, and the close reasons that fit it.
CLOSED_FROM = {
    Stage.NEW: [CloseReason.NOT_REACHABLE, CloseReason.DUPLICATE, CloseReason.OTHER],
    Stage.CONTACTED: [CloseReason.DECLINED_BY_PATIENT, CloseReason.NOT_REACHABLE],
    Stage.RECORDS_REQUESTED: [CloseReason.NOT_REACHABLE, CloseReason.DECLINED_BY_PATIENT],
    Stage.SCREENING: [CloseReason.SCREEN_FAILED, CloseReason.SCREEN_FAILED, CloseReason.DECEASED],
    Stage.ELIGIBLE: [CloseReason.DECLINED_BY_PATIENT],
    Stage.REFERRED: [CloseReason.DECLINED_BY_HOSPITAL],
}
CLOSED_FROM_WEIGHTS = [10, 15, 20, 35, 8, 12]
NOTE_KINDS = [EventKind.NOTE, EventKind.CALL, EventKind.CALL, EventKind.EMAIL]
NOTE_BODIES = [
    "Spoke with the patient; records to follow.",
    "Left a voicemail.",
    "Sent the records request to the treating rheumatologist.",
    "Patient asked about travel to the centre.",
    "Discussed the program's requirements.",
]
CRITERIA = [
    {"name": "Condition", "result": "pass", "detail": "Systemic lupus erythematosus"},
    {"name": "Age", "result": "pass", "detail": "Age 41 (18–70)"},
    {"name": "Failed lines", "result": "pass", "detail": "3 failed lines (≥ 2)"},
    {"name": "Open", "result": "pass", "detail": "Accepting referrals"},
]


def bench_users() -> tuple[list[User], User]:
    """Twenty coordinators and an admin, created if missing (no usable passwords)."""
    coordinator_group = Group.objects.get(name="Coordinator")
    coordinators = []
    for number in range(1, COORDINATORS + 1):
        user, created = User.objects.get_or_create(
            username=COORDINATOR_NAME.format(number),
            defaults={"is_staff": True, "first_name": "Coordinator", "last_name": f"{number:02d}"},
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        user.groups.add(coordinator_group)
        coordinators.append(user)
    admin, created = User.objects.get_or_create(
        username=ADMIN_NAME, defaults={"is_staff": True, "is_superuser": True}
    )
    if created:
        admin.set_unusable_password()
        admin.save(update_fields=["password"])
    admin.groups.add(Group.objects.get(name="Admin"))
    return coordinators, admin


class _Ids:
    def __init__(self) -> None:
        self.counters: dict[str, itertools.count] = {}

    def next(self, name: str) -> int:
        return next(self.counters.setdefault(name, itertools.count(1)))


def _sqlite_datetime(value: datetime.datetime) -> str:
    # What Django's SQLite adapter stores (the UTC time, naive, as str() writes it), without its
    # per-value settings lookups and timezone checks: a tenth of the seed's time.
    return str(value.astimezone(datetime.UTC).replace(tzinfo=None))


class Table:
    """Rows of one model, written in batches straight to the database.

    `bulk_create` spent nine tenths of the seed preparing each value of each model instance;
    here a row is a dict of attribute values, every other column gets the field's default, the
    few types the driver does not take as they are (SQLite: datetimes, dates, JSON) are
    converted once per value, and the batch goes in with one `executemany` (SQLite) or `COPY`
    (PostgreSQL). The database still checks every constraint.
    """

    def __init__(self, model) -> None:
        self.model = model
        # A generated column (the referral's hospital side) is the database's to write.
        self.fields = [field for field in model._meta.concrete_fields if not field.generated]
        self.rows: list[dict] = []
        self.written = 0
        self.defaults = {}
        for field in self.fields:
            if field.has_default():
                self.defaults[field.attname] = field.get_default()
            elif field.null:
                self.defaults[field.attname] = None
            elif field.blank and not field.is_relation:
                self.defaults[field.attname] = ""
        self.converters = [self._converter(field) for field in self.fields]

    @staticmethod
    def _converter(field):
        if connection.vendor == "postgresql":
            return json.dumps if isinstance(field, JSONField) else None
        if isinstance(field, DateTimeField):
            return _sqlite_datetime
        if isinstance(field, DateField):
            return connection.ops.adapt_datefield_value
        if isinstance(field, JSONField):
            return json.dumps
        return None

    def add(self, **values) -> None:
        self.rows.append(values)

    def flush(self) -> None:
        if not self.rows:
            return
        names = [field.attname for field in self.fields]
        defaults = self.defaults
        converters = list(zip(names, self.converters, strict=True))
        tuples = [
            tuple(
                (convert(value) if convert and value is not None else value)
                for name, convert in converters
                for value in (row[name] if name in row else defaults[name],)
            )
            for row in self.rows
        ]
        table = connection.ops.quote_name(self.model._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(f.column) for f in self.fields)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in tuples:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(self.fields))
                cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuples)
        self.written += len(self.rows)
        self.rows = []


def _pick_stage(rng: random.Random, age_days: float) -> Stage:
    for limit, weights in STAGE_MIX:
        if age_days < limit:
            return rng.choices(list(weights), weights=list(weights.values()))[0]
    raise AssertionError("unreachable")


def _path(rng: random.Random, stage: Stage) -> tuple[list[Stage], str]:
    """The stages passed through to reach `stage`, and the close reason if it is closed."""
    if stage != Stage.CLOSED:
        return list(OPEN_STAGES[: OPEN_STAGES.index(stage) + 1]), ""
    last_open = rng.choices(list(CLOSED_FROM), weights=CLOSED_FROM_WEIGHTS)[0]
    path = [*OPEN_STAGES[: OPEN_STAGES.index(last_open) + 1], Stage.CLOSED]
    return path, rng.choice(CLOSED_FROM[last_open])


LANGUAGES = list(Language.values)
SOURCES = list(Source.values)
CHANNELS = list(ContactChannel.values)
PRIORITIES = list(Priority.values)
CRITERIA_FAILED = list(ScreenFailureCriterion.values)
RESPONSES = list(BestResponse.values)
SEXES = [Sex.FEMALE.value, Sex.FEMALE.value, Sex.FEMALE.value, Sex.MALE.value]


class Seeder:
    def __init__(self, size: int, seed: int = 20261127) -> None:
        self.size = size
        self.rng = random.Random(seed)
        self.ids = _Ids()
        self.now = timezone.now()
        self.today = timezone.localdate(self.now)
        self.coordinators, self.admin = bench_users()
        self.coordinator_names = {u.pk: u.get_full_name() for u in self.coordinators}
        conditions = {c.slug: c.pk for c in Condition.objects.filter(slug__in=CONDITION_WEIGHTS)}
        self.condition_ids = [conditions.get(slug) for slug in CONDITION_WEIGHTS]
        self.condition_weights = list(CONDITION_WEIGHTS.values())
        self.therapy_ids = list(Therapy.objects.values_list("pk", flat=True))
        self.program_ids = list(Program.objects.values_list("pk", flat=True))
        self.trial_ids = list(Trial.objects.values_list("pk", flat=True))
        # In the order they are written: every foreign key points at rows written before.
        self.tables = {
            model: Table(model)
            for model in (
                Patient,
                PriorTreatmentLine,
                PriorTreatmentLine.therapies.through,
                Referral,
                ReferralEvent,
                Task,
                ScreeningRecord,
            )
        }

    def run(self) -> dict[str, int]:
        if Patient.objects.exists():
            raise SystemExit("The benchmark database already holds patients; seed a fresh one.")
        with transaction.atomic():
            for number in range(1, self.size + 1):
                self._lead(number)
                if number % BATCH == 0 or number == self.size:
                    for table in self.tables.values():
                        table.flush()
        self._reset_sequences()
        return {model._meta.label: table.written for model, table in self.tables.items()}

    def _lead(self, number: int) -> None:
        rng, now, add = self.rng, self.now, self.tables
        age_days = rng.uniform(0, HISTORY_DAYS)
        created_at = now - datetime.timedelta(days=age_days)
        birth = self.today - datetime.timedelta(days=rng.randint(19 * 365, 75 * 365))
        diagnosis_year = min(created_at.year - 1, birth.year + rng.randint(16, 40))
        add[Patient].add(
            id=number,
            first_name=rng.choice(FIRST_NAMES),
            last_name=rng.choice(LAST_NAMES),
            date_of_birth=birth if rng.random() > 0.1 else None,
            sex=rng.choice(SEXES),
            phone=f"+97250{number:07d}",
            email=f"patient{number}@{EMAIL_DOMAIN}",
            city=rng.choice(CITIES),
            preferred_language=rng.choice(LANGUAGES),
            primary_condition_id=rng.choices(self.condition_ids, weights=self.condition_weights)[0],
            diagnosis_year=diagnosis_year,
            created_at=created_at,
            updated_at=created_at,
        )
        self._lines(number, diagnosis_year, created_at.date())

        stage = _pick_stage(rng, age_days)
        path, close_reason = _path(rng, stage)
        coordinator = (
            rng.choice(self.coordinators).pk if stage != Stage.NEW or rng.random() < 0.7 else None
        )
        # Each stage took 0.5–10 days, and nothing happened after now.
        step = min(
            datetime.timedelta(days=rng.uniform(0.5, 10)), (now - created_at) / (len(path) + 1)
        )
        stage_changed_at = created_at + step * (len(path) - 1)
        target_program_id = target_trial_id = None
        if Stage.REFERRED in path and (self.program_ids or self.trial_ids):
            if self.program_ids and (rng.random() < 0.6 or not self.trial_ids):
                target_program_id = rng.choice(self.program_ids)
            else:
                target_trial_id = rng.choice(self.trial_ids)
        is_open = stage != Stage.CLOSED
        add[Referral].add(
            id=number,
            patient_id=number,
            source=rng.choice(SOURCES),
            stage=stage.value,
            close_reason=close_reason,
            close_detail="Closed in the benchmark seed" if close_reason else "",
            screen_failure_criterion=rng.choice(CRITERIA_FAILED)
            if close_reason == CloseReason.SCREEN_FAILED
            else "",
            assigned_to_id=coordinator,
            target_program_id=target_program_id,
            target_trial_id=target_trial_id,
            priority=rng.choice(PRIORITIES),
            next_action="Follow up with the patient" if is_open else "",
            next_action_due=self.today + datetime.timedelta(days=rng.randint(-6, 21))
            if is_open
            else None,
            infusion_date=(stage_changed_at + datetime.timedelta(days=21)).date()
            if Stage.SCHEDULED in path
            else None,
            stage_changed_at=stage_changed_at,
            created_at=created_at,
            updated_at=stage_changed_at,
            contact_channel=rng.choice(CHANNELS),
        )
        self._events(number, path, created_at, step, coordinator)
        if coordinator is not None and is_open and rng.random() < 0.2:
            add[Task].add(
                id=self.ids.next("task"),
                referral_id=number,
                title="Call about the records",
                due_on=self.today + datetime.timedelta(days=rng.randint(-3, 10)),
                assignee_id=coordinator,
                created_by_id=coordinator,
                created_at=stage_changed_at,
            )
        if Stage.ELIGIBLE in path and self.program_ids:
            add[ScreeningRecord].add(
                id=self.ids.next("screening"),
                referral_id=number,
                program_id=None if target_trial_id else target_program_id or self.program_ids[0],
                trial_id=target_trial_id,
                candidate_name="Benchmark candidate",
                verdict="eligible",
                criteria=CRITERIA,
                recorded_by_id=coordinator,
                recorded_at=created_at + step * path.index(Stage.ELIGIBLE),
            )

    def _lines(self, patient_id: int, diagnosis_year: int, before: datetime.date) -> None:
        rng = self.rng
        lines = self.tables[PriorTreatmentLine]
        regimens = self.tables[PriorTreatmentLine.therapies.through]
        count = rng.randint(2, 6)
        first_start = datetime.date(diagnosis_year, rng.randint(1, 12), 1)
        last_end = before - datetime.timedelta(days=rng.randint(20, 120))
        span = max((last_end - first_start).days // count, 60)
        for number in range(1, count + 1):
            start = min(first_start + datetime.timedelta(days=span * (number - 1)), last_end)
            end = min(
                start + datetime.timedelta(days=rng.randint(60, max(61, span - 10))), last_end
            )
            line_id = self.ids.next("line")
            lines.add(
                id=line_id,
                patient_id=patient_id,
                line_number=number,
                start_date=start,
                end_date=max(end, start),
                best_response=rng.choice(RESPONSES),
                reason_stopped=rng.choice(STOP_REASONS).value,
            )
            for therapy_id in rng.sample(self.therapy_ids, rng.choice([1, 1, 2])):
                regimens.add(
                    id=self.ids.next("line_therapy"),
                    priortreatmentline_id=line_id,
                    therapy_id=therapy_id,
                )

    def _events(self, referral_id, path, created_at, step, coordinator) -> None:
        rng = self.rng
        events = self.tables[ReferralEvent]
        total = rng.randint(6, 14)
        events.add(
            id=self.ids.next("event"),
            referral_id=referral_id,
            kind=EventKind.CREATED.value,
            to_stage=Stage.NEW.value,
            body="Lead received.",
            created_at=created_at,
        )
        written = 1
        if coordinator is not None:
            events.add(
                id=self.ids.next("event"),
                referral_id=referral_id,
                kind=EventKind.ASSIGNMENT.value,
                body=f"Assigned to {self.coordinator_names[coordinator]}",
                created_at=created_at + step * 0.1,
            )
            written += 1
        for position, (before, after) in enumerate(itertools.pairwise(path), start=1):
            events.add(
                id=self.ids.next("event"),
                referral_id=referral_id,
                kind=EventKind.STAGE_CHANGE.value,
                from_stage=before.value,
                to_stage=after.value,
                author_id=coordinator,
                created_at=created_at + step * position,
            )
            written += 1
        last = created_at + step * len(path)
        for _ in range(max(total - written, 0)):
            events.add(
                id=self.ids.next("event"),
                referral_id=referral_id,
                kind=rng.choice(NOTE_KINDS).value,
                body=rng.choice(NOTE_BODIES),
                author_id=coordinator,
                created_at=created_at + (last - created_at) * rng.random(),
            )

    def _reset_sequences(self) -> None:
        statements = connection.ops.sequence_reset_sql(no_style(), list(self.tables))
        if statements:
            with connection.cursor() as cursor:
                for sql in statements:
                    cursor.execute(sql)


def seed(size: int) -> tuple[float, dict[str, int]]:
    """Seed `size` leads; returns the seconds it took and the rows written per model."""
    started = time.perf_counter()
    counts = Seeder(size).run()
    return time.perf_counter() - started, counts
