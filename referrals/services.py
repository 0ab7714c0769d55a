"""Every write to referrals: keyword-only, atomic, and leaving a timeline event behind.

Services raise `ReferralError` for anything the domain refuses; views and admin actions turn it
into a message and nothing is written.
"""

import datetime
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import CharField, DateTimeField, IntegerField, Value
from django.utils import timezone

from referrals import access, documents, pipeline, selectors, tasks
from referrals.models import (
    AccessLog,
    FollowUpVisit,
    ImportJob,
    LeadDocument,
    Patient,
    PriorTreatmentLine,
    Referral,
    ReferralEvent,
    ReferralSnapshot,
    ScreeningRecord,
    Task,
    TreatmentOutcome,
    add_months,
)
from referrals.vocabulary import (
    FOLLOW_UP_MONTHS,
    FOLLOW_UP_STAGES,
    GRADE_MAX,
    GRADES,
    HOSPITAL_OPEN_STAGES,
    MEASURES,
    NOTE_KINDS,
    CloseReason,
    DocumentKind,
    EventKind,
    Source,
    Stage,
)
from trials.models import Condition, Program, ProgramStatus, Therapy, Trial, TrialStatus


class ReferralError(Exception):
    """A request the domain refuses; the message is shown to the user as is."""


class ReferralConflict(ReferralError):
    def __init__(self) -> None:
        super().__init__(
            "Someone else saved this referral while you were editing it. "
            "Reload the page to see their changes, then make yours again."
        )


def _display_name(user: AbstractBaseUser | None) -> str:
    if user is None:
        return "nobody"
    return user.get_full_name() or user.get_username()


def _locked(referral: Referral, expected_version: int) -> Referral:
    """The current row, locked for this transaction, if nobody saved it since we loaded it.

    The row lock (PostgreSQL) or the IMMEDIATE write transaction (SQLite) serialises concurrent
    saves, so of two coordinators who loaded the same version exactly one wins; the other gets
    `ReferralConflict` and nothing of theirs is written.
    """
    current = Referral.objects.select_for_update().get(pk=referral.pk)
    if current.version != expected_version:
        raise ReferralConflict()
    return current


def _save_new_version(referral: Referral) -> None:
    referral.version += 1
    referral.save()


def _event(referral: Referral, kind: EventKind, by, body: str = "", **fields) -> ReferralEvent:
    return ReferralEvent.objects.create(
        referral=referral, kind=kind, body=body, author=by, **fields
    )


def _arrival_event_list(referral: Referral, by, body: str, **fields) -> list[ReferralEvent]:
    """A new lead's first events, unsaved: its arrival, and its coordinator if it has one."""
    events = [
        ReferralEvent(referral=referral, kind=EventKind.CREATED, body=body, author=by, **fields)
    ]
    if referral.assigned_to_id:
        events.append(
            ReferralEvent(
                referral=referral,
                kind=EventKind.ASSIGNMENT,
                body=f"Assigned to {_display_name(referral.assigned_to)}",
                author=by,
            )
        )
    return events


def _arrival_events(referral: Referral, by, body: str, **fields) -> None:
    """A new lead's first events: one INSERT."""
    ReferralEvent.objects.bulk_create(_arrival_event_list(referral, by, body, **fields))


def _as_new_lead(referral: Referral, now: datetime.datetime, detail: str) -> str:
    """Stamp an unsaved lead as new at `now`; the body of its "created" event."""
    referral.created_at = referral.stage_changed_at = now
    referral.version = 1
    return f"Lead received ({referral.get_source_display()}). {detail}".strip()


def _duplicate_note(duplicates: Iterable[int]) -> str:
    ids = ", ".join(f"#{pk}" for pk in duplicates)
    return f" Possible duplicate of {ids}." if ids else ""


@transaction.atomic
def referral_create(
    *, referral: Referral, by: AbstractBaseUser | None, detail: str = ""
) -> Referral:
    """Save a new lead with its first timeline events (`detail` is added to the first one)."""
    body = _as_new_lead(referral, timezone.now(), detail)
    referral.save()
    _arrival_events(referral, by, body)
    return referral


@transaction.atomic
def referral_update(
    *,
    referral: Referral,
    changed_fields: Iterable[str],
    expected_version: int,
    by: AbstractBaseUser | None,
) -> Referral:
    """Save edited fields of a lead (the admin form); the stage only moves by transition."""
    current = _locked(referral, expected_version)
    changed = [name for name in changed_fields if name not in {"version", "stage"}]
    for name in changed:
        setattr(current, name, getattr(referral, name))
    _save_new_version(current)
    if "assigned_to" in changed:
        _event(
            current, EventKind.ASSIGNMENT, by, f"Assigned to {_display_name(current.assigned_to)}"
        )
    return current


@dataclass(frozen=True)
class _Move:
    """What a stage move carries besides its stage; each public move fills in its own part."""

    close_reason: str = ""
    close_detail: str = ""
    screen_failure_criterion: str = ""
    note: str = ""
    scheduled_for: datetime.date | None = None
    hospital_decline_reason: str = ""


