"""Admin import of referrals: upload, the check in the task worker with its progress, the
preview with row problems and duplicates, confirm once, all or nothing, who sees which job."""

import datetime
import io
import re

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from openpyxl import Workbook

from referrals import imports, resources, services
from referrals.models import (
    AccessAction,
    AccessLog,
    EventKind,
    ImportJob,
    ImportJobRow,
    ImportJobState,
    Patient,
    Referral,
    Stage,
)
from referrals.resources import COLUMNS, MAX_FILE_BYTES
from tests.factories import ConditionFactory, PatientFactory, ReferralFactory, UserFactory

pytestmark = pytest.mark.django_db

IMPORT_URL = reverse("admin:referrals_referral_import_leads")

DANA = {
    "first_name": "Dana",
    "last_name": "Levi",
    "date_of_birth": "1985-06-15",
    "phone": "054-765-4321",
    "email": "dana.levi@example.org",
    "condition": "SLE",
    "source": "Referring physician",
    "referring_physician_name": "Dr. Noa Katz",
    "notes": "Lupus nephritis, failed MMF and rituximab",
}
YOSSI = {
    **DANA,
    "first_name": "Yossi",
    "last_name": "Mizrahi",
    "date_of_birth": "1979-01-30",
    "phone": "+972 52 765 4321",
    "email": "",
    "condition": "systemic lupus erythematosus",
    "source": "phone",
    "referring_physician_name": "",
    "notes": "",
}
MIRIAM = {
    **YOSSI,
    "first_name": "Miriam",
    "last_name": "Peretz",
    "date_of_birth": "",
    "phone": "",
    "email": "miriam@example.org",
    "condition": "",
    "source": "Hospital",
}


@pytest.fixture(autouse=True)
def lupus(db):
    return ConditionFactory(name="Systemic lupus erythematosus", slug="sle")


def _csv(*rows: dict) -> bytes:
    lines = [",".join(COLUMNS)]
    for row in rows:
        lines.append(",".join(f'"{row.get(column, "")}"' for column in COLUMNS))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _many(count: int) -> bytes:
    """`count` distinct valid rows (distinct names, mobile numbers and e-mails)."""
    return _csv(
        *(
            {
                **YOSSI,
                "first_name": f"Avi{n}",
                "phone": f"+97253{n:07d}",
                "email": f"avi{n}@example.org",
            }
            for n in range(count)
        )
    )


def _job_url(job: ImportJob, action: str = "") -> str:
    name = "admin:referrals_referral_import_job" + (f"_{action}" if action else "")
    return reverse(name, args=[job.pk])


def _upload(client, content: bytes, name="leads.csv"):
    return client.post(IMPORT_URL, {"file": SimpleUploadedFile(name, content)})


def _work(task_worker) -> None:
    """Run every queued task as `manage.py db_worker` would, until the queue is empty."""
    while (queued := DBTaskResult.objects.ready().order_by("enqueued_at").first()) is not None:
        queued.claim(task_worker.worker_id)
        task_worker.run_task(queued)


def _checked(client, task_worker, content: bytes, name="leads.csv") -> ImportJob:
    response = _upload(client, content, name)
    assert response.status_code == 302, response.content.decode()
    job = ImportJob.objects.get(file_name=name, state=ImportJobState.QUEUED)
    assert response["Location"] == _job_url(job)
    _work(task_worker)
    job.refresh_from_db()
    return job


def _confirm(client, job: ImportJob):
    return client.post(_job_url(job, "confirm"))


def _import(client, task_worker, content: bytes, **kwargs) -> ImportJob:
    job = _checked(client, task_worker, content, **kwargs)
    assert _confirm(client, job).status_code == 302
    _work(task_worker)
    job.refresh_from_db()
    assert job.state == ImportJobState.DONE, job.problem
    return job


def _preview(client, job: ImportJob, query: str = "") -> list[dict]:
    page = client.get(_job_url(job) + query)
    assert page.status_code == 200
    return [
        {
            "row": row.number,
            "duplicate_of": row.duplicate_of,
            **{column: value for column, (value, _) in zip(COLUMNS, cells, strict=True)},
        }
        for row, cells in page.context["preview"]
    ]


def _problems(client, job: ImportJob) -> dict[int, dict[str, list[str]]]:
    page = client.get(_job_url(job))
    return {
        row.number: {
            column: problems
            for column, (_, problems) in zip(COLUMNS, cells, strict=True)
            if problems
        }
        for row, cells in page.context["preview"]
        if row.has_problems
    }


