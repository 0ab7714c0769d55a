"""Patients, their prior treatment lines, and the referrals (leads) coordinators work.

Clinical history is never cascaded away: every foreign key into patients, lines and events is
PROTECT. Erasure for privacy is an explicit service, not a delete.
"""

import calendar
import datetime
import functools

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Case, Q, Value, When
from django.db.models.functions import Coalesce, Lower
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.translation import gettext_lazy as _

from carecrm.history import HistoricalRecords
from referrals.documents import document_upload_to, private_storage
from referrals.search import search_filter
from referrals.vocabulary import (
    FAILURE_REASONS,
    FOLLOW_UP_MONTHS,
    GRADE_CHOICES,
    GRADE_MAX,
    IMPORT_JOB_RUNNING_STATES,
    MEASURES,
    OPEN_STAGES,
    AccessAction,
    BestResponse,
    CloseReason,
    ContactChannel,
    DocumentKind,
    EventKind,
    HospitalDeclineReason,
    HospitalSide,
    ImportJobState,
    Language,
    Priority,
    ReasonStopped,
    ScreenFailureCriterion,
    ScreeningVerdict,
    Sex,
    Source,
    Stage,
    SubmitterRole,
)
from trials.models import Condition, Program, Therapy, Trial


class QuickChoiceDisplay:
    """`get_<field>_display()` that translates one label, not all of them.

    Django's own hashes every (value, label) pair of the field's choices on each call, and
    hashing a lazy label translates it: showing a lead's stage cost eleven translations, which
    made a 1,000-row export spend most of its time in gettext. Only the values are hashed here,
    once per field: the labels stay lazy, so each display is still in the current language.
    """

    def _get_FIELD_display(self, field):
        value = getattr(self, field.attname)
        try:
            label = _choice_labels(field).get(value, value)
        except TypeError:  # an unhashable value: Django's way
            return super()._get_FIELD_display(field)
        return force_str(label, strings_only=True)


@functools.cache
def _choice_labels(field: models.Field) -> dict:
    """A field's choices by value; they are fixed in the code (TextChoices)."""
    return dict(field.flatchoices)


def age_on(date_of_birth: datetime.date, today: datetime.date) -> int:
    before_birthday = (today.month, today.day) < (date_of_birth.month, date_of_birth.day)
    return today.year - date_of_birth.year - before_birthday


class PatientQuerySet(models.QuerySet):
    def with_failed_line_count(self):
        """Each patient's `failed_line_count` counted by the database, for list pages."""
        return self.annotate(**{FAILED_LINES_COUNTED: _failed_line_count_sql("pk")})

    def matching(self, term: str):
        """Every word of `term` in the patient's first or last name, phone or e-mail."""
        return search_filter(self, term, patient_field="pk")


