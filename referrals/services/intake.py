"""The public intake form's write: patient, lead, treatment lines, first events and e-mails."""

import datetime
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from referrals import pipeline, selectors, tasks
from referrals.models import Patient, PriorTreatmentLine, Referral
from referrals.services.common import _arrival_events, _duplicate_note
from referrals.vocabulary import Source, Stage
from trials.models import Condition


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