def _messages(response) -> list[str]:
    return [str(message) for message in response.wsgi_request._messages]


def _text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.content.decode()))


# --- the upload -------------------------------------------------------------------------


def test_it_shows_the_import_button_and_form_to_coordinators(coordinator_client):
    changelist = coordinator_client.get(reverse("admin:referrals_referral_changelist"))
    form_page = coordinator_client.get(IMPORT_URL)

    assert IMPORT_URL.encode() in changelist.content
    assert form_page.status_code == 200
    assert b"first_name, last_name, date_of_birth, phone, email, condition" in form_page.content


def test_it_checks_the_file_in_the_background_not_in_the_upload_request(coordinator_client):
    """The finding: the dry run ran in the request, past the server's timeout at ~4,500 rows.
    Now the upload's work does not grow with the file: it keeps it and queues the check."""
    counts = []
    for rows in (5, 400):
        with CaptureQueriesContext(connection) as queries:
            response = _upload(coordinator_client, _many(rows), name=f"{rows}.csv")
        assert response.status_code == 302
        counts.append(len(queries))

    assert counts[0] == counts[1]
    job = ImportJob.objects.get(file_name="400.csv")
    assert job.state == ImportJobState.QUEUED
    assert not ImportJobRow.objects.exists()
    assert DBTaskResult.objects.filter(
        task_path="referrals.imports.import_job_validate", args_kwargs__kwargs={"job_id": job.pk}
    ).exists()
    assert "Waiting for the task worker" in _text(coordinator_client.get(_job_url(job)))
    assert not Patient.objects.exists()


def test_it_shows_progress_while_the_worker_checks_the_file(
    coordinator_client, task_worker, monkeypatch
):
    monkeypatch.setattr(imports, "BATCH_ROWS", 2)
    seen = []
    check_batch = imports.FileCheck.batch

    def look_then_check(self, rows):
        seen.append(
            (
                _text(coordinator_client.get(job_url)),
                coordinator_client.get(job_url, headers={"HX-Request": "true"}),
            )
        )
        return check_batch(self, rows)

    monkeypatch.setattr(imports.FileCheck, "batch", look_then_check)
    _upload(coordinator_client, _many(5))
    job = ImportJob.objects.get()
    job_url = _job_url(job)

    _work(task_worker)

    pages = [page for page, _ in seen]
    assert "Checking rows: 0 of 5 (0 %)" in pages[0]
    assert "Checking rows: 2 of 5 (40 %)" in pages[1]
    assert "Checking rows: 4 of 5 (80 %)" in pages[2]
    assert all("Refresh" in page for page in pages)  # a plain link, for pages without JavaScript
    polled = seen[1][1]
    assert polled.status_code == 200
    assert b'hx-trigger="every 2s"' in polled.content
    assert b"<html" not in polled.content  # the progress partial only
    assert "2 of 5" in _text(polled)
    finished = coordinator_client.get(job_url, headers={"HX-Request": "true"})
    assert (finished.status_code, finished["HX-Refresh"]) == (204, "true")  # reload: preview
    assert "All 5 rows can be imported" in _text(coordinator_client.get(job_url))


def test_it_checks_a_20000_row_file_through_the_task_and_pages_the_preview(
    coordinator_client, task_worker
):
    job = _checked(coordinator_client, task_worker, _many(20_000))

    assert (job.state, job.rows_total, job.rows_processed) == ("validated", 20_000, 20_000)
    assert (job.rows_with_problems, job.rows_flagged) == (0, 0)
    page = coordinator_client.get(_job_url(job))
    assert "All 20,000 rows can be imported" in _text(page)
    assert b"Confirm import" in page.content
    assert len(page.context["preview"]) == 100
    assert "Rows 1–100 of 20,000 · page 1 of 200" in _text(page)
    assert [row["row"] for row in _preview(coordinator_client, job, "?page=200")][-1] == 20_000
    assert not Patient.objects.exists()
    assert not Referral.objects.exists()