class Patient(QuickChoiceDisplay, models.Model):
    first_name = models.CharField(max_length=80)
    last_name = models.CharField(max_length=80)
    date_of_birth = models.DateField(null=True, blank=True)
    stated_age = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(120)],
        help_text=_("Age the lead gave instead of a date of birth."),
    )
    stated_age_on = models.DateField(null=True, blank=True)
    sex = models.CharField(max_length=8, choices=Sex.choices, default=Sex.UNKNOWN)
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)
    city = models.CharField(max_length=80, blank=True)
    preferred_language = models.CharField(
        max_length=2, choices=Language.choices, default=Language.HEBREW
    )
    primary_condition = models.ForeignKey(
        Condition, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    condition_other = models.CharField(
        _("condition in the patient's words"),
        max_length=200,
        blank=True,
        help_text=_("What the lead wrote when the diagnosis was not in our list."),
    )
    other_conditions = models.ManyToManyField(Condition, blank=True, related_name="+")
    diagnosis_year = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1900)]
    )
    sledai_2k = models.PositiveSmallIntegerField(
        "SLEDAI-2K",
        null=True,
        blank=True,
        validators=[MaxValueValidator(MEASURES["sledai_2k"].high)],
    )
    das28 = models.DecimalField(
        "DAS28",
        max_digits=4,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(MEASURES["das28"].high)],
    )
    mrss = models.PositiveSmallIntegerField(
        "mRSS", null=True, blank=True, validators=[MaxValueValidator(MEASURES["mrss"].high)]
    )
    mg_adl = models.PositiveSmallIntegerField(
        "MG-ADL", null=True, blank=True, validators=[MaxValueValidator(MEASURES["mg_adl"].high)]
    )
    exclusions = models.TextField(
        blank=True,
        help_text=_(
            "Exclusions found in screening, one per line (e.g. active CNS lupus, pregnancy). "
            "Any recorded exclusion makes every candidate ineligible until removed."
        ),
    )
    notes = models.TextField(blank=True)
    erased_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the patient's identifying data was erased.")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PatientQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        indexes = [
            models.Index(fields=["last_name", "first_name"]),
            # The list filtered by condition, in its order: a page without sorting the
            # condition's patients first (30,000 with SLE at 100,000: 16 ms on SQLite).
            models.Index(
                fields=["primary_condition", "last_name", "first_name", "id"],
                name="patient_condition_list_idx",
            ),
            models.Index(fields=["phone"]),
            models.Index(fields=["email"]),
            # Duplicate checks on every intake: e-mail in any case, date of birth then names.
            models.Index(Lower("email"), name="patient_email_lower_idx"),
            models.Index(fields=["date_of_birth"], name="patient_birth_date_idx"),
        ]
        permissions = [
            ("export_patient_data", "Can export all data about a patient"),
            ("erase_patient", "Can erase (anonymise) a patient"),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def clean(self) -> None:
        today = timezone.localdate()
        if self.date_of_birth and self.date_of_birth > today:
            raise ValidationError({"date_of_birth": _("The date of birth is in the future.")})
        if self.diagnosis_year and self.diagnosis_year > today.year:
            raise ValidationError({"diagnosis_year": _("The diagnosis year is in the future.")})
        if (
            self.diagnosis_year
            and self.date_of_birth
            and self.diagnosis_year < self.date_of_birth.year
        ):
            raise ValidationError({"diagnosis_year": _("The diagnosis year is before birth.")})

    @property
    def age(self) -> int | None:
        """From the date of birth; failing that, the stated age plus the years since."""
        today = timezone.localdate()
        if self.date_of_birth is not None:
            return age_on(self.date_of_birth, today)
        if self.stated_age is not None and self.stated_age_on is not None:
            return self.stated_age + age_on(self.stated_age_on, today)
        return None

    @property
    def failed_line_count(self) -> int:
        """Lines that failed and contain at least one therapy that counts.

        Lists read it counted by the database (`with_failed_line_count()`); otherwise it is
        counted from `treatment_lines` and their therapies (prefetch
        `treatment_lines__therapies` so that this costs no query per patient).
        """
        counted = self.__dict__.get(FAILED_LINES_COUNTED)
        if counted is not None:
            return counted
        return sum(1 for line in self.treatment_lines.all() if line.counts_as_failed)

    @property
    def exclusion_list(self) -> list[str]:
        return [line.strip() for line in self.exclusions.splitlines() if line.strip()]


class PriorTreatmentLineQuerySet(models.QuerySet):
    def failed(self):
        """`counts_as_failed` in SQL: stopped for a failure, with a therapy that counts."""
        return self.filter(
            models.Exists(
                Therapy.objects.filter(
                    treatment_lines=models.OuterRef("pk"), counts_toward_failed_lines=True
                )
            ),
            reason_stopped__in=FAILURE_REASONS,
        )


# The annotation `with_failed_line_count()` puts on each row, read by `failed_line_count`.
FAILED_LINES_COUNTED = "failed_lines_counted"


def _failed_line_count_sql(patient: str) -> Coalesce:
    """`failed_line_count` of each row of a list, counted by the database.

    `patient` leads from the row to its patient ("pk" on patients, "patient" on leads). A
    subquery per row reads the patient's few lines from their index: loading the page's lines
    instead cost a query and a model instance per line (1,000 on the board).
    """
    failed = (
        PriorTreatmentLine.objects.filter(patient=models.OuterRef(patient))
        .failed()
        .order_by()
        .values("patient")
        .annotate(n=models.Count("pk"))
        .values("n")
    )
    return Coalesce(models.Subquery(failed), 0)


class PriorTreatmentLine(QuickChoiceDisplay, models.Model):
    # Indexed by `line_failed_count_idx` and the line-number constraint, both led by the patient.
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="treatment_lines", db_index=False
    )
    line_number = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    therapies = models.ManyToManyField(Therapy, related_name="treatment_lines")
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    best_response = models.CharField(
        max_length=16, choices=BestResponse.choices, default=BestResponse.UNKNOWN
    )
    reason_stopped = models.CharField(
        max_length=24, choices=ReasonStopped.choices, default=ReasonStopped.UNKNOWN
    )
    notes = models.TextField(blank=True)

    objects = PriorTreatmentLineQuerySet.as_manager()
    history = HistoricalRecords(m2m_fields=[therapies])

    class Meta:
        ordering = ["patient", "line_number"]
        indexes = [
            # The lists' failed-line counts (one subquery per row) read a patient's lines and
            # their reason from this index alone, with no read of the table (400,000 lines at
            # 100,000 leads) for each line.
            models.Index(fields=["patient", "reason_stopped", "id"], name="line_failed_count_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "line_number"], name="treatment_line_number_unique"
            ),
            models.CheckConstraint(
                condition=Q(line_number__gte=1), name="treatment_line_number_positive"
            ),
            models.CheckConstraint(
                condition=Q(start_date__isnull=True)
                | Q(end_date__isnull=True)
                | Q(end_date__gte=models.F("start_date")),
                name="treatment_line_end_after_start",
                violation_error_message=_("A line cannot end before it starts."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient} · line {self.line_number}"

    def clean(self) -> None:
        today = timezone.localdate()
        errors = {}
        if self.start_date and self.start_date > today:
            errors["start_date"] = _("The start date is in the future.")
        if self.end_date and self.end_date > today:
            errors["end_date"] = _("The end date is in the future.")
        if self.start_date and self.end_date and self.end_date < self.start_date:
            errors["end_date"] = _("A line cannot end before it starts.")
        if errors:
            raise ValidationError(errors)

    @property
    def counts_as_failed(self) -> bool:
        """The single rule for a failed line.

        `PriorTreatmentLineQuerySet.failed()` is the same rule in SQL; when reading many lines
        here, prefetch `therapies`.
        """
        if self.reason_stopped not in FAILURE_REASONS:
            return False
        return any(therapy.counts_toward_failed_lines for therapy in self.therapies.all())


class ReferralQuerySet(models.QuerySet):
    def with_failed_line_count(self):
        """Each lead's `failed_line_count` (its patient's) counted by the database."""
        return self.annotate(**{FAILED_LINES_COUNTED: _failed_line_count_sql("patient")})

    def open(self):
        # `stage IN (open stages)` rather than `stage <> 'closed'`: the same leads, but an index
        # range, so a coordinator's open leads are read without their closed ones.
        return self.filter(stage__in=OPEN_STAGES)

    def for_coordinator(self, user):
        return self.filter(assigned_to=user)

    def matching(self, term: str):
        """Leads whose patient matches every word of `term` (`PatientQuerySet.matching`)."""
        return search_filter(self, term, patient_field="patient")

    def overdue(self, today: datetime.date | None = None):
        today = today or timezone.localdate()
        return self.open().filter(next_action_due__lt=today)


# Where a referral stands with its hospital, from the stage and the hospital's own dates: the
# one definition of `HospitalSide`, computed and stored by the database on every write.
HOSPITAL_SIDE = Case(
    When(
        Q(stage=Stage.REFERRED, consult_date__isnull=False), then=Value(HospitalSide.CONSULT_BOOKED)
    ),
    When(
        Q(stage=Stage.REFERRED, receipt_confirmed_at__isnull=False),
        then=Value(HospitalSide.RECEIVED),
    ),
    When(Q(stage=Stage.REFERRED), then=Value(HospitalSide.SENT)),
    When(Q(stage=Stage.ACCEPTED), then=Value(HospitalSide.ACCEPTED)),
    When(Q(stage=Stage.SCHEDULED), then=Value(HospitalSide.SCHEDULED)),
    When(Q(stage__in=(Stage.TREATED, Stage.FOLLOW_UP)), then=Value(HospitalSide.TREATED)),
    When(
        Q(stage=Stage.CLOSED, close_reason=CloseReason.DECLINED_BY_HOSPITAL),
        then=Value(HospitalSide.DECLINED),
    ),
    When(Q(stage=Stage.CLOSED, referred_at__isnull=False), then=Value(HospitalSide.CLOSED)),
    default=None,
)


class Referral(QuickChoiceDisplay, models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="referrals")
    source = models.CharField(max_length=24, choices=Source.choices)
    referring_physician_name = models.CharField(max_length=120, blank=True)
    referring_physician_contact = models.CharField(max_length=200, blank=True)
    stage = models.CharField(max_length=24, choices=Stage.choices, default=Stage.NEW)
    close_reason = models.CharField(max_length=24, choices=CloseReason.choices, blank=True)
    close_detail = models.TextField(blank=True)
    screen_failure_criterion = models.CharField(
        max_length=16, choices=ScreenFailureCriterion.choices, blank=True
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_referrals",
    )
    target_program = models.ForeignKey(
        Program, on_delete=models.PROTECT, null=True, blank=True, related_name="referrals"
    )
    target_trial = models.ForeignKey(
        Trial, on_delete=models.PROTECT, null=True, blank=True, related_name="referrals"
    )
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    next_action = models.CharField(max_length=200, blank=True)
    next_action_due = models.DateField(null=True, blank=True)
    infusion_date = models.DateField(
        null=True, blank=True, help_text=_("The CAR-T infusion: planned, then given.")
    )
    stage_changed_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(
        default=1, help_text=_("Bumped on every save through a service; detects lost updates.")
    )
    submitter_role = models.CharField(max_length=16, choices=SubmitterRole.choices, blank=True)
    submitter_name = models.CharField(max_length=160, blank=True)
    contact_channel = models.CharField(max_length=16, choices=ContactChannel.choices, blank=True)
    intake_message = models.TextField(blank=True)
    consent_version = models.CharField(max_length=20, blank=True)
    consent_text = models.TextField(
        blank=True, help_text=_("The consent wording exactly as the submitter saw it.")
    )
    consented_at = models.DateTimeField(null=True, blank=True)
    possible_duplicates = models.ManyToManyField("self", blank=True)
    merged_into = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="merged_leads"
    )
    # The hospital side: written by the transition service and the liaison's services.
    referred_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("When the lead was sent to its target; cleared if the referral is withdrawn."),
    )
    receipt_confirmed_at = models.DateTimeField(null=True, blank=True)
    hospital_decision_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the hospital accepted or declined the referral.")
    )
    hospital_decline_reason = models.CharField(
        max_length=24, choices=HospitalDeclineReason.choices, blank=True
    )
    consult_date = models.DateField(null=True, blank=True)
    apheresis_date = models.DateField(null=True, blank=True)
    hospital_update_at = models.DateTimeField(
        null=True, blank=True, help_text=_("The hospital's latest action on the referral.")
    )
    coordinator_seen_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the coordinator last opened the lead.")
    )
    hospital_side = models.GeneratedField(
        expression=HOSPITAL_SIDE,
        output_field=models.CharField(max_length=16, choices=HospitalSide.choices, null=True),
        db_persist=True,
        help_text=_("What the hospital has done with the referral; empty before it is sent."),
    )
    import_job = models.ForeignKey(
        "ImportJob",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="leads",
        db_index=False,  # a partial index below: most leads were not imported
        help_text=_("The import file the lead came from, if it was imported."),
    )

    objects = ReferralQuerySet.as_manager()
    history = HistoricalRecords(excluded_fields=["hospital_side"])

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["stage", "-created_at"]),
            # A coordinator's queue is sorted inside this index (no lead read until the page):
            # with the id in it, PostgreSQL answers from the index alone (SQLite's rowid is in
            # every index already).
            models.Index(
                fields=["assigned_to", "stage", "next_action_due", "priority", "created_at", "id"],
                name="referral_queue_idx",
            ),
            models.Index(fields=["next_action_due"]),
            models.Index(fields=["-created_at", "-id"]),
            models.Index(fields=["stage_changed_at"]),
            # The list filtered by source: its count reads a sixth of this index, not the
            # table (12 → 1 ms at 100,000 leads on SQLite), and its page is in order.
            models.Index(fields=["source", "-created_at"], name="referral_source_idx"),
            # The board's columns: each column's longest-waiting cards, read in order.
            models.Index(fields=["stage", "stage_changed_at", "id"], name="referral_board_idx"),
            # "See the imported leads" after an import.
            models.Index(
                fields=["import_job"],
                condition=Q(import_job__isnull=False),
                name="referral_import_job_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(stage=Stage.CLOSED) & ~Q(close_reason=""))
                | (~Q(stage=Stage.CLOSED) & Q(close_reason="")),
                name="referral_closed_iff_close_reason",
                violation_error_message=_(
                    "A closed referral needs a close reason, and an open one must not have one."
                ),
            ),
            models.CheckConstraint(
                condition=(
                    Q(close_reason=CloseReason.SCREEN_FAILED) & ~Q(screen_failure_criterion="")
                )
                | (~Q(close_reason=CloseReason.SCREEN_FAILED) & Q(screen_failure_criterion="")),
                name="referral_screen_failure_has_criterion",
                violation_error_message=_("A screen failure names the criterion that failed."),
            ),
        ]

    def __str__(self) -> str:
        return f"Referral #{self.pk} · {self.patient}"

    def get_absolute_url(self) -> str:
        return reverse("referrals:lead", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.stage != Stage.CLOSED

    @property
    def failed_line_count(self) -> int:
        """The patient's; lists read it counted by the database (`with_failed_line_count()`)."""
        counted = self.__dict__.get(FAILED_LINES_COUNTED)
        return self.patient.failed_line_count if counted is None else counted

    @property
    def hospital_dates_text(self) -> str:
        """The hospital's dates as its timeline event says them: "Consult 09 Dec 2026 · …"."""
        text = " · ".join(
            f"{label} {day:%d %b %Y}"
            for label, day in (
                ("consult", self.consult_date),
                ("apheresis", self.apheresis_date),
                ("infusion", self.infusion_date),
            )
            if day
        )
        return text[:1].upper() + text[1:]

    @property
    def has_unread_hospital_update(self) -> bool:
        """The hospital did something the assigned coordinator has not seen yet."""
        return self.hospital_update_at is not None and (
            self.coordinator_seen_at is None or self.hospital_update_at > self.coordinator_seen_at
        )


class ReferralEvent(QuickChoiceDisplay, models.Model):
    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=24, choices=EventKind.choices)
    from_stage = models.CharField(max_length=24, choices=Stage.choices, blank=True)
    to_stage = models.CharField(max_length=24, choices=Stage.choices, blank=True)
    body = models.TextField(blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["referral", "-created_at"]),
            # The dashboard's milestones: stage changes to a stage, by date, with their lead.
            models.Index(
                fields=["kind", "to_stage", "created_at", "referral"], name="event_stage_change_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind=EventKind.STAGE_CHANGE) | ~Q(to_stage=""),
                name="event_stage_change_has_target",
            )
        ]

    def __str__(self) -> str:
        if self.kind == EventKind.STAGE_CHANGE:
            return f"{self.get_from_stage_display()} → {self.get_to_stage_display()}"
        return self.get_kind_display()


