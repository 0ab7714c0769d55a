"""Referrals (leads) and what hangs off them: the timeline's events, the screening log and
the coordinators' tasks. `HOSPITAL_SIDE` is where a referral stands with its hospital.
"""

import datetime

from django.conf import settings
from django.db import models
from django.db.models import Case, Q, Value, When
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from carecrm.history import HistoricalRecords
from referrals.models.display import QuickChoiceDisplay
from referrals.models.patients import FAILED_LINES_COUNTED, Patient, failed_line_count_sql
from referrals.search import search_filter
from referrals.vocabulary import (
    OPEN_STAGES,
    CloseReason,
    ContactChannel,
    EventKind,
    HospitalDeclineReason,
    HospitalSide,
    Priority,
    ScreenFailureCriterion,
    ScreeningVerdict,
    Source,
    Stage,
    SubmitterRole,
)
from trials.models import Program, Trial


class ReferralQuerySet(models.QuerySet):
    def with_failed_line_count(self):
        """Each lead's `failed_line_count` (its patient's) counted by the database."""
        return self.annotate(**{FAILED_LINES_COUNTED: failed_line_count_sql("patient")})

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
    def hospital_side_label(self) -> str:
        """The hospital side as a coordinator reads it (the generated column has no
        `get_…_display`: its choices sit on its output field)."""
        return str(HospitalSide(self.hospital_side).label) if self.hospital_side else ""

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