@transaction.atomic
def referral_transition(
    *,
    referral: Referral,
    to_stage: str,
    by: AbstractBaseUser | None,
    expected_version: int,
    close_reason: str = "",
    close_detail: str = "",
    screen_failure_criterion: str = "",
    note: str = "",
    scheduled_for: datetime.date | None = None,
) -> Referral:
    """Move a lead to another stage if the pipeline allows it, with its timeline event.

    The coordinator's move, from the lead page or the board, including the hospital's moves a
    coordinator records when the hospital answers by phone. A hospital liaison calling it moves
    as a liaison: only the moves in `pipeline.LIAISON_MOVES`, only on a lead referred to their
    hospital. Moving to "referred" takes the `ReferralSnapshot` the hospital will read.
    """
    role = access.role_of(by)
    current = _locked(referral, expected_version)
    if role == pipeline.Role.LIAISON:
        _check_liaison_scope(current, by)
    move = _Move(
        close_reason=close_reason,
        close_detail=close_detail,
        screen_failure_criterion=screen_failure_criterion,
        note=note,
        scheduled_for=scheduled_for,
    )
    return _stage_move(current, to_stage=to_stage, by=by, role=role, move=move)[0]


@transaction.atomic
def hospital_accept(
    *, referral: Referral, by: AbstractBaseUser | None, expected_version: int, note: str = ""
) -> Referral:
    """The hospital accepts the referral; the coordinator is told."""
    current = _liaison_locked(referral, by, expected_version)
    return _stage_move(
        current, to_stage=Stage.ACCEPTED, by=by, role=pipeline.Role.LIAISON, move=_Move(note=note)
    )[0]


@transaction.atomic
def hospital_decline(
    *,
    referral: Referral,
    by: AbstractBaseUser | None,
    expected_version: int,
    reason: str,
    detail: str = "",
) -> Referral:
    """The hospital declines the referral, saying why; the lead closes and the coordinator is
    told."""
    current = _liaison_locked(referral, by, expected_version)
    move = _Move(
        close_reason=CloseReason.DECLINED_BY_HOSPITAL,
        close_detail=detail,
        hospital_decline_reason=reason,
    )
    return _stage_move(
        current, to_stage=Stage.CLOSED, by=by, role=pipeline.Role.LIAISON, move=move
    )[0]


@transaction.atomic
def hospital_report_treatment(
    *,
    referral: Referral,
    by: AbstractBaseUser | None,
    expected_version: int,
    infusion_date: datetime.date,
    note: str = "",
) -> Referral:
    """The hospital reports the infusion given on `infusion_date`; the coordinator is told."""
    current = _liaison_locked(referral, by, expected_version)
    move = _Move(note=note, scheduled_for=infusion_date)
    return _stage_move(
        current, to_stage=Stage.TREATED, by=by, role=pipeline.Role.LIAISON, move=move
    )[0]


def _stage_move(
    current: Referral,
    *,
    to_stage: str,
    by: AbstractBaseUser | None,
    role: pipeline.Role,
    move: _Move,
    notify_coordinator: bool = True,
) -> tuple[Referral, ReferralEvent]:
    """The move itself, on a row the caller has locked and whose scope it has checked.

    A hospital's move tells the coordinator (an e-mail task after commit, unless
    `notify_coordinator` is off because the caller tells them of several events at once, and
    the queue's badge).
    """
    from_stage = current.stage
    if pipeline.is_reopen(from_stage, to_stage):
        to_stage = _stage_before_closing(current)
    target_label, target_is_open = _target_state(current)
    facts = pipeline.TransitionFacts(
        has_eligible_screening=selectors.lead_has_eligible_screening(current),
        target_label=target_label,
        target_is_open=target_is_open,
        scheduled_for_set=bool(move.scheduled_for or current.scheduled_for),
        close_reason=move.close_reason,
        close_detail=move.close_detail,
        screen_failure_criterion=move.screen_failure_criterion,
        note=move.note,
        hospital_decline_reason=move.hospital_decline_reason,
        infusion_date=move.scheduled_for or current.scheduled_for,
        today=timezone.localdate(),
    )
    problems = pipeline.transition_problems(from_stage, to_stage, facts, role)
    if not problems and role == pipeline.Role.LIAISON and move.scheduled_for:
        problems = pipeline.hospital_date_problems(
            stage=from_stage,
            referred_on=_referred_on(current),
            consult=current.consult_date,
            apheresis=current.apheresis_date,
            infusion=move.scheduled_for,
        )
    if problems:
        raise ReferralError(" ".join(problems))

    now = timezone.now()
    current.stage = to_stage
    current.stage_changed_at = now
    if to_stage == Stage.CLOSED:
        current.close_reason, current.close_detail = move.close_reason, move.close_detail.strip()
        if move.close_reason == CloseReason.SCREEN_FAILED:
            current.screen_failure_criterion = move.screen_failure_criterion
        current.next_action, current.next_action_due = "", None
    elif from_stage == Stage.CLOSED:
        current.close_reason, current.close_detail = "", ""
        current.screen_failure_criterion = ""
    if move.scheduled_for:
        current.scheduled_for = move.scheduled_for
    _hospital_side_on_move(current, from_stage, to_stage, now, move.hospital_decline_reason)
    if role == pipeline.Role.LIAISON:
        current.hospital_update_at = now
    _save_new_version(current)
    if to_stage == Stage.REFERRED and from_stage != Stage.CLOSED:
        ReferralSnapshot.objects.create(
            referral=current,
            program=current.target_program,
            trial=current.target_trial,
            data=selectors.referral_snapshot_data(current),
            taken_by=by,
            taken_at=now,
        )
    body = move.note.strip()
    if to_stage == Stage.CLOSED:
        body = " — ".join(
            filter(
                None,
                [
                    current.get_close_reason_display(),
                    current.get_screen_failure_criterion_display(),
                    current.get_hospital_decline_reason_display(),
                    move.close_detail.strip(),
                    body,
                ],
            )
        )
    if role == pipeline.Role.LIAISON:
        body = " ".join(filter(None, [f"By {_hospital_of(by)}.", body]))
    event = _event(
        current, EventKind.STAGE_CHANGE, by, body, from_stage=from_stage, to_stage=to_stage
    )
    if role == pipeline.Role.LIAISON and notify_coordinator:
        _notify_coordinator(current, [event])
    return current, event


