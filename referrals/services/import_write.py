"""The referral import's write: every lead of a checked file with its patient, in bulk and in
one transaction (reading and checking the file is `referrals/resources.py`, the job
`referrals/imports.py`).
"""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import CharField, DateTimeField, IntegerField, Value
from django.utils import timezone

from referrals import pipeline, selectors
from referrals.models import ImportJob, Patient, Referral, ReferralEvent
from referrals.services.common import _arrival_event_list, _as_new_lead, _duplicate_note
from referrals.vocabulary import Stage


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
