"""The referral import as a background job: upload, check, confirm, write.

`import_job_create` keeps the uploaded file with the job and queues `import_job_validate`, a
task that reads the file and checks its rows in batches of 500: each row's problems
(`resources.check_row`) and, for the whole batch in one query, the leads of possibly the same
person (`selectors.possible_duplicates_of_many`), plus earlier rows of the file. After each
batch it stores the rows and the progress, so the job page shows how far it is.

"Confirm import" (`import_job_confirm`) moves a clean, checked job to "importing" exactly once (a
second click finds it moved) and queues `import_job_run`, which checks the file again, then
writes every row in one transaction that also marks the job done: a second run of the task
finds it done and writes nothing, and a run that dies rolls back whole.

A worker that is stopped or killed leaves its job in a running state. `import_job_resume`
queues the task again for a job the worker has been silent on for `STALE_AFTER`: a validation
starts over (the job's `attempt` fences off the run it replaces, should that one still be
alive), an import runs once.
"""

import datetime
from collections import deque
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.tasks import task
from django.utils import timezone

from referrals import documents, resources, selectors, services
from referrals.models import ImportJob, ImportJobRow
from referrals.vocabulary import IMPORT_JOB_RUNNING_STATES, AccessAction, ImportJobState
from trials.models import Condition

BATCH_ROWS = 500
# The worker reports after every batch (well under a second); this long without a word, it
# has stopped (a deploy, a crash) and the owner may resume the job.
STALE_AFTER = datetime.timedelta(minutes=3)
# Uploads that were never imported are deleted after this long: they hold patient data.
KEEP_UNIMPORTED = datetime.timedelta(days=7)
# A row is flagged with at most this many leads and earlier rows, the newest: a number every
# row shares (a clinic's switchboard) would otherwise flag each row with all the others.
MAX_FLAGS = 20


@dataclass(frozen=True)
class RowCheck:
    """A checked row, with the leads and earlier rows it may duplicate (newest first)."""

    row: resources.CheckedRow
    known: tuple[int, ...]
    earlier: tuple[int, ...]

    @property
    def duplicate_of(self) -> str:
        flags = [f"#{pk}" for pk in self.known] + [f"row {number}" for number in self.earlier]
        return ", ".join(flags)


class FileCheck:
    """Checks a file's rows in order, remembering the earlier rows for in-file duplicates."""

    def __init__(self) -> None:
        self.conditions = resources.condition_lookup(Condition.objects.all())
        self.rows_of_key: dict[tuple, deque[int]] = {}

    def batch(self, rows: list[tuple[int, dict]]) -> list[RowCheck]:
        checked = [resources.check_row(number, row, self.conditions) for number, row in rows]
        people = [_person(row.lead) for row in checked]
        known = selectors.possible_duplicates_of_many(people, limit=MAX_FLAGS)
        result = []
        for row, person, leads in zip(checked, people, known, strict=True):
            earlier = sorted({n for key in person for n in self.rows_of_key.get(key, ())})
            for key in person:
                self.rows_of_key.setdefault(key, deque(maxlen=MAX_FLAGS)).append(row.number)
            result.append(
                RowCheck(
                    row=row,
                    known=tuple(leads),
                    earlier=tuple(reversed(earlier[-MAX_FLAGS:])),
                )
            )
        return result


def _person(lead: resources.ImportedLead | None) -> frozenset[tuple]:
    if lead is None:  # a row with problems is never imported, so it duplicates nobody
        return frozenset()
    return selectors.same_person_keys(
        phone=lead.phone,
        email=lead.email,
        first_name=lead.first_name,
        last_name=lead.last_name,
        date_of_birth=lead.date_of_birth,
    )


# --- upload -----------------------------------------------------------------------------------


@transaction.atomic
def import_job_create(*, by: AbstractBaseUser, file_name: str, content: bytes) -> ImportJob:
    """Keep an uploaded file and queue its check. Refuses an empty or oversized file."""
    name = documents.display_filename(file_name)
    limit = resources.MAX_FILE_BYTES
    if len(content) > limit:
        raise services.ReferralError(
            f"{name} is {documents.describe_size(len(content))}; an import file can be at "
            f"most {documents.describe_size(limit)}. Split it into smaller files."
        )
    if not content.strip():
        raise services.ReferralError(f"{name} is empty.")
    import_jobs_purge(before=timezone.now() - KEEP_UNIMPORTED)
    job = ImportJob.objects.create(created_by=by, file_name=name, content=content)
    import_job_validate.enqueue(job_id=job.pk)
    return job