def _hospital_side_on_move(
    referral: Referral, from_stage: str, to_stage: str, now, decline_reason: str
) -> None:
    """Keep the hospital's dates in step with the stage.

    A new referral starts the hospital side afresh; withdrawing it (back to "eligible") clears
    `referred_at`, which takes it off the hospital's list; the first acceptance or hospital
    decline is the hospital's decision, and a decision implies the referral was received.
    """
    if to_stage == Stage.REFERRED and from_stage != Stage.CLOSED:
        referral.referred_at = now
        referral.receipt_confirmed_at = referral.hospital_decision_at = None
        referral.hospital_decline_reason = ""
        referral.consult_date = referral.apheresis_date = None
    elif from_stage == Stage.REFERRED and to_stage == Stage.ELIGIBLE:
        referral.referred_at = None
    elif from_stage == Stage.CLOSED:
        referral.hospital_decline_reason = ""
        if to_stage == Stage.REFERRED:
            referral.hospital_decision_at = None
    decided = (from_stage == Stage.REFERRED and to_stage == Stage.ACCEPTED) or (
        from_stage in (Stage.REFERRED, Stage.ACCEPTED)
        and to_stage == Stage.CLOSED
        and referral.close_reason == CloseReason.DECLINED_BY_HOSPITAL
    )
    if decided:
        referral.hospital_decision_at = referral.hospital_decision_at or now
        referral.receipt_confirmed_at = referral.receipt_confirmed_at or now
        if to_stage == Stage.CLOSED:
            referral.hospital_decline_reason = decline_reason


def _stage_before_closing(referral: Referral) -> str:
    last_close = (
        referral.events.filter(kind=EventKind.STAGE_CHANGE, to_stage=Stage.CLOSED)
        .order_by("-created_at", "-id")
        .values_list("from_stage", flat=True)
        .first()
    )
    return last_close or Stage.CONTACTED


def _target_state(referral: Referral) -> tuple[str, bool]:
    if referral.target_program_id:
        program = referral.target_program
        return str(program), program.status == ProgramStatus.ACCEPTING
    if referral.target_trial_id:
        trial = referral.target_trial
        return str(trial), trial.overall_status == TrialStatus.RECRUITING
    return "", False


@transaction.atomic
def referral_assign(
    *,
    referral: Referral,
    assignee: AbstractBaseUser | None,
    by: AbstractBaseUser | None,
    expected_version: int,
) -> Referral:
    current = _locked(referral, expected_version)
    if current.assigned_to_id == (assignee.pk if assignee else None):
        raise ReferralError(f"The lead is already assigned to {_display_name(assignee)}.")
    current.assigned_to = assignee
    _save_new_version(current)
    _event(current, EventKind.ASSIGNMENT, by, f"Assigned to {_display_name(assignee)}")
    return current


@transaction.atomic
def referral_set_target(
    *,
    referral: Referral,
    program: Program | None = None,
    trial: Trial | None = None,
    by: AbstractBaseUser | None,
    expected_version: int,
) -> Referral:
    """Choose where the lead will be referred: one program or one trial."""
    if (program is None) == (trial is None):
        raise ReferralError("Choose exactly one program or trial as the target.")
    current = _locked(referral, expected_version)
    current.target_program, current.target_trial = program, trial
    _save_new_version(current)
    _event(current, EventKind.TARGET, by, f"Target: {program or trial}")
    return current


@transaction.atomic
def referral_set_next_action(
    *,
    referral: Referral,
    next_action: str,
    next_action_due: datetime.date | None,
    by: AbstractBaseUser | None,
    expected_version: int,
) -> Referral:
    current = _locked(referral, expected_version)
    current.next_action, current.next_action_due = next_action.strip(), next_action_due
    _save_new_version(current)
    return current


@transaction.atomic
def referral_add_note(
    *, referral: Referral, kind: str, body: str, by: AbstractBaseUser | None
) -> ReferralEvent:
    """A note, call, e-mail or received document on the lead's timeline."""
    if kind not in NOTE_KINDS:
        raise ReferralError("A note must be a note, a call, an e-mail or a received document.")
    if not body.strip():
        raise ReferralError("The note is empty.")
    return _event(referral, EventKind(kind), by, body.strip())


def _accepted_types() -> str:
    names = [documents.TYPE_NAMES[t].split()[0] for t in settings.DOCUMENT_CONTENT_TYPES]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


