"""Every form the lead page posts: its URL name and a valid body for a given lead.

One list for the page tests (a viewer is refused each one, a coordinator makes each one) and
the permission matrix (who may post each one): an action added here is covered by both.
`test_it_lists_every_post_action_of_the_lead_page` fails for a lead URL that is missing here.

Posting them writes files: point `PRIVATE_STORAGE_ROOT` at a temporary folder first.
"""

import datetime
from collections.abc import Callable

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from referrals.models import CriterionOverride, FollowUpVisit, Referral, Stage, TreatmentOutcome
from tests import pages
from tests.factories import PatientFactory, ReferralFactory, TaskFactory, TherapyFactory, pdf_bytes

Post = tuple[str, dict]  # the URL and the form's data


def _lead_url(name: str, lead: Referral, *args) -> str:
    return reverse(f"referrals:{name}", args=[lead.pk, *args])


def _transition(lead, *, program, coordinator) -> Post:
    return _lead_url("lead_transition", lead), {"version": lead.version, "to_stage": "contacted"}


def _assign(lead, *, program, coordinator) -> Post:
    return _lead_url("lead_assign", lead), {"version": lead.version, "assignee": ""}


def _next_action(lead, *, program, coordinator) -> Post:
    data = {"version": lead.version, "next_action": "Call", "next_action_due": pages.today()}
    return _lead_url("lead_next_action", lead), data


def _note(lead, *, program, coordinator) -> Post:
    return _lead_url("lead_note", lead), {"kind": "note", "body": "Spoke with the patient."}


def _task(lead, *, program, coordinator) -> Post:
    data = {"title": "Get records", "due_on": pages.today(), "assignee": coordinator.pk}
    return _lead_url("lead_task", lead), data


def _task_done(lead, *, program, coordinator) -> Post:
    task = TaskFactory(referral=lead, assignee=coordinator, due_on=pages.today())
    return _lead_url("lead_task_done", lead, task.pk), {}


def _screening(lead, *, program, coordinator) -> Post:
    data = {"version": lead.version, "kind": "program", "candidate_id": program.pk}
    return _lead_url("lead_screening", lead), data


def _target(lead, *, program, coordinator) -> Post:
    data = {"version": lead.version, "kind": "program", "candidate_id": program.pk}
    return _lead_url("lead_target", lead), data


def _line(lead, *, program, coordinator) -> Post:
    return _lead_url("lead_line", lead), pages.line_data(TherapyFactory(), line_number=3)


def _merge(lead, *, program, coordinator) -> Post:
    duplicate = ReferralFactory(patient=PatientFactory(), assigned_to=coordinator)
    lead.possible_duplicates.add(duplicate)
    return _lead_url("lead_merge", lead), {"duplicate": duplicate.pk}


def _document_upload(lead, *, program, coordinator) -> Post:
    upload = SimpleUploadedFile("discharge-letter.pdf", pdf_bytes(), "application/pdf")
    return _lead_url("lead_document_upload", lead), {"kind": "medical_record", "file": upload}


def _packet_send(lead, *, program, coordinator) -> Post:
    Referral.objects.filter(pk=lead.pk).update(target_program=program)
    return _lead_url("lead_packet_send", lead), {"sent_to": "car-t@sheba.example (secure mail)"}


def _treated(lead: Referral) -> None:
    Referral.objects.filter(pk=lead.pk).update(stage=Stage.TREATED)


def _outcome(lead, *, program, coordinator) -> Post:
    _treated(lead)
    data = {
        "infusion_date": pages.today() - datetime.timedelta(days=40),
        "product": "CD19 CAR-T",
        "crs_grade": "1",
        "icans_grade": "0",
        "infections": "",
        "relapse_date": "",
    }
    return _lead_url("lead_outcome", lead), data


def _visit(lead, *, program, coordinator) -> Post:
    _treated(lead)
    infusion = pages.today() - datetime.timedelta(days=40)
    outcome = TreatmentOutcome.objects.create(
        referral=lead, infusion_date=infusion, product="CD19 CAR-T"
    )
    visit = FollowUpVisit.objects.create(
        outcome=outcome, month=1, due_on=infusion + datetime.timedelta(days=30)
    )
    data = {
        "done_on": pages.today() - datetime.timedelta(days=8),
        "sledai_2k": "4",
        "das28": "",
        "mrss": "",
        "mg_adl": "",
        "drug_free_remission": "yes",
        "notes": "",
    }
    return _lead_url("lead_visit", lead, visit.pk), data


def _fact(lead, *, program, coordinator) -> Post:
    data = {"kind": "egfr", "value": "62", "observed_on": pages.today(), "source": "document"}
    return _lead_url("lead_fact", lead), data


def _override(lead, *, program, coordinator) -> Post:
    data = {
        "candidate_kind": "program",
        "candidate_id": program.pk,
        "criterion_key": "age",
        "result": "pass",
        "reason": "Date of birth confirmed by phone.",
    }
    return _lead_url("lead_override", lead), data


def _override_clear(lead, *, program, coordinator) -> Post:
    CriterionOverride.objects.create(
        referral=lead,
        candidate_kind="program",
        candidate_id=program.pk,
        criterion_key="age",
        criterion_name="Age",
        result="pass",
        reason="Confirmed by phone.",
        decided_by=coordinator,
    )
    data = {"candidate_kind": "program", "candidate_id": program.pk, "criterion_key": "age"}
    return _lead_url("lead_override_clear", lead), data


LEAD_ACTIONS: dict[str, Callable[..., Post]] = {
    "lead_transition": _transition,
    "lead_assign": _assign,
    "lead_next_action": _next_action,
    "lead_note": _note,
    "lead_task": _task,
    "lead_task_done": _task_done,
    "lead_screening": _screening,
    "lead_target": _target,
    "lead_line": _line,
    "lead_merge": _merge,
    "lead_document_upload": _document_upload,
    "lead_packet_send": _packet_send,
    "lead_outcome": _outcome,
    "lead_visit": _visit,
    "lead_fact": _fact,
    "lead_override": _override,
    "lead_override_clear": _override_clear,
}


def lead_action(name: str, lead: Referral, *, program, coordinator) -> Post:
    """The URL and a valid body of action `name` on a new lead of `coordinator`'s, a patient
    of `pages.refractory_patient`; it creates what the action acts on (a task, a duplicate, a
    follow-up visit) and moves the lead where the action is allowed (treated, for the outcome).
    `program` accepts the lead's condition."""
    lead.refresh_from_db()
    return LEAD_ACTIONS[name](lead, program=program, coordinator=coordinator)