def import_jobs_purge(*, before: datetime.datetime) -> None:
    """Delete uploads from before `before` that were never imported (with their rows)."""
    ImportJob.objects.filter(created_at__lt=before).exclude(
        state__in=[ImportJobState.IMPORTING, ImportJobState.DONE]
    ).delete()


# --- validation ---------------------------------------------------------------------------


@task()
def import_job_validate(*, job_id: int) -> str:
    """Check every row of the job's file, storing rows and progress batch by batch."""
    attempt = _claim_for_validation(job_id)
    if attempt is None:
        return "nothing to check"
    content = ImportJob.objects.filter(pk=job_id).values_list("content", flat=True).first()
    if content is None:  # discarded meanwhile
        return "nothing to check"
    try:
        rows = resources.read_rows(bytes(content))
    except resources.ImportFileError as error:
        _report(
            job_id,
            attempt,
            state=ImportJobState.FAILED,
            problem=str(error),
            finished_at=timezone.now(),
        )
        return "failed"
    if not _report(job_id, attempt, rows_total=len(rows)):
        return "replaced"
    check = FileCheck()
    processed = with_problems = flagged = 0
    for start in range(0, len(rows), BATCH_ROWS):
        checks = check.batch(rows[start : start + BATCH_ROWS])
        processed += len(checks)
        with_problems += sum(1 for c in checks if c.row.problems)
        flagged += sum(1 for c in checks if c.known or c.earlier)
        with transaction.atomic():
            # Progress first: it takes the job's row lock, so a run that was replaced
            # meanwhile stops here without adding its rows to the new run's.
            if not _report(
                job_id,
                attempt,
                rows_processed=processed,
                rows_with_problems=with_problems,
                rows_flagged=flagged,
            ):
                return "replaced"
            ImportJobRow.objects.bulk_create(
                ImportJobRow(
                    job_id=job_id,
                    number=c.row.number,
                    values=c.row.values,
                    problems=c.row.problems,
                    has_problems=bool(c.row.problems),
                    duplicate_of=c.duplicate_of,
                )
                for c in checks
            )
    _report(job_id, attempt, state=ImportJobState.VALIDATED)
    return "checked"


@transaction.atomic
def _claim_for_validation(job_id: int) -> int | None:
    """Start (or start over) the check of a queued or interrupted job: the new attempt."""
    job = (
        ImportJob.objects.select_for_update()
        .filter(pk=job_id, state__in=[ImportJobState.QUEUED, ImportJobState.VALIDATING])
        .only("attempt")
        .first()
    )
    if job is None:  # checked already, imported, or discarded
        return None
    job.rows.all().delete()
    ImportJob.objects.filter(pk=job_id).update(
        state=ImportJobState.VALIDATING,
        attempt=F("attempt") + 1,
        rows_total=None,
        rows_processed=0,
        rows_with_problems=0,
        rows_flagged=0,
        heartbeat_at=timezone.now(),
    )
    return job.attempt + 1


def _report(job_id: int, attempt: int, **fields) -> bool:
    """Record progress of this validation run; False if another run replaced it (or the job
    was discarded), which must then stop."""
    current = ImportJob.objects.filter(pk=job_id, attempt=attempt, state=ImportJobState.VALIDATING)
    return current.update(heartbeat_at=timezone.now(), **fields) == 1


# --- confirm and import --------------------------------------------------------------------------


@transaction.atomic
def import_job_confirm(
    *, job: ImportJob, by: AbstractBaseUser, ip_address: str | None
) -> ImportJob:
    """Queue the import of a clean, checked file: once, however often it is confirmed."""
    now = timezone.now()
    confirmed = ImportJob.objects.filter(
        pk=job.pk, state=ImportJobState.VALIDATED, rows_with_problems=0
    ).update(
        state=ImportJobState.IMPORTING,
        confirmed_by=by,
        confirmed_at=now,
        confirmed_from=ip_address,
        heartbeat_at=now,
    )
    job.refresh_from_db(fields=["state", "rows_with_problems", "problem"])
    if not confirmed:
        raise services.ReferralError(_why_not_importable(job))
    import_job_run.enqueue(job_id=job.pk)
    return job


def _why_not_importable(job: ImportJob) -> str:
    if job.state in (ImportJobState.IMPORTING, ImportJobState.DONE):
        return "This file was confirmed already; it is imported once."
    if job.state == ImportJobState.FAILED:
        return job.problem
    if job.rows_with_problems:
        return "Nothing can be imported until every row is clean: correct the file and upload it."
    return "The file is still being checked; confirm it when the check is done."