@transaction.atomic
def document_upload(
    *,
    referral: Referral,
    uploaded_file: UploadedFile,
    kind: str,
    by: AbstractBaseUser | None,
) -> LeadDocument:
    """Keep a consent form or medical record received for the lead, with its timeline event.

    The size is checked before the file is read; the type is sniffed from the first bytes (the
    browser's content type is ignored) and must agree with the file's extension, so an ".exe" or
    an HTML page renamed ".pdf" is refused. Then the whole file must read as that type and no
    other, a PDF without active content (`documents.check_content`). The file goes to the private
    storage under a random name; if anything fails after that, the file is removed again.
    """
    if kind not in DocumentKind.values:
        raise ReferralError("Choose what kind of document this is.")
    filename = documents.display_filename(uploaded_file.name or "")
    limit = settings.DOCUMENT_MAX_BYTES
    if uploaded_file.size > limit:
        raise ReferralError(
            f"{filename} is {documents.describe_size(uploaded_file.size)}; "
            f"documents can be at most {documents.describe_size(limit)}."
        )
    if not uploaded_file.size:
        raise ReferralError(f"{filename} is empty.")
    uploaded_file.seek(0)
    content_type = documents.sniff_document(uploaded_file.read(documents.SNIFF_BYTES))
    if content_type not in settings.DOCUMENT_CONTENT_TYPES:
        raise ReferralError(
            f"{filename} is not a {_accepted_types()} file (its content was checked, not its "
            "name). Scan or save the document as PDF, PNG or JPEG and upload it again."
        )
    if not documents.name_matches_type(filename, content_type):
        expected = " or ".join(documents.EXTENSIONS[content_type])
        raise ReferralError(
            f"{filename} holds a {documents.TYPE_NAMES[content_type]}, but its name does not end "
            f"in {expected}. Rename it and upload it again."
        )
    uploaded_file.seek(0)
    content = uploaded_file.read()  # at most DOCUMENT_MAX_BYTES (checked above)
    try:
        documents.check_content(content, content_type)
    except documents.DocumentRefused as refused:
        raise ReferralError(f"{filename} {refused}") from refused
    uploaded_file.seek(0)
    document = LeadDocument(
        referral=referral,
        kind=kind,
        original_filename=filename,
        content_type=content_type,
        size=uploaded_file.size,
        sha256=hashlib.sha256(content).hexdigest(),
        uploaded_by=by,
    )
    document.file.save("upload", uploaded_file, save=False)  # the name comes from upload_to
    try:
        document.save()
        _event(
            referral,
            EventKind.DOCUMENT_RECEIVED,
            by,
            f"{document.get_kind_display()}: {filename} ({documents.describe_size(document.size)})",
        )
    except BaseException:
        document.file.storage.delete(document.file.name)
        raise
    return document


@transaction.atomic
def screening_record(
    *, referral: Referral, kind: str, candidate_id: int, by: AbstractBaseUser | None
) -> ScreeningRecord:
    """Evaluate the lead's patient against one candidate now and keep the result."""
    patient = selectors.patient_for_eligibility(referral.patient_id)
    evaluation = next(
        (
            e
            for e in selectors.patient_evaluations(patient)
            if e.candidate.kind == kind and e.candidate.id == candidate_id
        ),
        None,
    )
    if evaluation is None:
        raise ReferralError("That program or trial no longer exists.")
    record = ScreeningRecord.objects.create(
        referral=referral,
        program_id=candidate_id if kind == "program" else None,
        trial_id=candidate_id if kind == "trial" else None,
        candidate_name=evaluation.candidate.name,
        verdict=evaluation.verdict.value,
        criteria=evaluation.criteria_dicts(),
        recorded_by=by,
    )
    failed = ", ".join(evaluation.failed_criteria)
    detail = f" (failed: {failed})" if failed else ""
    _event(
        referral,
        EventKind.SCREENING,
        by,
        f"{evaluation.candidate.name}: {evaluation.verdict.label}{detail}",
    )
    return record


@transaction.atomic
def treatment_line_save(
    *,
    referral: Referral,
    line: PriorTreatmentLine,
    therapies: Iterable[Therapy],
    by: AbstractBaseUser | None,
) -> PriorTreatmentLine:
    """Add or correct a prior treatment line of the lead's patient (already validated)."""
    if line.patient_id != referral.patient_id:
        raise ReferralError("That treatment line belongs to another patient.")
    is_new = line.pk is None
    line.save()
    line.therapies.set(therapies)
    regimen = " + ".join(t.name for t in line.therapies.all())
    verb = "added" if is_new else "updated"
    _event(
        referral,
        EventKind.TREATMENT_LINE,
        by,
        f"Line {line.line_number} {verb}: {regimen} ({line.get_reason_stopped_display()})",
    )
    return line


@transaction.atomic
def task_create(
    *,
    referral: Referral,
    title: str,
    due_on: datetime.date,
    assignee: AbstractBaseUser,
    by: AbstractBaseUser | None,
) -> Task:
    if not title.strip():
        raise ReferralError("A task needs a title.")
    task = Task.objects.create(
        referral=referral, title=title.strip(), due_on=due_on, assignee=assignee, created_by=by
    )
    _event(
        referral,
        EventKind.TASK,
        by,
        f"Task for {_display_name(assignee)} due {due_on:%d %b %Y}: {task.title}",
    )
    return task


@transaction.atomic
def task_complete(*, task: Task, by: AbstractBaseUser | None) -> Task:
    if task.is_done:
        raise ReferralError("That task is already done.")
    task.done_at = timezone.now()
    task.save(update_fields=["done_at"])
    _event(task.referral, EventKind.TASK, by, f"Done: {task.title}")
    return task


@dataclass(frozen=True)
class IntakeSubmission:
    """A validated public intake form, as plain values."""

    submitter_role: str
    submitter_name: str
    first_name: str
    last_name: str
    date_of_birth: datetime.date | None
    stated_age: int | None
    phone: str
    email: str
    condition_slug: str
    condition_other: str
    diagnosis_year: int | None
    treatments: list[tuple[int, str]]  # (therapy id, reason stopped), in the order given
    message: str
    preferred_language: str
    contact_channel: str
    consent_version: str
    consent_text: str