def test_it_previews_a_valid_file_and_writes_nothing(coordinator_client, task_worker):
    job = _checked(coordinator_client, task_worker, _csv(DANA, YOSSI, MIRIAM))

    assert _preview(coordinator_client, job) == [
        {
            "row": 1,
            "duplicate_of": "",
            "first_name": "Dana",
            "last_name": "Levi",
            "date_of_birth": "1985-06-15",
            "phone": "+972547654321",
            "email": "dana.levi@example.org",
            "condition": "Systemic lupus erythematosus",
            "source": "Referring physician",
            "referring_physician_name": "Dr. Noa Katz",
            "notes": "Lupus nephritis, failed MMF and rituximab",
        },
        {
            "row": 2,
            "duplicate_of": "",
            "first_name": "Yossi",
            "last_name": "Mizrahi",
            "date_of_birth": "1979-01-30",
            "phone": "+972527654321",
            "email": "",
            "condition": "Systemic lupus erythematosus",
            "source": "Phone",
            "referring_physician_name": "",
            "notes": "",
        },
        {
            "row": 3,
            "duplicate_of": "",
            "first_name": "Miriam",
            "last_name": "Peretz",
            "date_of_birth": "",
            "phone": "",
            "email": "miriam@example.org",
            "condition": "",
            "source": "Hospital",
            "referring_physician_name": "",
            "notes": "",
        },
    ]
    assert b"Confirm import" in coordinator_client.get(_job_url(job)).content
    assert not Patient.objects.exists()
    assert not Referral.objects.exists()
    assert not AccessLog.objects.exists()


# --- row problems -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "column", "message"),
    [
        ({"date_of_birth": "15/06/1985"}, "date_of_birth", "YYYY-MM-DD"),
        ({"date_of_birth": "2999-01-01"}, "date_of_birth", "in the future"),
        ({"condition": "Psoriasis"}, "condition", "Unknown condition “Psoriasis”"),
        ({"phone": "12345"}, "phone", "not a valid phone number"),
        ({"email": "dana@"}, "email", "not a valid e-mail address"),
        ({"source": "Fax"}, "source", "Unknown source “Fax”"),
        ({"source": ""}, "source", "required"),
        ({"first_name": ""}, "first_name", "required"),
        ({"phone": "", "email": ""}, "phone", "a phone number or an e-mail"),
    ],
)
def test_it_shows_row_problems_first_and_writes_nothing(
    coordinator_client, task_worker, change, column, message
):
    bad_row = {**YOSSI, **change}

    job = _checked(coordinator_client, task_worker, _csv(DANA, bad_row, MIRIAM))

    problems = _problems(coordinator_client, job)
    assert list(problems) == [2]
    assert list(problems[2]) == [column]
    assert message in " ".join(problems[2][column])
    assert [row["row"] for row in _preview(coordinator_client, job)] == [2, 1, 3]
    page = coordinator_client.get(_job_url(job))
    assert "1 of 3 rows have problems" in _text(page)
    assert b"Confirm import" not in page.content
    refused = _confirm(coordinator_client, job)
    assert "Nothing can be imported until every row is clean" in _messages(refused)[0]
    _work(task_worker)
    assert not Patient.objects.exists()
    assert not Referral.objects.exists()


def test_it_reports_every_problem_of_a_row_at_once(coordinator_client, task_worker):
    bad = {**DANA, "date_of_birth": "tomorrow", "condition": "Gout", "phone": "000"}

    job = _checked(coordinator_client, task_worker, _csv(bad))

    assert set(_problems(coordinator_client, job)[1]) == {"date_of_birth", "condition", "phone"}


def test_it_lists_only_the_rows_with_problems_on_request(coordinator_client, task_worker):
    rows = [{**YOSSI, "first_name": f"Ok{n}", "phone": f"+97253{n:07d}"} for n in range(150)]
    rows[120] = {**rows[120], "phone": "12345"}

    job = _checked(coordinator_client, task_worker, _csv(*rows))

    assert [row["row"] for row in _preview(coordinator_client, job)][:2] == [121, 1]
    assert [row["row"] for row in _preview(coordinator_client, job, "?show=problems")] == [121]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"first_name,last_name,phone\nDana,Levi,0547654321\n", "The file has no source column"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "old Excel file (.xls)"),
        ("first_name,last_name,source\nדנה,לוי,phone\n".encode("cp1255"), "CSV UTF-8"),
        (b"PK\x03\x04 not really a workbook", "cannot be read"),
        (b"first_name,last_name,source\n,,\n", "no rows under its header"),
    ],
)
def test_it_fails_a_file_it_cannot_read_and_says_why(
    coordinator_client, task_worker, content, message
):
    job = _checked(coordinator_client, task_worker, content)

    assert job.state == ImportJobState.FAILED
    page = coordinator_client.get(_job_url(job))
    assert message in _text(page)
    assert b"Confirm import" not in page.content
    assert not Referral.objects.exists()