class ScreeningRecord(QuickChoiceDisplay, models.Model):
    """One recorded eligibility check of a lead against one program or trial.

    The candidate's name and every criterion are copied, so the screening log still says what
    was checked after the program or trial is edited.
    """

    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="screenings")
    program = models.ForeignKey(
        Program, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    trial = models.ForeignKey(
        Trial, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    candidate_name = models.CharField(max_length=400)
    verdict = models.CharField(max_length=16, choices=ScreeningVerdict.choices)
    criteria = models.JSONField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [
            models.Index(fields=["referral", "-recorded_at"]),
            models.Index(fields=["-recorded_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(program__isnull=False, trial__isnull=True)
                | Q(program__isnull=True, trial__isnull=False),
                name="screening_exactly_one_candidate",
            )
        ]

    def __str__(self) -> str:
        return f"{self.candidate_name}: {self.get_verdict_display()}"

    @property
    def failed_criteria(self) -> list[str]:
        return [c["name"] for c in self.criteria if c["result"] == "fail"]


class TaskQuerySet(models.QuerySet):
    def open(self):
        return self.filter(done_at__isnull=True)


class Task(models.Model):
    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="tasks")
    title = models.CharField(max_length=200)
    due_on = models.DateField()
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tasks"
    )
    done_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["due_on", "id"]
        indexes = [
            # The queue's "My tasks": a coordinator's open tasks read in due order, so the page
            # stops at its 50th task however many the coordinator has.
            models.Index(
                fields=["assignee", "due_on", "id"],
                condition=models.Q(done_at__isnull=True),
                name="task_open_idx",
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_done(self) -> bool:
        return self.done_at is not None


class LeadDocument(QuickChoiceDisplay, models.Model):
    """A consent form or medical record received for a lead. Append-only for coordinators.

    The file lives in the private storage (`settings.PRIVATE_STORAGE_ROOT`) under a random name
    and has no URL; `referrals:lead_document` streams it after the access check. The content type
    was sniffed from the file's first bytes, never taken from the browser.
    """

    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="documents")
    kind = models.CharField(max_length=24, choices=DocumentKind.choices)
    original_filename = models.CharField(
        max_length=200, help_text=_("The uploader's file name, cleaned for display.")
    )
    file = models.FileField(
        storage=private_storage, upload_to=document_upload_to, max_length=200, blank=True
    )
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField(help_text=_("In bytes."))
    sha256 = models.CharField(max_length=64, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        indexes = [models.Index(fields=["referral", "-uploaded_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(size__gt=0), name="lead_document_not_empty")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.original_filename}"

    @property
    def is_erased(self) -> bool:
        """The patient was erased: the file is gone and only kind, type, size and date remain."""
        return not self.file


class AccessLog(QuickChoiceDisplay, models.Model):
    """Who read or exported patient data, and when. Append-only: never edited or deleted."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    action = models.CharField(max_length=16, choices=AccessAction.choices)
    referral = models.ForeignKey(
        Referral, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    detail = models.CharField(
        max_length=500,
        blank=True,
        help_text=_("What was exported: the list, format, filters and rows."),
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["-at"]),
            models.Index(fields=["patient", "-at"]),
            models.Index(fields=["user", "-at"]),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.user} {self.get_action_display()}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("The access log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("The access log is append-only.")


# --- referral import ------------------------------------------------------------------------


class ImportJob(models.Model):
    """A referral import file on its way in: uploaded, checked row by row by a background task,
    confirmed, then written all or nothing by another task (`referrals/imports.py`).

    The file is kept in the database (it holds patient data: never in a served folder, and on
    every host the worker may run on) until it is imported or discarded; so are the checked rows
    (`ImportJobRow`), which the preview pages through.
    """

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    file_name = models.CharField(max_length=200)
    content = models.BinaryField(editable=False)
    state = models.CharField(
        max_length=12, choices=ImportJobState.choices, default=ImportJobState.QUEUED
    )
    # Bumped by every validation run; a run that finds it bumped since has been replaced (a
    # resumed job) and stops writing.
    attempt = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(
        default=timezone.now, help_text=_("The worker's last word on this job.")
    )
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_processed = models.PositiveIntegerField(default=0)
    rows_with_problems = models.PositiveIntegerField(default=0)
    rows_flagged = models.PositiveIntegerField(
        default=0, help_text=_("Rows that look like a lead already known or an earlier row.")
    )
    problem = models.TextField(blank=True, help_text=_("Why the file as a whole failed."))
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_from = models.GenericIPAddressField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    leads_created = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # "Recent imports": a coordinator's own, an admin's everyone's.
            models.Index(fields=["created_by", "-created_at"], name="import_job_owner_idx"),
            models.Index(fields=["-created_at"], name="import_job_recent_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=ImportJobState.values), name="import_job_known_state"
            ),
            models.CheckConstraint(
                condition=Q(rows_total__isnull=True, rows_processed=0)
                | Q(rows_processed__lte=models.F("rows_total")),
                name="import_job_processed_within_total",
            ),
            models.CheckConstraint(
                condition=Q(rows_with_problems__lte=models.F("rows_processed"))
                & Q(rows_flagged__lte=models.F("rows_processed")),
                name="import_job_counts_within_processed",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=[ImportJobState.IMPORTING, ImportJobState.DONE])
                | Q(
                    confirmed_by__isnull=False,
                    confirmed_at__isnull=False,
                    rows_with_problems=0,
                    rows_processed=models.F("rows_total"),
                ),
                name="import_job_imports_only_a_clean_confirmed_file",
            ),
            models.CheckConstraint(
                condition=(
                    Q(state=ImportJobState.DONE)
                    & Q(finished_at__isnull=False, leads_created=models.F("rows_total"))
                )
                | (~Q(state=ImportJobState.DONE) & Q(leads_created=0)),
                name="import_job_done_iff_every_row_imported",
            ),
            models.CheckConstraint(
                condition=~Q(state=ImportJobState.FAILED) | ~Q(problem=""),
                name="import_job_failure_says_why",
            ),
        ]

    def __str__(self) -> str:
        return f"Import #{self.pk} · {self.file_name}"

    @property
    def is_running(self) -> bool:
        return self.state in IMPORT_JOB_RUNNING_STATES

    @property
    def can_be_confirmed(self) -> bool:
        return self.state == ImportJobState.VALIDATED and self.rows_with_problems == 0

    @property
    def percent_done(self) -> int:
        if not self.rows_total:
            return 0
        return self.rows_processed * 100 // self.rows_total


class ImportJobRow(models.Model):
    """One checked row of an import file, as the preview shows it; gone once the file is
    imported or discarded (the leads hold the data from then on)."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rows")
    number = models.PositiveIntegerField(help_text=_("1 is the first row under the header."))
    values = models.JSONField(help_text=_("Column → the value as it will be imported."))
    problems = models.JSONField(default=dict, blank=True, help_text=_("Column → messages."))
    has_problems = models.BooleanField(default=False)
    duplicate_of = models.CharField(
        max_length=500, blank=True, help_text=_("Leads (#123) or earlier rows (row 2).")
    )

    class Meta:
        ordering = ["job", "-has_problems", "number"]
        indexes = [
            # The preview: the rows with problems first, then in file order.
            models.Index(fields=["job", "-has_problems", "number"], name="import_row_preview_idx")
        ]
        constraints = [
            models.UniqueConstraint(fields=["job", "number"], name="import_row_once_per_job"),
            models.CheckConstraint(
                condition=Q(has_problems=True) | Q(problems={}),
                name="import_row_problems_flagged",
            ),
        ]

    def __str__(self) -> str:
        return f"Row {self.number} of import #{self.job_id}"


# --- after treatment -----------------------------------------------------------------------


def add_months(day: datetime.date, months: int) -> datetime.date:
    """The same day `months` later, or the month's last day if shorter (31 Jan + 1 → 28 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return datetime.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _grade_constraint(field: str, label: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{field}__isnull": True})
        | Q(**{f"{field}__gte": 0, f"{field}__lte": GRADE_MAX}),
        name=f"treatment_outcome_{field}_0_to_4",
        violation_error_message=f"The {label} grade is 0 to {GRADE_MAX} (ASTCT).",
    )


class TreatmentOutcome(models.Model):
    """The CAR-T infusion of a treated lead and what followed it: toxicity, infections, relapse.

    Written only through `services.treatment_outcome_save`, which refuses it before the lead is
    treated and creates the four follow-up visits (1, 3, 6 and 12 months) with a task for each.
    """

    referral = models.OneToOneField(
        Referral, on_delete=models.PROTECT, related_name="treatment_outcome"
    )
    infusion_date = models.DateField()
    product = models.CharField(
        max_length=200, help_text=_("The CAR-T product infused, e.g. the program's CD19 CAR-T.")
    )
    crs_grade = models.PositiveSmallIntegerField(
        _("CRS grade"),
        choices=GRADE_CHOICES,
        null=True,
        blank=True,
        help_text=_("Cytokine release syndrome, ASTCT grade 0–4; blank until assessed."),
    )
    icans_grade = models.PositiveSmallIntegerField(
        _("ICANS grade"),
        choices=GRADE_CHOICES,
        null=True,
        blank=True,
        help_text=_("Neurotoxicity (ICANS), ASTCT grade 0–4; blank until assessed."),
    )
    infections = models.TextField(blank=True, help_text=_("Infections after the infusion."))
    relapse = models.BooleanField(default=False)
    relapse_date = models.DateField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            _grade_constraint("crs_grade", "CRS"),
            _grade_constraint("icans_grade", "ICANS"),
            models.CheckConstraint(
                condition=Q(relapse=True, relapse_date__isnull=False)
                | Q(relapse=False, relapse_date__isnull=True),
                name="treatment_outcome_relapse_has_date",
                violation_error_message=_("A relapse needs its date, and only a relapse has one."),
            ),
            models.CheckConstraint(
                condition=Q(relapse_date__isnull=True)
                | Q(relapse_date__gte=models.F("infusion_date")),
                name="treatment_outcome_relapse_after_infusion",
                violation_error_message=_("A relapse cannot come before the infusion."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product} on {self.infusion_date:%d %b %Y}"


class FollowUpVisit(models.Model):
    """One scheduled follow-up after the infusion (1, 3, 6 or 12 months), done or still due."""

    outcome = models.ForeignKey(TreatmentOutcome, on_delete=models.PROTECT, related_name="visits")
    month = models.PositiveSmallIntegerField(choices=[(m, f"{m} months") for m in FOLLOW_UP_MONTHS])
    due_on = models.DateField(help_text=_("The infusion date plus the visit's months."))
    done_on = models.DateField(null=True, blank=True)
    sledai_2k = models.PositiveSmallIntegerField(
        "SLEDAI-2K",
        null=True,
        blank=True,
        validators=[MaxValueValidator(MEASURES["sledai_2k"].high)],
    )
    das28 = models.DecimalField(
        "DAS28",
        max_digits=4,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(MEASURES["das28"].high)],
    )
    mrss = models.PositiveSmallIntegerField(
        "mRSS", null=True, blank=True, validators=[MaxValueValidator(MEASURES["mrss"].high)]
    )
    mg_adl = models.PositiveSmallIntegerField(
        "MG-ADL", null=True, blank=True, validators=[MaxValueValidator(MEASURES["mg_adl"].high)]
    )
    drug_free_remission = models.BooleanField(
        null=True,
        blank=True,
        help_text=_("In remission without immunosuppression at this visit; blank if unknown."),
    )
    notes = models.TextField(blank=True)
    task = models.OneToOneField(
        Task, on_delete=models.SET_NULL, null=True, blank=True, related_name="follow_up_visit"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["outcome", "month"]
        constraints = [
            models.UniqueConstraint(fields=["outcome", "month"], name="follow_up_visit_unique"),
            models.CheckConstraint(
                condition=Q(month__in=FOLLOW_UP_MONTHS), name="follow_up_visit_month_1_3_6_12"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.month}-month follow-up"

    @property
    def is_done(self) -> bool:
        return self.done_on is not None

    @property
    def measures(self) -> list[tuple[str, object]]:
        """The disease activity measures recorded at this visit, as (label, value)."""
        return [
            (self._meta.get_field(name).verbose_name, getattr(self, name))
            for name in ("sledai_2k", "das28", "mrss", "mg_adl")
            if getattr(self, name) is not None
        ]


# --- the hospital side -----------------------------------------------------------------------


class LiaisonProfile(models.Model):
    """A hospital liaison: a staff user who sees and answers the referrals sent to one hospital.

    With no programs chosen the liaison covers every program of the hospital; otherwise only the
    chosen ones. `access.referrals_visible_to` is the one place this scope is applied.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="liaison_profile"
    )
    hospital = models.ForeignKey(
        "trials.Hospital", on_delete=models.PROTECT, related_name="liaisons"
    )
    programs = models.ManyToManyField(
        Program,
        blank=True,
        related_name="liaisons",
        help_text=_("Leave empty for every program of the hospital."),
    )

    class Meta:
        permissions = [
            ("work_hospital_referrals", "Can work the referrals sent to their hospital"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.hospital}"


class ReferralSnapshot(models.Model):
    """The referral packet as it was sent: taken when the lead moves to "referred".

    Patient summary, treatment lines, failed-line count and the latest eligibility check for
    the target, as plain JSON: the liaison reads this, never the live patient, so later edits
    by the coordinator do not change what the hospital was sent.
    """

    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="snapshots")
    program = models.ForeignKey(
        Program, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    trial = models.ForeignKey(
        Trial, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    data = models.JSONField()
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    taken_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-taken_at", "-id"]
        indexes = [models.Index(fields=["referral", "-taken_at"])]

    def __str__(self) -> str:
        return f"Lead #{self.referral_id} as sent {self.taken_at:%d %b %Y}"