def intake_submit(*, submission: IntakeSubmission) -> Referral:
    """Create the patient, the lead, its treatment lines and first event in one transaction.

    The lead goes to the coordinator with the fewest open leads and is flagged against likely
    duplicates; the e-mails are queued as tasks in the same transaction and sent by the worker,
    so a failing mail server can delay them but never lose the lead. The lookups are made before
    the transaction opens: on SQLite the transaction holds the database's write lock, which
    every other submission waits for, and the lookups were half of its time.
    """
    duplicates = selectors.possible_duplicates(
        phone=submission.phone,
        email=submission.email,
        first_name=submission.first_name,
        last_name=submission.last_name,
        date_of_birth=submission.date_of_birth,
    )
    return _intake_write(
        submission,
        duplicates=duplicates,
        coordinator=selectors.coordinator_with_fewest_open_leads(),
        condition=Condition.objects.filter(slug=submission.condition_slug).first(),
    )


@transaction.atomic
def _intake_write(
    submission: IntakeSubmission,
    *,
    duplicates: list[int],
    coordinator: AbstractBaseUser | None,
    condition: Condition | None,
) -> Referral:
    now = timezone.now()
    patient = Patient.objects.create(
        first_name=submission.first_name,
        last_name=submission.last_name,
        date_of_birth=submission.date_of_birth,
        stated_age=None if submission.date_of_birth else submission.stated_age,
        stated_age_on=None if submission.date_of_birth else timezone.localdate(now),
        phone=submission.phone,
        email=submission.email,
        preferred_language=submission.preferred_language,
        primary_condition=condition,
        condition_other=submission.condition_other,
        diagnosis_year=submission.diagnosis_year,
    )
    for number, (therapy_id, reason) in enumerate(submission.treatments, start=1):
        line = PriorTreatmentLine.objects.create(
            patient=patient, line_number=number, reason_stopped=reason
        )
        line.therapies.set([therapy_id])
    referral = Referral.objects.create(
        patient=patient,
        source=Source.WEB_FORM,
        stage=Stage.NEW,
        assigned_to=coordinator,
        next_action="First call to the patient",
        next_action_due=pipeline.contact_due_date(timezone.localdate(now)),
        submitter_role=submission.submitter_role,
        submitter_name=submission.submitter_name,
        contact_channel=submission.contact_channel,
        intake_message=submission.message,
        consent_version=submission.consent_version,
        consent_text=submission.consent_text,
        consented_at=now,
        created_at=now,
        stage_changed_at=now,
    )
    body = "Lead received from the public form." + _duplicate_note(duplicates)
    if duplicates:
        referral.possible_duplicates.add(*duplicates)
    _arrival_events(referral, None, body, to_stage=Stage.NEW)
    # The task queue is a table of this database, so the e-mails are written in the lead's
    # transaction: they commit with it or roll back with it, for one commit (on SQLite, one
    # turn of the write lock every other submission waits for) instead of two.
    tasks.coordinator_notify.enqueue(referral_id=referral.pk)
    tasks.submitter_acknowledge.enqueue(referral_id=referral.pk)
    return referral


@transaction.atomic
def referral_merge(*, keep: Referral, duplicate: Referral, by: AbstractBaseUser | None) -> Referral:
    """Fold a duplicate lead into `keep`; nothing is deleted.

    The duplicate's treatment lines, open tasks, notes and documents move to `keep` (lines
    renumbered after its own), blank contact details are filled from the duplicate, and the
    duplicate is closed as a duplicate pointing at `keep`, with its own stage history left in
    place.
    """
    keep = Referral.objects.select_for_update().select_related("patient").get(pk=keep.pk)
    duplicate = Referral.objects.select_for_update().select_related("patient").get(pk=duplicate.pk)
    if keep.pk == duplicate.pk:
        raise ReferralError("A lead cannot be merged into itself.")
    if duplicate.merged_into_id or not duplicate.is_open:
        raise ReferralError(f"Lead #{duplicate.pk} is closed or already merged.")
    if not keep.is_open:
        raise ReferralError("Merge into an open lead.")

    if duplicate.patient_id != keep.patient_id:
        _patient_absorb(keep=keep.patient, duplicate=duplicate.patient)
    duplicate.tasks.filter(done_at__isnull=True).update(referral=keep)
    duplicate.documents.update(referral=keep)
    duplicate.events.filter(kind__in=NOTE_KINDS).update(referral=keep)
    keep.possible_duplicates.remove(duplicate)
    keep.version += 1
    keep.save()

    from_stage = duplicate.stage
    duplicate.stage, duplicate.stage_changed_at = Stage.CLOSED, timezone.now()
    duplicate.close_reason = CloseReason.DUPLICATE
    duplicate.close_detail = f"Merged into lead #{keep.pk}"
    duplicate.merged_into = keep
    duplicate.next_action, duplicate.next_action_due = "", None
    duplicate.version += 1
    duplicate.save()
    _event(
        duplicate,
        EventKind.STAGE_CHANGE,
        by,
        duplicate.close_detail,
        from_stage=from_stage,
        to_stage=Stage.CLOSED,
    )
    _event(keep, EventKind.MERGE, by, f"Lead #{duplicate.pk} ({duplicate.patient}) merged in.")
    return keep


@dataclass(frozen=True)
class ImportedReferral:
    """One checked row of an import file, ready to be written."""

    row: int
    patient: Patient  # unsaved, validated
    referral: Referral  # unsaved: source, referring physician, intake message
    known_duplicates: tuple[int, ...]  # leads already in CareCRM, newest first
    earlier_rows: tuple[int, ...]  # earlier rows of the file for the same person, latest first


IMPORT_BATCH_SIZE = 500


