"""Possible duplicates: flagged when a lead comes in from the public form, and merged into
the lead to keep without deleting any history."""

import datetime

import pytest
from django.core import mail
from django.utils import timezone

from referrals.models import (
    CloseReason,
    EventKind,
    Patient,
    PriorTreatmentLine,
    Referral,
    ReferralEvent,
    Source,
    Stage,
    Task,
)
from referrals.services import ReferralError, referral_merge
from referrals.tasks import coordinator_notify
from tests.factories import (
    PatientFactory,
    PriorTreatmentLineFactory,
    ReferralEventFactory,
    ReferralFactory,
    TaskFactory,
    TherapyFactory,
)
from tests.intake import (
    submit,
    valid_post,
)
from trials.models import DrugClass

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


@pytest.fixture
def earlier_lead(db, lupus):
    patient = PatientFactory(
        first_name="Dana",
        last_name="Levi",
        date_of_birth=datetime.date(1988, 3, 14),
        phone="+972547654321",
        email="dana.levi@example.org",
        primary_condition=lupus,
    )
    return ReferralFactory(patient=patient, stage=Stage.CONTACTED)


OTHER_PERSON = {
    "first_name": "Miriam",
    "last_name": "Cohen",
    "date_of_birth": "1975-07-01",
    "phone": "052-555-1234",
    "email": "miriam@example.org",
}


@pytest.mark.parametrize(
    "same",
    [
        pytest.param({"phone": "+972 54 765 4321"}, id="same-phone"),
        pytest.param({"email": "DANA.Levi@Example.ORG"}, id="same-email-other-case"),
        pytest.param(
            {"first_name": "dana", "last_name": "LEVI", "date_of_birth": "1988-03-14"},
            id="same-name-and-birth-date",
        ),
    ],
)
def test_it_flags_a_likely_duplicate(client, lupus, earlier_lead, coordinator, same):
    response = submit(client, valid_post(lupus, **{**OTHER_PERSON, **same}))

    assert response.status_code == 302
    new = Referral.objects.get(source=Source.WEB_FORM)
    assert list(new.possible_duplicates.all()) == [earlier_lead]
    created = new.events.get(kind=EventKind.CREATED)
    assert f"Possible duplicate of #{earlier_lead.pk}." in created.body
    coordinator_notify.call(referral_id=new.pk)
    assert "Possible duplicate" in mail.outbox[0].body


@pytest.mark.parametrize(
    "other",
    [
        pytest.param({}, id="different-person"),
        pytest.param(
            {"first_name": "Dana", "last_name": "Levi", "date_of_birth": "1990-03-14"},
            id="same-name-other-birth-date",
        ),
        pytest.param(
            {"first_name": "Dana", "last_name": "Levi", "date_of_birth": "", "age": "38"},
            id="same-name-no-birth-date",
        ),
    ],
)
def test_it_does_not_flag_a_different_person(client, lupus, earlier_lead, other):
    response = submit(client, valid_post(lupus, **{**OTHER_PERSON, **other}))

    assert response.status_code == 302
    new = Referral.objects.get(source=Source.WEB_FORM)
    assert list(new.possible_duplicates.all()) == []
    assert "duplicate" not in new.events.get(kind=EventKind.CREATED).body


def test_it_does_not_flag_against_a_lead_already_merged_away(client, lupus, earlier_lead):
    keep = ReferralFactory()
    referral_merge(keep=keep, duplicate=earlier_lead, by=None)

    response = submit(client, valid_post(lupus, **{**OTHER_PERSON, "phone": "054-765-4321"}))

    assert response.status_code == 302
    new = Referral.objects.get(source=Source.WEB_FORM)
    assert list(new.possible_duplicates.all()) == []
    assert "duplicate" not in new.events.get(kind=EventKind.CREATED).body


# --- merge ---------------------------------------------------------------------------------------


@pytest.fixture
def two_leads(db, coordinator, rituximab, mycophenolate):
    """`keep` with two lines and a note; `duplicate` with two lines, history, notes, tasks."""
    keep_patient = PatientFactory(email="", phone="+972547654321")
    PriorTreatmentLineFactory(patient=keep_patient, line_number=1, therapies=[rituximab])
    PriorTreatmentLineFactory(patient=keep_patient, line_number=2, therapies=[mycophenolate])
    keep = ReferralFactory(patient=keep_patient, stage=Stage.CONTACTED, assigned_to=coordinator)
    ReferralEventFactory(referral=keep, kind=EventKind.NOTE, body="Keep's own note")

    dup_patient = PatientFactory(email="second@example.org", phone="+972525551234")
    hydroxy = TherapyFactory(name="Hydroxychloroquine", drug_class=DrugClass.ANTIMALARIAL)
    PriorTreatmentLineFactory(patient=dup_patient, line_number=1, therapies=[hydroxy])
    PriorTreatmentLineFactory(patient=dup_patient, line_number=2, therapies=[rituximab])
    duplicate = ReferralFactory(
        patient=dup_patient,
        stage=Stage.RECORDS_REQUESTED,
        next_action="Chase records",
        next_action_due=timezone.localdate(),
    )
    ReferralEventFactory(
        referral=duplicate,
        kind=EventKind.STAGE_CHANGE,
        from_stage=Stage.NEW,
        to_stage=Stage.CONTACTED,
        body="",
    )
    ReferralEventFactory(referral=duplicate, kind=EventKind.NOTE, body="Prefers mornings")
    ReferralEventFactory(referral=duplicate, kind=EventKind.CALL, body="No answer")
    TaskFactory(referral=duplicate, title="Open task", assignee=coordinator)
    TaskFactory(referral=duplicate, title="Done task", assignee=coordinator, done_at=timezone.now())
    keep.possible_duplicates.add(duplicate)
    return keep, duplicate