def test_it_fails_a_file_with_too_many_rows(coordinator_client, task_worker, monkeypatch):
    monkeypatch.setattr(resources, "MAX_ROWS", 3)

    job = _checked(coordinator_client, task_worker, _many(4))

    assert job.state == ImportJobState.FAILED
    assert job.problem == "The file has more than 3 rows; split it into smaller files."


def test_it_refuses_an_empty_or_oversized_file_at_the_upload(coordinator_client):
    empty = _upload(coordinator_client, b"")
    too_large = coordinator_client.post(
        IMPORT_URL,
        {"file": SimpleUploadedFile("big.csv", b"x" * (MAX_FILE_BYTES + 100 * 1024))},
    )

    assert empty.status_code == 400
    assert too_large.status_code == 413
    assert "larger than 10 MB; nothing was uploaded" in _text(too_large)
    assert not ImportJob.objects.exists()


# --- confirm and import ---------------------------------------------------------------------


def test_it_writes_patients_referrals_and_events_on_confirmation(
    coordinator_client, coordinator, task_worker, lupus
):
    job = _import(coordinator_client, task_worker, _csv(DANA, YOSSI))

    dana = Referral.objects.select_related("patient").get(patient__first_name="Dana")
    assert (dana.stage, dana.source, dana.version) == (Stage.NEW, "referring_physician", 1)
    assert dana.referring_physician_name == "Dr. Noa Katz"
    assert dana.intake_message == "Lupus nephritis, failed MMF and rituximab"
    assert dana.assigned_to == coordinator  # the only coordinator: fewest open leads
    assert dana.next_action == "First call to the patient"
    assert dana.next_action_due > datetime.date.today()
    assert dana.import_job == job
    patient = dana.patient
    assert (patient.last_name, patient.date_of_birth) == ("Levi", datetime.date(1985, 6, 15))
    assert (patient.phone, patient.email) == ("+972547654321", "dana.levi@example.org")
    assert patient.primary_condition == lupus
    created = dana.events.get(kind=EventKind.CREATED)
    assert created.author == coordinator
    assert created.body == "Lead received (Referring physician). Imported from leads.csv, row 1."
    assert dana.events.filter(kind=EventKind.ASSIGNMENT).exists()
    for record in (dana, patient):  # the audit trail: who created what, as it was created
        created_row = record.history.get()
        assert (created_row.history_type, created_row.history_user) == ("+", coordinator)
        assert created_row.history_date == dana.created_at
        for field in type(record).history.model.tracked_fields:
            assert getattr(created_row, field.attname) == getattr(record, field.attname), field
    assert Patient.objects.count() == Referral.objects.count() == 2
    assert not dana.possible_duplicates.exists()
    done = coordinator_client.get(_job_url(job))
    assert "Imported 2 leads" in _text(done)
    assert b"See the imported leads" in done.content


def test_it_imports_once_however_often_it_is_confirmed_or_run(
    coordinator_client, coordinator, task_worker
):
    job = _checked(coordinator_client, task_worker, _csv(DANA, YOSSI, MIRIAM))

    first = _confirm(coordinator_client, job)
    second = _confirm(coordinator_client, job)  # a double click, or a second tab
    _work(task_worker)
    imports.import_job_run.call(job_id=job.pk)  # the task delivered twice
    imports.import_job_run.enqueue(job_id=job.pk)
    _work(task_worker)

    assert first.status_code == second.status_code == 302
    assert "This file was confirmed already; it is imported once." in _messages(second)
    assert Referral.objects.count() == Patient.objects.count() == 3
    assert AccessLog.objects.filter(action=AccessAction.IMPORT).count() == 1
    job.refresh_from_db()
    assert (job.state, job.leads_created) == (ImportJobState.DONE, 3)


def test_it_records_the_import_in_the_access_log(coordinator_client, coordinator, task_worker):
    _import(coordinator_client, task_worker, _csv(DANA, YOSSI))

    entry = AccessLog.objects.get()
    assert (entry.user, entry.action) == (coordinator, AccessAction.IMPORT)
    assert entry.detail == (
        "Referral import of leads.csv: 2 leads, 0 flagged as possible duplicates"
    )
    assert entry.ip_address == "127.0.0.1"