@transaction.atomic
def referral_import(
    *,
    leads: list[ImportedReferral],
    by: AbstractBaseUser | None,
    file_name: str,
    job: ImportJob,
) -> list[Referral]:
    """Create every lead of an import file with its patient, all or nothing.

    Nothing is merged or skipped: like a public-form lead, each new lead is flagged with the
    leads of possibly the same person (already in CareCRM or earlier in the file) and goes to
    the active coordinator with the fewest open leads, first contact due in two working days.
    Written in bulk (patients, leads, events, duplicate flags: an INSERT per 500 of them, and
    one INSERT … SELECT for each history table), so a large file holds the database's write
    lock (SQLite) as short a time as the ORM allows.
    """
    now = timezone.now()
    due = pipeline.contact_due_date(timezone.localdate(now))
    patients = Patient.objects.bulk_create(
        [lead.patient for lead in leads], batch_size=IMPORT_BATCH_SIZE
    )
    referrals, bodies = [], []
    coordinators = selectors.coordinators_for_new_leads(len(leads))
    for lead, patient, coordinator in zip(leads, patients, coordinators, strict=True):
        referral = lead.referral
        referral.patient = patient
        referral.stage = Stage.NEW
        referral.assigned_to = coordinator
        referral.next_action = "First call to the patient"
        referral.next_action_due = due
        referral.import_job = job
        bodies.append(_as_new_lead(referral, now, f"Imported from {file_name}, row {lead.row}."))
        referrals.append(referral)
    Referral.objects.bulk_create(referrals, batch_size=IMPORT_BATCH_SIZE)
    _history_of_created(Patient, [patient.pk for patient in patients], by=by, at=now)
    _history_of_created(Referral, [referral.pk for referral in referrals], by=by, at=now)
    lead_of_row = {lead.row: referral.pk for lead, referral in zip(leads, referrals, strict=True)}
    events, flags = [], []
    flag = Referral.possible_duplicates.through
    for lead, referral, body in zip(leads, referrals, bodies, strict=True):
        earlier = [lead_of_row[row] for row in lead.earlier_rows]
        duplicates = [*earlier, *lead.known_duplicates]  # newest first
        events += _arrival_event_list(referral, by, body + _duplicate_note(duplicates))
        for other in duplicates:  # the relation is symmetrical: a row each way
            flags.append(flag(from_referral_id=referral.pk, to_referral_id=other))
            flags.append(flag(from_referral_id=other, to_referral_id=referral.pk))
    ReferralEvent.objects.bulk_create(events, batch_size=IMPORT_BATCH_SIZE)
    flag.objects.bulk_create(flags, batch_size=IMPORT_BATCH_SIZE, ignore_conflicts=True)
    return referrals


def _history_of_created(model, pks: list[int], *, by: AbstractBaseUser | None, at) -> None:
    """The "created" history rows (django-simple-history's) of rows just inserted in bulk,
    copied by the database, an INSERT … SELECT per 500 rows: what `bulk_history_create` writes,
    without building and preparing a historical instance per row in Python (that was 40 % of an
    import's write)."""
    if not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        return
    history = model.history.model
    stamp = {
        "history_date": Value(at, output_field=DateTimeField()),
        "history_change_reason": Value(None, output_field=CharField()),
        "history_type": Value("+"),
        "history_user_id": Value(by.pk if by else None, output_field=IntegerField()),
    }
    tracked = [field.attname for field in history.tracked_fields]
    columns = [history._meta.get_field(name).column for name in (*tracked, *stamp)]
    quote = connection.ops.quote_name
    insert = f"INSERT INTO {quote(history._meta.db_table)} ({', '.join(map(quote, columns))})"
    for start in range(0, len(pks), IMPORT_BATCH_SIZE):
        rows = model.objects.filter(pk__in=pks[start : start + IMPORT_BATCH_SIZE]).order_by()
        select = rows.annotate(**{f"stamp_{name}": value for name, value in stamp.items()})
        sql, params = select.values_list(
            *tracked, *(f"stamp_{name}" for name in stamp)
        ).query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"{insert} {sql}", params)


def _patient_absorb(*, keep: Patient, duplicate: Patient) -> None:
    next_number = max((line.line_number for line in keep.treatment_lines.all()), default=0)
    for line in duplicate.treatment_lines.order_by("line_number"):
        next_number += 1
        line.patient, line.line_number = keep, next_number
        line.save()
    for field in ("date_of_birth", "phone", "email", "city", "diagnosis_year", "condition_other"):
        if not getattr(keep, field) and getattr(duplicate, field):
            setattr(keep, field, getattr(duplicate, field))
    if keep.primary_condition_id is None:
        keep.primary_condition_id = duplicate.primary_condition_id
    keep.save()


def access_log_record(
    *,
    user: AbstractBaseUser | None,
    action: str,
    referral: Referral | None = None,
    patient: Patient | None = None,
    detail: str = "",
    ip_address: str | None = None,
) -> AccessLog:
    """Append one line to the read-access log (lead and patient views, exports, imports)."""
    return AccessLog.objects.create(
        user=user,
        action=action,
        referral=referral,
        patient=patient or (referral.patient if referral else None),
        detail=detail[:500],
        ip_address=ip_address,
    )


ERASED = "[erased]"


