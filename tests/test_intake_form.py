"""A valid submission of the public intake form: one lead, its patient and treatment
lines, and its e-mails queued in the same transaction."""

import datetime
from types import SimpleNamespace

import pytest
from django.core import mail
from django.db import DatabaseError
from django.urls import reverse
from django.utils import timezone, translation
from django_tasks_db.models import DBTaskResult

from referrals.consent import CONSENT_TEXT, CONSENT_VERSION
from referrals.models import (
    EventKind,
    Patient,
    PriorTreatmentLine,
    ReasonStopped,
    Referral,
    Source,
    Stage,
)
from tests.intake import (
    NOTHING,
    submit,
    valid_post,
    written,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]

# Two working days to the first call, Israel's weekend (Friday, Saturday) not counted: days
# from receipt to the due date by the weekday received, Monday first.
DAYS_TO_FIRST_CONTACT = {0: 2, 1: 2, 2: 4, 3: 4, 4: 3, 5: 2, 6: 2}


def test_it_turns_a_valid_submission_into_one_lead(
    client, lupus, rituximab, mycophenolate, coordinator
):
    before = timezone.now()
    data = valid_post(
        lupus, treatments=[(rituximab, "did_not_help"), (mycophenolate, "side_effects")]
    )

    response = submit(client, data)

    assert response.status_code == 302
    assert response.url == reverse("intake:thanks")  # nothing personal in the URL
    assert written() == (1, 1, 2)
    patient = Patient.objects.get()
    assert (patient.first_name, patient.last_name) == ("Dana", "Levi")
    assert patient.date_of_birth == datetime.date(1988, 3, 14)
    assert patient.stated_age is None
    assert patient.phone == "+972547654321"
    assert patient.email == "dana.levi@example.org"
    assert patient.preferred_language == "he"
    assert patient.primary_condition == lupus
    assert patient.condition_other == ""
    assert patient.diagnosis_year == 2015

    referral = Referral.objects.get()
    assert referral.patient == patient
    assert referral.source == Source.WEB_FORM
    assert referral.stage == Stage.NEW
    assert referral.close_reason == ""
    assert referral.assigned_to == coordinator
    assert referral.submitter_role == "family"
    assert referral.submitter_name == "Yossi Levi"
    assert referral.contact_channel == "whatsapp"
    assert referral.intake_message == "Kidney biopsy in 2021 showed class IV nephritis."
    assert referral.consent_version == CONSENT_VERSION
    with translation.override("en"):
        assert referral.consent_text == str(CONSENT_TEXT)
    assert before <= referral.consented_at <= timezone.now()
    received = timezone.localdate(referral.created_at)
    assert referral.next_action == "First call to the patient"
    assert referral.next_action_due == received + datetime.timedelta(
        days=DAYS_TO_FIRST_CONTACT[received.weekday()]
    )
    assert list(referral.possible_duplicates.all()) == []

    lines = [
        (line.line_number, line.reason_stopped, [t.name for t in line.therapies.all()])
        for line in patient.treatment_lines.order_by("line_number")
    ]
    assert lines == [
        (1, ReasonStopped.INADEQUATE_RESPONSE, ["Rituximab"]),
        (2, ReasonStopped.INTOLERANCE, ["Mycophenolate mofetil"]),
    ]
    assert patient.failed_line_count == 2

    events = list(referral.events.order_by("id").values_list("kind", "to_stage", "body"))
    assert events == [
        (EventKind.CREATED, Stage.NEW, "Lead received from the public form."),
        (EventKind.ASSIGNMENT, "", f"Assigned to {coordinator.get_full_name()}"),
    ]

    queued = DBTaskResult.objects.order_by("task_path")
    assert [(r.task_path, r.args_kwargs) for r in queued] == [
        (
            "referrals.tasks.coordinator_notify",
            {"args": [], "kwargs": {"referral_id": referral.pk}},
        ),
        (
            "referrals.tasks.submitter_acknowledge",
            {"args": [], "kwargs": {"referral_id": referral.pk}},
        ),
    ]
    assert mail.outbox == []  # sent by the worker, not by the form