def _totals():
    return (
        Patient.objects.count(),
        Referral.objects.count(),
        PriorTreatmentLine.objects.count(),
        ReferralEvent.objects.count(),
        Task.objects.count(),
    )


def test_it_merges_a_duplicate_into_the_lead_to_keep(two_leads, coordinator):
    keep, duplicate = two_leads
    patients, referrals, lines, events, tasks = _totals()
    keep_version = keep.version

    referral_merge(keep=keep, duplicate=duplicate, by=coordinator)

    keep.refresh_from_db()
    duplicate.refresh_from_db()
    assert duplicate.stage == Stage.CLOSED
    assert duplicate.close_reason == CloseReason.DUPLICATE
    assert duplicate.merged_into == keep
    assert duplicate.next_action == ""
    assert duplicate.next_action_due is None
    assert keep.stage == Stage.CONTACTED
    assert keep.version == keep_version + 1
    assert list(keep.possible_duplicates.all()) == []

    merged_lines = [
        (line.line_number, [t.name for t in line.therapies.all()])
        for line in keep.patient.treatment_lines.order_by("line_number")
    ]
    assert merged_lines == [
        (1, ["Rituximab"]),
        (2, ["Mycophenolate mofetil"]),
        (3, ["Hydroxychloroquine"]),
        (4, ["Rituximab"]),
    ]
    assert not duplicate.patient.treatment_lines.exists()
    keep.patient.refresh_from_db()
    assert keep.patient.email == "second@example.org"  # blank details filled in
    assert keep.patient.phone == "+972547654321"  # the kept lead's own details win

    assert list(keep.tasks.values_list("title", flat=True)) == ["Open task"]
    assert list(duplicate.tasks.values_list("title", flat=True)) == ["Done task"]
    assert sorted(keep.events.filter(kind__in=["note", "call"]).values_list("body", flat=True)) == [
        "Keep's own note",
        "No answer",
        "Prefers mornings",
    ]
    history = duplicate.events.filter(kind=EventKind.STAGE_CHANGE).order_by("id")
    assert [(e.from_stage, e.to_stage) for e in history] == [
        (Stage.NEW, Stage.CONTACTED),
        (Stage.RECORDS_REQUESTED, Stage.CLOSED),
    ]
    merge_event = keep.events.get(kind=EventKind.MERGE)
    assert f"#{duplicate.pk}" in merge_event.body
    assert merge_event.author == coordinator

    # Nothing deleted: the closing and merge events are the only new rows.
    assert _totals() == (patients, referrals, lines, events + 2, tasks)


def test_it_merges_two_leads_of_the_same_patient_without_renumbering(two_leads):
    keep, _ = two_leads
    second = ReferralFactory(patient=keep.patient, stage=Stage.NEW)
    before = list(keep.patient.treatment_lines.values_list("id", "line_number"))

    referral_merge(keep=keep, duplicate=second, by=None)

    assert list(keep.patient.treatment_lines.values_list("id", "line_number")) == before
    second.refresh_from_db()
    assert (second.stage, second.merged_into) == (Stage.CLOSED, keep)


def _snapshot():
    return (
        sorted(
            Referral.objects.values_list("id", "stage", "close_reason", "merged_into", "version")
        ),
        sorted(PriorTreatmentLine.objects.values_list("id", "patient", "line_number")),
        sorted(ReferralEvent.objects.values_list("id", "referral")),
        sorted(Task.objects.values_list("id", "referral")),
        sorted(Patient.objects.values_list("id", "email", "phone")),
    )


@pytest.mark.parametrize("case", ["itself", "closed", "already-merged", "keep-closed"])
def test_it_refuses_an_impossible_merge_and_changes_nothing(two_leads, case):
    keep, duplicate = two_leads
    if case == "itself":
        duplicate = keep
    elif case == "closed":
        duplicate.stage, duplicate.close_reason = Stage.CLOSED, CloseReason.NOT_REACHABLE
        duplicate.save()
    elif case == "already-merged":
        elsewhere = ReferralFactory()
        referral_merge(keep=elsewhere, duplicate=duplicate, by=None)
        duplicate.refresh_from_db()
    elif case == "keep-closed":
        keep.stage, keep.close_reason = Stage.CLOSED, CloseReason.DECLINED_BY_PATIENT
        keep.save()
    before = _snapshot()

    with pytest.raises(ReferralError):
        referral_merge(keep=keep, duplicate=duplicate, by=None)

    assert _snapshot() == before