@transaction.atomic
def patient_erase(*, patient: Patient, by: AbstractBaseUser | None, reason: str) -> Patient:
    """Anonymise a patient on request or at the end of retention; nothing is deleted.

    Kept, for aggregate statistics and the pseudonymous screening log: the diagnosis, sex, the
    diagnosis year, treatment lines (therapies, dates, outcomes), stages, dates, sources,
    screening verdicts, the CAR-T outcome and follow-up measures (not the visit notes), and each
    document's kind, type, size and date. Removed: names, contact details, date of birth, free
    text that may identify the person, the documents' files and file names (the files are
    deleted once the erasure commits), and the history rows that still hold the old values.
    """
    if not reason.strip():
        raise ReferralError("Say why the patient is erased (the request or the retention rule).")
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if patient.erased_at:
        raise ReferralError("This patient was already erased.")
    patient.first_name, patient.last_name = "Erased", f"patient #{patient.pk}"
    patient.date_of_birth = patient.stated_age_on = None
    patient.stated_age = None
    patient.phone = patient.email = patient.city = ""
    patient.notes = patient.exclusions = patient.condition_other = ""
    patient.erased_at = timezone.now()
    patient.save()
    patient.treatment_lines.update(notes="")
    FollowUpVisit.objects.filter(outcome__referral__patient=patient).update(notes="")
    referrals = Referral.objects.filter(patient=patient)
    referrals.update(
        referring_physician_name="",
        referring_physician_contact="",
        submitter_name="",
        intake_message="",
        close_detail="",
        next_action="",
        consent_text="",
    )
    ReferralEvent.objects.filter(
        referral__patient=patient, kind__in=[*NOTE_KINDS, EventKind.DOCUMENTS_REQUESTED]
    ).update(body=ERASED)
    for snapshot in ReferralSnapshot.objects.filter(referral__patient=patient):
        snapshot.data = _erased_snapshot(snapshot.data)
        snapshot.save(update_fields=["data"])
    Task.objects.filter(referral__patient=patient).update(title=ERASED)
    patient_documents = LeadDocument.objects.filter(referral__patient=patient)
    stored = [name for name in patient_documents.values_list("file", flat=True) if name]
    patient_documents.update(original_filename=ERASED, file="", sha256="")
    storage = LeadDocument._meta.get_field("file").storage

    def delete_files() -> None:
        for name in stored:
            storage.delete(name)

    transaction.on_commit(delete_files)
    # The audit history would otherwise keep every erased value.
    Patient.history.filter(id=patient.pk).delete()
    Referral.history.filter(patient_id=patient.pk).delete()
    PriorTreatmentLine.history.filter(patient_id=patient.pk).delete()
    for referral in referrals:
        _event(referral, EventKind.NOTE, by, f"Patient data erased: {reason.strip()}")
    return patient


# --- hand-off and follow-up --------------------------------------------------------------


@transaction.atomic
def referral_packet_send(
    *, referral: Referral, pdf: bytes, sent_to: str, by: AbstractBaseUser | None
) -> LeadDocument:
    """Keep the referral packet's PDF with the lead's documents and record that it was sent.

    The PDF goes to the private storage like an uploaded document (kind "referral letter"); if
    anything fails after the file is written, the file is removed again.
    """
    current = Referral.objects.select_related("target_program__hospital", "target_trial").get(
        pk=referral.pk
    )
    target = current.target_program or current.target_trial
    if target is None:
        raise ReferralError("Choose the target program or trial before sending the packet.")
    if not sent_to.strip():
        raise ReferralError("Say whom the packet was sent to (a name, an address or a fax).")
    if not pdf.startswith(documents.SIGNATURES["application/pdf"]):
        raise ReferralError("The packet could not be rendered as a PDF; nothing was sent.")
    today = timezone.localdate()
    document = LeadDocument(
        referral=current,
        kind=DocumentKind.REFERRAL_LETTER,
        original_filename=f"referral-packet-lead-{current.pk}-{today:%Y-%m-%d}.pdf",
        content_type="application/pdf",
        size=len(pdf),
        sha256=hashlib.sha256(pdf).hexdigest(),
        uploaded_by=by,
    )
    document.file.save("packet", ContentFile(pdf), save=False)
    try:
        document.save()
        _event(
            current,
            EventKind.PACKET_SENT,
            by,
            f"Referral packet for {target} sent to {sent_to.strip()}; "
            f"kept as {document.original_filename} ({documents.describe_size(document.size)}).",
        )
    except BaseException:
        document.file.storage.delete(document.file.name)
        raise
    return document


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


# --- the hospital side ---------------------------------------------------------------------
# What a hospital liaison does on a referral sent to their hospital. Every action checks the
# liaison's scope, writes a timeline event, marks the lead for the coordinator's queue and
# queues an e-mail to the coordinator once the transaction commits. Accepting, declining,
# scheduling and reporting the treatment are stage moves through `_stage_move`.


def _check_liaison_scope(referral: Referral, by: AbstractBaseUser | None) -> None:
    if not access.may_see_referral(by, referral):
        raise ReferralError(f"Lead #{referral.pk} was not referred to your hospital.")


def _hospital_of(by: AbstractBaseUser | None) -> str:
    profile = access.liaison_profile_of(by) if by is not None else None
    return profile.hospital.name if profile else "the hospital"


def _referred_on(referral: Referral) -> datetime.date | None:
    return timezone.localdate(referral.referred_at) if referral.referred_at else None


def _notify_coordinator(referral: Referral, events: list[ReferralEvent]) -> None:
    event_ids = [event.pk for event in events]
    transaction.on_commit(
        lambda: tasks.hospital_update_notify.enqueue(referral_id=referral.pk, event_ids=event_ids)
    )


def _liaison_locked(
    referral: Referral, by: AbstractBaseUser | None, expected_version: int | None = None
) -> Referral:
    if by is None or not access.is_liaison(by):
        raise ReferralError("Only a hospital liaison can do this.")
    if expected_version is None:
        current = Referral.objects.select_for_update().get(pk=referral.pk)
    else:
        current = _locked(referral, expected_version)
    _check_liaison_scope(current, by)
    return current