def test_it_forgets_the_file_and_its_rows_once_imported(coordinator_client, task_worker):
    job = _import(coordinator_client, task_worker, _csv(DANA, YOSSI))

    assert bytes(ImportJob.objects.get(pk=job.pk).content) == b""
    assert not ImportJobRow.objects.exists()


def test_it_writes_nothing_if_the_file_stops_passing_before_the_import(
    coordinator_client, task_worker, lupus
):
    job = _checked(coordinator_client, task_worker, _csv(MIRIAM, DANA))
    lupus.delete()  # Dana's condition is gone by the time the import runs

    _confirm(coordinator_client, job)
    _work(task_worker)

    job.refresh_from_db()
    assert job.state == ImportJobState.FAILED
    assert "Nothing was imported" in job.problem
    assert "row 2, condition: Unknown condition “SLE”" in job.problem
    assert "Nothing was imported" in _text(coordinator_client.get(_job_url(job)))
    assert not Patient.objects.exists()
    assert not Referral.objects.exists()
    assert not AccessLog.objects.exists()


def test_it_spreads_the_leads_over_the_coordinators_like_the_public_form(
    coordinator_client, coordinator, coordinator2, task_worker
):
    ReferralFactory(assigned_to=coordinator)  # coordinator already carries one open lead

    _import(coordinator_client, task_worker, _many(5))

    imported = Referral.objects.filter(import_job__isnull=False)
    assert imported.filter(assigned_to=coordinator2).count() == 3
    assert imported.filter(assigned_to=coordinator).count() == 2


def test_it_links_to_exactly_the_imported_leads(coordinator_client, task_worker):
    other = ReferralFactory()
    job = _import(coordinator_client, task_worker, _csv(DANA, YOSSI))

    listed = coordinator_client.get(_job_url(job)).context["leads_url"]
    changelist = coordinator_client.get(listed)

    assert changelist.status_code == 200
    shown = {referral.pk for referral in changelist.context["cl"].result_list}
    assert shown == set(job.leads.values_list("pk", flat=True))
    assert other.pk not in shown and len(shown) == 2


# --- duplicates -----------------------------------------------------------------------------


def test_it_flags_a_duplicate_by_phone_and_adds_it_all_the_same(coordinator_client, task_worker):
    known = ReferralFactory(patient=PatientFactory(phone="+972547654321", email="x@example.org"))

    job = _checked(coordinator_client, task_worker, _csv(DANA))
    assert _preview(coordinator_client, job)[0]["duplicate_of"] == f"#{known.pk}"
    assert "1 row looks like a lead already in CareCRM" in _text(
        coordinator_client.get(_job_url(job))
    )
    _confirm(coordinator_client, job)
    _work(task_worker)

    new = Referral.objects.exclude(pk=known.pk).get()
    assert list(new.possible_duplicates.all()) == [known]
    assert list(known.possible_duplicates.all()) == [new]  # both lead pages say so
    assert new.patient_id != known.patient_id  # flagged, not merged into the known patient
    assert f"Possible duplicate of #{known.pk}." in new.events.get(kind=EventKind.CREATED).body
    assert AccessLog.objects.get().detail.endswith("1 leads, 1 flagged as possible duplicates")


def test_it_flags_a_duplicate_by_email_in_any_case(coordinator_client, task_worker):
    known = ReferralFactory(patient=PatientFactory(email="Dana.Levi@Example.org"))

    job = _checked(coordinator_client, task_worker, _csv(DANA))
    assert _preview(coordinator_client, job)[0]["duplicate_of"] == f"#{known.pk}"
    _confirm(coordinator_client, job)
    _work(task_worker)

    new = Referral.objects.exclude(pk=known.pk).get()
    assert list(new.possible_duplicates.all()) == [known]


def test_it_flags_a_duplicate_by_name_and_date_of_birth(coordinator_client, task_worker):
    known = ReferralFactory(
        patient=PatientFactory(
            first_name="DANA", last_name="levi", date_of_birth=datetime.date(1985, 6, 15)
        )
    )

    job = _checked(coordinator_client, task_worker, _csv(DANA))

    assert _preview(coordinator_client, job)[0]["duplicate_of"] == f"#{known.pk}"