@pytest.mark.parametrize("weekday", range(7))
def test_it_gives_the_first_call_two_working_days_from_any_day(client, lupus, monkeypatch, weekday):
    monday = datetime.date(2025, 6, 2)
    received = monday + datetime.timedelta(days=weekday)
    noon = timezone.make_aware(datetime.datetime.combine(received, datetime.time(12)))
    monkeypatch.setattr(timezone, "now", lambda: noon)

    assert submit(client, valid_post(lupus)).status_code == 302

    due = Referral.objects.get().next_action_due
    assert (due - received).days == DAYS_TO_FIRST_CONTACT[weekday]
    assert due.weekday() not in (4, 5)  # never a Friday or Saturday


def test_it_queues_no_email_for_a_submission_that_failed_to_save(client, lupus, monkeypatch):
    """The e-mails are queued in the lead's transaction: a rolled-back lead mails nobody."""

    def fail(**kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr("referrals.tasks.submitter_acknowledge", SimpleNamespace(enqueue=fail))

    with pytest.raises(DatabaseError):
        submit(client, valid_post(lupus))

    assert written() == NOTHING
    assert DBTaskResult.objects.count() == 0


@pytest.mark.parametrize(
    ("outcome", "reason", "failed"),
    [
        ("did_not_help", ReasonStopped.INADEQUATE_RESPONSE, True),
        ("stopped_working", ReasonStopped.LOSS_OF_RESPONSE, True),
        ("side_effects", ReasonStopped.INTOLERANCE, True),
        ("still_taking", ReasonStopped.ONGOING, False),
        ("helped", ReasonStopped.REMISSION, False),
        ("not_sure", ReasonStopped.UNKNOWN, False),
    ],
)
def test_it_maps_each_outcome_to_a_reason_stopped(
    client, lupus, rituximab, outcome, reason, failed
):
    response = submit(client, valid_post(lupus, treatments=[(rituximab, outcome)]))

    assert response.status_code == 302
    line = PriorTreatmentLine.objects.get()
    assert line.reason_stopped == reason
    assert list(line.therapies.all()) == [rituximab]
    assert line.counts_as_failed is failed


def test_it_skips_empty_rows_and_keeps_the_order_of_filled_ones(
    client, lupus, rituximab, mycophenolate
):
    data = valid_post(
        lupus,
        **{
            "treatments-1-therapy": str(mycophenolate.pk),
            "treatments-1-outcome": "stopped_working",
            "treatments-3-therapy": str(rituximab.pk),
            "treatments-3-outcome": "still_taking",
        },
    )

    assert submit(client, data).status_code == 302

    lines = PriorTreatmentLine.objects.order_by("line_number")
    assert [(ln.line_number, ln.therapies.get().name) for ln in lines] == [
        (1, "Mycophenolate mofetil"),
        (2, "Rituximab"),
    ]


def test_it_keeps_the_stated_age_when_no_date_of_birth_is_given(client, lupus):
    response = submit(client, valid_post(lupus, date_of_birth="", age="47", diagnosis_year=""))

    assert response.status_code == 302
    patient = Patient.objects.get()
    assert patient.date_of_birth is None
    assert patient.stated_age == 47
    assert patient.stated_age_on == timezone.localdate()
    assert patient.age == 47


def test_it_keeps_a_diagnosis_in_the_patients_words(client, lupus):
    data = valid_post(lupus, condition="other", condition_other="Still's disease, not sure")

    assert submit(client, data).status_code == 302

    patient = Patient.objects.get()
    assert patient.primary_condition is None
    assert patient.condition_other == "Still's disease, not sure"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("054-765-4321", "+972547654321"),
        ("+972 54 765 4321", "+972547654321"),
        ("(054) 7654321", "+972547654321"),
        ("03-123-4567", "+97231234567"),
        ("+1 212 555 0100", "+12125550100"),
    ],
)
def test_it_stores_the_phone_in_e164(client, lupus, typed, stored):
    assert submit(client, valid_post(lupus, phone=typed)).status_code == 302

    assert Patient.objects.get().phone == stored
