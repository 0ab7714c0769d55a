"""The referral import: a file on its way in and its checked rows."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from referrals.vocabulary import IMPORT_JOB_RUNNING_STATES, ImportJobState


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