def test_it_flags_a_duplicate_by_a_cyrillic_or_hebrew_name_in_any_case(
    coordinator_client, task_worker
):
    born = datetime.date(1980, 1, 1)
    ivan = ReferralFactory(
        patient=PatientFactory(first_name="Иван", last_name="Петров", date_of_birth=born)
    )
    dana = ReferralFactory(
        patient=PatientFactory(first_name="דנה", last_name="לוי", date_of_birth=born)
    )
    rows = [
        {**MIRIAM, "first_name": "ИВАН", "last_name": "петров", "date_of_birth": "1980-01-01"},
        {**YOSSI, "first_name": "דנה", "last_name": "לוי", "date_of_birth": "1980-01-01"},
    ]

    job = _checked(coordinator_client, task_worker, _csv(*rows))

    flags = [row["duplicate_of"] for row in _preview(coordinator_client, job)]
    assert flags == [f"#{ivan.pk}", f"#{dana.pk}"]


def test_it_flags_a_duplicate_earlier_in_the_same_file(coordinator_client, task_worker):
    again = {**DANA, "email": "", "phone": "+972-54-765-4321", "first_name": "Danah"}

    job = _checked(coordinator_client, task_worker, _csv(DANA, YOSSI, again))
    assert [row["duplicate_of"] for row in _preview(coordinator_client, job)] == ["", "", "row 1"]
    _confirm(coordinator_client, job)
    _work(task_worker)

    first = Referral.objects.get(patient__first_name="Dana")
    last = Referral.objects.get(patient__first_name="Danah")
    assert list(last.possible_duplicates.all()) == [first]
    assert f"Possible duplicate of #{first.pk}." in last.events.get(kind=EventKind.CREATED).body
    assert Referral.objects.count() == 3


def test_it_flags_every_row_when_the_same_file_is_imported_twice(coordinator_client, task_worker):
    content = _csv(DANA, YOSSI, MIRIAM)
    _import(coordinator_client, task_worker, content)
    first_run = set(Referral.objects.values_list("pk", flat=True))

    job = _checked(coordinator_client, task_worker, content, name="again.csv")
    assert all(row["duplicate_of"].startswith("#") for row in _preview(coordinator_client, job))
    _confirm(coordinator_client, job)
    _work(task_worker)

    second_run = Referral.objects.exclude(pk__in=first_run)
    assert second_run.count() == 3
    for referral in second_run:
        assert {d.pk for d in referral.possible_duplicates.all()} & first_run, referral
    assert Patient.objects.count() == 6


def test_it_stores_names_and_notes_without_control_bidi_or_invisible_characters(
    coordinator_client, task_worker
):
    hostile = {
        **DANA,
        "first_name": "Da\x00na\u200b",
        "last_name": "\u202eLevi\x01",
        "referring_physician_name": "Dr.\x1b Noa\tKatz",
        "notes": "Lupus nephritis\r\n\x07failed MMF\u2028and rituximab",
    }

    _import(coordinator_client, task_worker, _csv(hostile))

    referral = Referral.objects.select_related("patient").get()
    assert (referral.patient.first_name, referral.patient.last_name) == ("Dana", "Levi")
    assert referral.referring_physician_name == "Dr. Noa Katz"
    assert referral.intake_message == "Lupus nephritis\nfailed MMF\nand rituximab"


def test_it_refuses_a_name_made_of_invisible_characters(coordinator_client, task_worker):
    job = _checked(
        coordinator_client, task_worker, _csv({**DANA, "first_name": "\u200b\x00\u202e"})
    )

    assert _problems(coordinator_client, job)[1] == {"first_name": ["This column is required."]}
    assert not Referral.objects.exists()


def test_it_caps_the_flags_of_a_number_every_row_shares(coordinator_client, task_worker):
    switchboard = {**YOSSI, "phone": "03-765-4321"}
    rows = [{**switchboard, "first_name": f"P{n}", "date_of_birth": ""} for n in range(30)]

    job = _checked(coordinator_client, task_worker, _csv(*rows))

    last = _preview(coordinator_client, job)[-1]["duplicate_of"].split(", ")
    assert len(last) == imports.MAX_FLAGS
    assert last[0] == "row 29"  # the nearest earlier rows


# --- XLSX -----------------------------------------------------------------------------------


def _xlsx(*rows: list) -> bytes:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    data = io.BytesIO()
    workbook.save(data)
    return data.getvalue()