@task()
def import_job_run(*, job_id: int) -> str:
    """Check the confirmed file again, then write every row, all or nothing, with the job.

    The check runs before the write transaction opens: on SQLite that transaction holds the
    database's write lock, which every other writer waits for. The transaction then makes sure
    the job was not imported meanwhile (the task delivered twice) before it writes.
    """
    content = (
        ImportJob.objects.filter(pk=job_id, state=ImportJobState.IMPORTING)
        .values_list("content", flat=True)
        .first()
    )
    if content is None:
        return "nothing to import"  # imported already: a second run, or a resumed one
    try:
        checks = _check_all(resources.read_rows(bytes(content)))
    except resources.ImportFileError as error:
        checks, problem = [], str(error)
    else:
        problem = _first_problem(checks)
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().defer("content").filter(pk=job_id).first()
        if job is None or job.state != ImportJobState.IMPORTING:
            return "nothing to import"
        now = timezone.now()
        if problem:
            job.state, job.problem, job.finished_at = ImportJobState.FAILED, problem, now
            job.save(update_fields=["state", "problem", "finished_at"])
            return "failed"
        services.referral_import(
            leads=[_imported(c) for c in checks],
            by=job.confirmed_by,
            file_name=job.file_name,
            job=job,
        )
        flagged = sum(1 for c in checks if c.known or c.earlier)
        job.rows.all().delete()
        job.content = b""  # the leads hold the data from now on
        job.state, job.finished_at, job.heartbeat_at = ImportJobState.DONE, now, now
        job.leads_created, job.rows_flagged = len(checks), flagged
        job.save(
            update_fields=[
                "content",
                "state",
                "finished_at",
                "heartbeat_at",
                "leads_created",
                "rows_flagged",
            ]
        )
        services.access_log_record(
            user=job.confirmed_by,
            action=AccessAction.IMPORT,
            detail=f"Referral import of {job.file_name}: {len(checks)} leads, "
            f"{flagged} flagged as possible duplicates",
            ip_address=job.confirmed_from,
        )
    return "imported"


def _check_all(rows: list[tuple[int, dict]]) -> list[RowCheck]:
    check = FileCheck()
    return [
        c
        for start in range(0, len(rows), BATCH_ROWS)
        for c in check.batch(rows[start : start + BATCH_ROWS])
    ]


def _first_problem(checks: list[RowCheck]) -> str:
    bad = [c.row for c in checks if c.row.problems]
    if not bad:
        return ""
    first = bad[0]
    column, messages = next(iter(first.problems.items()))
    return (
        f"Nothing was imported: the file no longer passes the check ({len(bad)} row(s) with "
        f"problems; row {first.number}, {column}: {' '.join(messages)}). Upload it again to "
        "see every problem."
    )


def _imported(check: RowCheck) -> services.ImportedReferral:
    patient, referral = resources.new_records(check.row.lead)
    return services.ImportedReferral(
        row=check.row.number,
        patient=patient,
        referral=referral,
        known_duplicates=check.known,
        earlier_rows=check.earlier,
    )


# --- resume and discard --------------------------------------------------------------------


def is_stale(job: ImportJob, now: datetime.datetime) -> bool:
    """The worker has been silent on a running job long enough to have stopped."""
    return job.state in IMPORT_JOB_RUNNING_STATES and now - job.heartbeat_at > STALE_AFTER


@transaction.atomic
def import_job_resume(*, job: ImportJob) -> None:
    """Queue a stopped job's task again; harmless should the first one still be running."""
    current = ImportJob.objects.select_for_update().defer("content").get(pk=job.pk)
    now = timezone.now()
    if not is_stale(current, now):
        raise services.ReferralError("The task worker is still on this file; wait for it.")
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=now)
    if current.state == ImportJobState.IMPORTING:
        import_job_run.enqueue(job_id=job.pk)
    else:
        import_job_validate.enqueue(job_id=job.pk)


@transaction.atomic
def import_job_discard(*, job: ImportJob) -> None:
    """Delete an upload that was not imported, with its rows (a running check stops)."""
    discardable = ImportJob.objects.filter(pk=job.pk).exclude(
        state__in=[ImportJobState.IMPORTING, ImportJobState.DONE]
    )
    if not discardable.delete()[0]:
        raise services.ReferralError(
            "This file is being imported or was imported; it cannot be discarded."
        )