@transaction.atomic
def hospital_confirm_receipt(
    *, referral: Referral, by: AbstractBaseUser | None, expected_version: int
) -> Referral:
    """The hospital says it has the referral; the coordinator stops chasing it."""
    current = _liaison_locked(referral, by, expected_version)
    if current.stage != Stage.REFERRED:
        raise ReferralError("Receipt is confirmed while the referral awaits the hospital.")
    if current.receipt_confirmed_at:
        when = timezone.localtime(current.receipt_confirmed_at)
        raise ReferralError(f"Receipt was already confirmed on {when:%d %b %Y}.")
    now = timezone.now()
    current.receipt_confirmed_at = current.hospital_update_at = now
    _save_new_version(current)
    event = _event(
        current, EventKind.RECEIPT_CONFIRMED, by, f"{_hospital_of(by)} received the referral."
    )
    _notify_coordinator(current, [event])
    return current


@transaction.atomic
def hospital_request_documents(
    *, referral: Referral, by: AbstractBaseUser | None, message: str
) -> ReferralEvent:
    """The hospital needs more before it decides: a timeline event with its message and a task
    for the coordinator, due in two working days."""
    current = _liaison_locked(referral, by)
    if current.stage not in HOSPITAL_OPEN_STAGES:
        raise ReferralError("Documents can be requested while the referral is open.")
    if not message.strip():
        raise ReferralError("Say which documents the hospital needs.")
    hospital = _hospital_of(by)
    now = timezone.now()
    Referral.objects.filter(pk=current.pk).update(hospital_update_at=now)
    event = _event(current, EventKind.DOCUMENTS_REQUESTED, by, message.strip())
    if current.assigned_to_id:
        Task.objects.create(
            referral=current,
            title=f"Send the documents {hospital} asked for",
            due_on=pipeline.contact_due_date(timezone.localdate(now)),
            assignee_id=current.assigned_to_id,
            created_by=by,
        )
    _notify_coordinator(current, [event])
    return event


def _describe_dates(referral: Referral) -> str:
    parts = [
        (label, day)
        for label, day in (
            ("consult", referral.consult_date),
            ("apheresis", referral.apheresis_date),
            ("infusion", referral.scheduled_for),
        )
        if day
    ]
    text = " · ".join(f"{label} {day:%d %b %Y}" for label, day in parts)
    return text[:1].upper() + text[1:]


@transaction.atomic
def hospital_set_dates(
    *,
    referral: Referral,
    by: AbstractBaseUser | None,
    expected_version: int,
    consult_date: datetime.date | None,
    apheresis_date: datetime.date | None,
    infusion_date: datetime.date | None,
) -> Referral:
    """Propose or change the consult, apheresis and infusion dates.

    The consult comes first, apheresis and infusion only once the hospital accepted and never
    before the consult (`pipeline.hospital_date_problems`). An accepted referral that gets its
    infusion date is scheduled in the same transaction; a scheduled one keeps an infusion date.
    """
    current = _liaison_locked(referral, by, expected_version)
    problems = pipeline.hospital_date_problems(
        stage=current.stage,
        referred_on=_referred_on(current),
        consult=consult_date,
        apheresis=apheresis_date,
        infusion=infusion_date,
    )
    if current.stage == Stage.SCHEDULED and not infusion_date:
        problems.append("A scheduled referral keeps its infusion date; change it instead.")
    if problems:
        raise ReferralError(" ".join(problems))
    new = (consult_date, apheresis_date, infusion_date)
    if new == (current.consult_date, current.apheresis_date, current.scheduled_for):
        raise ReferralError("The dates are unchanged.")
    now = timezone.now()
    current.consult_date, current.apheresis_date = consult_date, apheresis_date
    current.scheduled_for = infusion_date
    current.hospital_update_at = now
    _save_new_version(current)
    events = [_event(current, EventKind.HOSPITAL_DATES, by, _describe_dates(current))]
    if current.stage == Stage.ACCEPTED and infusion_date:
        current, scheduled = _stage_move(
            current,
            to_stage=Stage.SCHEDULED,
            by=by,
            role=pipeline.Role.LIAISON,
            move=_Move(),
            notify_coordinator=False,
        )
        events.append(scheduled)
    _notify_coordinator(current, events)
    return current


@transaction.atomic
def coordinator_seen_mark(*, referral: Referral, by: AbstractBaseUser | None) -> None:
    """The assigned coordinator opened the lead: its hospital-update badge goes away.

    Not a change to the lead (no version, no history), so it never conflicts with a save.
    """
    if by is None or (referral.assigned_to_id and referral.assigned_to_id != by.pk):
        return
    Referral.objects.filter(pk=referral.pk).update(coordinator_seen_at=timezone.now())


def _erased_snapshot(data: dict) -> dict:
    """A snapshot without the patient's identity or free text; the clinical summary stays."""
    patient = {
        **data.get("patient", {}),
        "name": f"{ERASED}",
        "first_name": ERASED,
        "last_name": ERASED,
        "date_of_birth": None,
        "age": None,
        "phone": "",
        "email": "",
        "city": "",
        "condition_other": "",
        "exclusions": [],
    }
    lines = [{**line, "notes": ""} for line in data.get("treatment_lines", [])]
    referral = {**data.get("referral", {}), "referring_physician": ""}
    documents = [{**d, "filename": ERASED} for d in data.get("documents", [])]
    return {
        **data,
        "patient": patient,
        "treatment_lines": lines,
        "referral": referral,
        "documents": documents,
    }