def test_it_imports_an_xlsx_file(coordinator_client, task_worker, lupus):
    content = _xlsx(
        [column.upper() for column in COLUMNS],  # header case does not matter
        # a date cell, and the phone as a number cell
        ["Dana", "Levi", datetime.datetime(1985, 6, 15), 972547654321, "", "sle", "E-mail"],
        [None] * len(COLUMNS),  # a blank row at the end is ignored
    )

    _import(coordinator_client, task_worker, content, name="leads.xlsx")

    referral = Referral.objects.select_related("patient").get()
    assert referral.source == "email"
    assert referral.patient.date_of_birth == datetime.date(1985, 6, 15)
    assert referral.patient.phone == "+972547654321"
    assert referral.patient.primary_condition == lupus


def test_it_shows_row_problems_of_an_xlsx_file(coordinator_client, task_worker):
    content = _xlsx(list(COLUMNS), ["Dana", "Levi", "1985-13-40", "0547654321", "", "sle", "phone"])

    job = _checked(coordinator_client, task_worker, content, name="leads.xlsx")

    assert list(_problems(coordinator_client, job)[1]) == ["date_of_birth"]
    assert not Referral.objects.exists()


# --- a worker that stops ------------------------------------------------------------------------


def _silent_for(job: ImportJob, minutes: int) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - datetime.timedelta(minutes=minutes)
    )


def test_it_resumes_a_check_the_worker_dropped(coordinator_client, task_worker, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_ROWS", 2)
    check_batch = imports.FileCheck.batch
    calls = []

    def die_on_the_third_batch(self, rows):
        calls.append(rows)
        if len(calls) == 3:
            raise SystemExit("worker killed")
        return check_batch(self, rows)

    monkeypatch.setattr(imports.FileCheck, "batch", die_on_the_third_batch)
    _upload(coordinator_client, _many(7))
    job = ImportJob.objects.get()
    _work(task_worker)

    job.refresh_from_db()
    assert (job.state, job.rows_processed) == (ImportJobState.VALIDATING, 4)
    assert b"Resume" not in coordinator_client.get(_job_url(job)).content
    refused = coordinator_client.post(_job_url(job, "resume"))
    assert "still on this file" in _messages(refused)[0]

    _silent_for(job, minutes=4)
    assert "No word from the task worker" in _text(coordinator_client.get(_job_url(job)))
    coordinator_client.post(_job_url(job, "resume"))
    _work(task_worker)

    job.refresh_from_db()
    assert (job.state, job.rows_processed, job.attempt) == (ImportJobState.VALIDATED, 7, 2)
    assert list(job.rows.values_list("number", flat=True)) == [1, 2, 3, 4, 5, 6, 7]


def test_it_stops_a_check_that_was_replaced(coordinator_client, task_worker, monkeypatch):
    """A slow run that is still alive when the job is resumed adds nothing to the new run's."""
    monkeypatch.setattr(imports, "BATCH_ROWS", 2)
    check_batch = imports.FileCheck.batch
    _upload(coordinator_client, _many(5))
    job = ImportJob.objects.get()

    def resumed_meanwhile(self, rows):
        if rows[0][0] == 3:  # the old run's second batch: the job is resumed and rechecked
            monkeypatch.setattr(imports.FileCheck, "batch", check_batch)
            _silent_for(job, minutes=4)
            imports.import_job_resume(job=job)
            _work(task_worker)
        return check_batch(self, rows)

    monkeypatch.setattr(imports.FileCheck, "batch", resumed_meanwhile)
    _work(task_worker)

    job.refresh_from_db()
    assert (job.state, job.attempt, job.rows_processed) == (ImportJobState.VALIDATED, 2, 5)
    assert job.rows.count() == 5


def test_it_resumes_an_import_the_worker_dropped_without_a_double_import(
    coordinator_client, task_worker, monkeypatch
):
    job = _checked(coordinator_client, task_worker, _csv(DANA, YOSSI, MIRIAM))
    write = services.referral_import

    def write_then_die(**kwargs):
        write(**kwargs)
        raise SystemExit("worker killed mid-transaction")

    monkeypatch.setattr(services, "referral_import", write_then_die)
    _confirm(coordinator_client, job)
    _work(task_worker)

    job.refresh_from_db()
    assert job.state == ImportJobState.IMPORTING
    assert not Referral.objects.exists()  # rolled back whole
    assert "Importing 3 rows" in _text(coordinator_client.get(_job_url(job)))

    monkeypatch.setattr(services, "referral_import", write)
    _silent_for(job, minutes=4)
    coordinator_client.post(_job_url(job, "resume"))
    coordinator_client.post(_job_url(job, "resume"))  # refused: not silent any more
    _work(task_worker)

    job.refresh_from_db()
    assert job.state == ImportJobState.DONE
    assert Referral.objects.count() == 3
    assert AccessLog.objects.filter(action=AccessAction.IMPORT).count() == 1


# --- discarding and keeping ---------------------------------------------------------------------


def test_it_discards_a_file_that_was_not_imported(coordinator_client, task_worker):
    job = _checked(coordinator_client, task_worker, _csv(DANA, {**YOSSI, "phone": "1"}))

    response = coordinator_client.post(_job_url(job, "discard"))

    assert response["Location"] == IMPORT_URL
    assert not ImportJob.objects.exists()
    assert not ImportJobRow.objects.exists()


def test_it_keeps_an_imported_file_s_record(coordinator_client, task_worker):
    job = _import(coordinator_client, task_worker, _csv(DANA))

    coordinator_client.post(_job_url(job, "discard"))

    assert ImportJob.objects.filter(pk=job.pk, state=ImportJobState.DONE).exists()
    assert Referral.objects.filter(import_job=job).count() == 1


def test_it_deletes_uploads_never_imported_after_a_week(
    coordinator_client, task_worker, coordinator
):
    old = _checked(coordinator_client, task_worker, _csv(DANA), name="old.csv")
    imported = _import(coordinator_client, task_worker, _csv(YOSSI), name="imported.csv")
    week_ago = timezone.now() - imports.KEEP_UNIMPORTED - datetime.timedelta(minutes=1)
    ImportJob.objects.update(created_at=week_ago)

    _upload(coordinator_client, _csv(MIRIAM), name="new.csv")

    assert not ImportJob.objects.filter(pk=old.pk).exists()
    assert set(ImportJob.objects.values_list("file_name", flat=True)) == {
        imported.file_name,
        "new.csv",
    }


# --- who may ------------------------------------------------------------------------------


def test_it_shows_a_job_only_to_its_owner_and_admins(
    client, coordinator, coordinator2, admin_user, task_worker
):
    client.force_login(coordinator)
    job = _checked(client, task_worker, _csv(DANA))
    client.force_login(coordinator2)

    assert client.get(_job_url(job)).status_code == 404
    assert client.post(_job_url(job, "confirm")).status_code == 404
    assert client.post(_job_url(job, "discard")).status_code == 404
    assert client.post(_job_url(job, "resume")).status_code == 404
    assert b"leads.csv" not in client.get(IMPORT_URL).content
    _work(task_worker)
    assert not Referral.objects.exists()

    client.force_login(admin_user)
    assert client.get(_job_url(job)).status_code == 200
    assert b"leads.csv" in client.get(IMPORT_URL).content


def test_it_refuses_the_import_to_staff_who_cannot_add_referrals(
    client, coordinator_client, task_worker
):
    job = _checked(coordinator_client, task_worker, _csv(DANA))
    viewer = UserFactory(username="viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_referral"))
    client.force_login(viewer)

    assert client.get(IMPORT_URL).status_code == 403
    assert client.post(IMPORT_URL, {}).status_code == 403
    assert client.get(_job_url(job)).status_code == 403
    changelist = client.get(reverse("admin:referrals_referral_changelist"))
    assert IMPORT_URL.encode() not in changelist.content


def test_it_refuses_a_forged_upload_or_confirmation(coordinator, coordinator_client, task_worker):
    """The upload checks its size before CSRF (so a large body is not parsed first): the CSRF
    check must still come before anything is kept."""
    job = _checked(coordinator_client, task_worker, _csv(DANA))
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(coordinator)

    upload = forged.post(IMPORT_URL, {"file": SimpleUploadedFile("x.csv", _csv(YOSSI))})
    confirm = forged.post(_job_url(job, "confirm"))

    assert upload.status_code == confirm.status_code == 403
    assert ImportJob.objects.count() == 1
    job.refresh_from_db()
    assert job.state == ImportJobState.VALIDATED


def test_it_sends_anonymous_visitors_to_log_in(client):
    response = client.get(IMPORT_URL)

    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
