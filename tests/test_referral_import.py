"""Admin import of referrals with their patients: dry run, row errors, confirm, duplicates."""

import datetime
import io
import re

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import Workbook

from referrals.models import AccessAction, AccessLog, EventKind, Patient, Referral, Stage
from referrals.resources import COLUMNS
from tests.factories import ConditionFactory, PatientFactory, ReferralFactory, UserFactory

pytestmark = pytest.mark.django_db

IMPORT_URL = reverse("admin:referrals_referral_import")
PROCESS_URL = reverse("admin:referrals_referral_process_import")
CSV_FORMAT, XLSX_FORMAT = "0", "1"

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


def _dry_run(client, content: bytes, name="leads.csv", file_format=CSV_FORMAT):
    upload = SimpleUploadedFile(name, content)
    response = client.post(
        IMPORT_URL, {"resource": "0", "format": file_format, "import_file": upload}
    )
    assert response.status_code == 200
    return response


def _confirm(client, dry_run):
    confirm_form = dry_run.context["confirm_form"]
    assert confirm_form is not None, "the dry run refused the file"
    return client.post(PROCESS_URL, confirm_form.initial)


def _import(client, content: bytes, **kwargs):
    response = _confirm(client, _dry_run(client, content, **kwargs))
    assert response.status_code == 302, response
    return response


def _preview(dry_run) -> list[dict]:
    result = dry_run.context["result"]
    return [
        {
            "type": row.import_type,
            **dict(zip(result.diff_headers, [_plain(cell) for cell in row.diff], strict=True)),
        }
        for row in result.valid_rows()
    ]


def _plain(html: str) -> str:
    """The diff cell's text without the <ins> markup of a new value."""
    return re.sub(r"<[^>]+>", "", html).replace("&para;", "").strip()


def _errors(dry_run) -> dict[int, dict[str, list[str]]]:
    result = dry_run.context["result"]
    return {row.number: row.field_specific_errors for row in result.invalid_rows}


def test_it_shows_the_import_button_and_form_to_coordinators(coordinator_client):
    changelist = coordinator_client.get(reverse("admin:referrals_referral_changelist"))
    form_page = coordinator_client.get(IMPORT_URL)

    assert IMPORT_URL.encode() in changelist.content
    assert form_page.status_code == 200
    assert b"first_name, last_name, date_of_birth, phone, email, condition" in form_page.content
    assert b"duplicate_of" not in form_page.content  # shown in the preview, not imported


def test_it_previews_a_valid_file_in_a_dry_run_and_writes_nothing(coordinator_client):
    dry_run = _dry_run(coordinator_client, _csv(DANA, YOSSI, MIRIAM))

    assert dry_run.context["confirm_form"] is not None
    assert _preview(dry_run) == [
        {
            "type": "new",
            "first_name": "Dana",
            "last_name": "Levi",
            "date_of_birth": "1985-06-15",
            "phone": "+972547654321",
            "email": "dana.levi@example.org",
            "condition": "Systemic lupus erythematosus",
            "source": "Referring physician",
            "referring_physician_name": "Dr. Noa Katz",
            "notes": "Lupus nephritis, failed MMF and rituximab",
            "duplicate_of": "",
        },
        {
            "type": "new",
            "first_name": "Yossi",
            "last_name": "Mizrahi",
            "date_of_birth": "1979-01-30",
            "phone": "+972527654321",
            "email": "",
            "condition": "Systemic lupus erythematosus",
            "source": "Phone",
            "referring_physician_name": "",
            "notes": "",
            "duplicate_of": "",
        },
        {
            "type": "new",
            "first_name": "Miriam",
            "last_name": "Peretz",
            "date_of_birth": "",
            "phone": "",
            "email": "miriam@example.org",
            "condition": "",
            "source": "Hospital",
            "referring_physician_name": "",
            "notes": "",
            "duplicate_of": "",
        },
    ]
    assert b"Confirm import" in dry_run.content
    assert not Patient.objects.exists()
    assert not Referral.objects.exists()
    assert not AccessLog.objects.exists()


def test_it_writes_patients_referrals_and_events_on_confirmation(
    coordinator_client, coordinator, lupus
):
    response = _import(coordinator_client, _csv(DANA, YOSSI))

    assert response["Location"] == reverse("admin:referrals_referral_changelist")
    dana = Referral.objects.select_related("patient").get(patient__first_name="Dana")
    assert (dana.stage, dana.source, dana.version) == (Stage.NEW, "referring_physician", 1)
    assert dana.referring_physician_name == "Dr. Noa Katz"
    assert dana.intake_message == "Lupus nephritis, failed MMF and rituximab"
    assert dana.assigned_to == coordinator  # the only coordinator: fewest open leads
    assert dana.next_action == "First call to the patient"
    assert dana.next_action_due > datetime.date.today()
    patient = dana.patient
    assert (patient.last_name, patient.date_of_birth) == ("Levi", datetime.date(1985, 6, 15))
    assert (patient.phone, patient.email) == ("+972547654321", "dana.levi@example.org")
    assert patient.primary_condition == lupus
    created = dana.events.get(kind=EventKind.CREATED)
    assert created.author == coordinator
    assert created.body == "Lead received (Referring physician). Imported from leads.csv, row 1."
    assert dana.events.filter(kind=EventKind.ASSIGNMENT).exists()
    assert Patient.objects.count() == Referral.objects.count() == 2
    assert not dana.possible_duplicates.exists()


def test_it_records_the_import_run_in_the_access_log(coordinator_client, coordinator):
    _import(coordinator_client, _csv(DANA, YOSSI))

    entry = AccessLog.objects.get()
    assert (entry.user, entry.action) == (coordinator, AccessAction.IMPORT)
    assert entry.detail == (
        "Referral import of leads.csv: 2 leads, 0 flagged as possible duplicates"
    )
    assert entry.ip_address == "127.0.0.1"


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
def test_it_shows_row_errors_and_writes_nothing(coordinator_client, change, column, message):
    bad_row = {**YOSSI, **change}

    dry_run = _dry_run(coordinator_client, _csv(DANA, bad_row, MIRIAM))

    errors = _errors(dry_run)
    assert list(errors) == [2]
    assert list(errors[2]) == [column]
    assert message in " ".join(errors[2][column])
    assert dry_run.context.get("confirm_form") is None
    assert b"Some rows failed to validate" in dry_run.content
    assert not Patient.objects.exists()
    assert not Referral.objects.exists()


def test_it_reports_every_problem_of_a_row_at_once(coordinator_client):
    bad = {**DANA, "date_of_birth": "tomorrow", "condition": "Gout", "phone": "000"}

    errors = _errors(_dry_run(coordinator_client, _csv(bad)))

    assert set(errors[1]) == {"date_of_birth", "condition", "phone"}


def test_it_names_a_missing_column(coordinator_client):
    content = b"first_name,last_name,phone\nDana,Levi,0547654321\n"

    dry_run = _dry_run(coordinator_client, content)

    assert b"The file has no source column" in dry_run.content
    assert dry_run.context.get("confirm_form") is None
    assert not Referral.objects.exists()


def test_it_writes_nothing_if_the_file_stops_validating_before_confirmation(
    coordinator_client, lupus
):
    dry_run = _dry_run(coordinator_client, _csv(DANA, MIRIAM))
    lupus.delete()  # Dana's condition is gone by the time the import is confirmed

    response = _confirm(coordinator_client, dry_run)

    assert response.status_code == 302
    assert response["Location"] == IMPORT_URL
    assert not Patient.objects.exists()
    assert not Referral.objects.exists()
    assert not AccessLog.objects.exists()


def test_it_flags_a_duplicate_by_phone_and_adds_it_all_the_same(coordinator_client):
    known = ReferralFactory(patient=PatientFactory(phone="+972547654321", email="x@example.org"))

    dry_run = _dry_run(coordinator_client, _csv(DANA))
    assert _preview(dry_run)[0]["duplicate_of"] == f"#{known.pk}"
    _confirm(coordinator_client, dry_run)

    new = Referral.objects.exclude(pk=known.pk).get()
    assert list(new.possible_duplicates.all()) == [known]
    assert new.patient_id != known.patient_id  # flagged, not merged into the known patient
    assert f"Possible duplicate of #{known.pk}." in new.events.get(kind=EventKind.CREATED).body
    assert AccessLog.objects.get().detail.endswith("1 leads, 1 flagged as possible duplicates")


def test_it_flags_a_duplicate_by_email_in_any_case(coordinator_client):
    known = ReferralFactory(patient=PatientFactory(email="Dana.Levi@Example.org"))

    dry_run = _dry_run(coordinator_client, _csv(DANA))
    assert _preview(dry_run)[0]["duplicate_of"] == f"#{known.pk}"
    _confirm(coordinator_client, dry_run)

    new = Referral.objects.exclude(pk=known.pk).get()
    assert list(new.possible_duplicates.all()) == [known]


def test_it_flags_a_duplicate_earlier_in_the_same_file(coordinator_client):
    again = {**DANA, "email": "", "phone": "+972-54-765-4321", "first_name": "Danah"}

    dry_run = _dry_run(coordinator_client, _csv(DANA, YOSSI, again))
    assert [row["duplicate_of"] for row in _preview(dry_run)] == ["", "", "row 1"]
    _confirm(coordinator_client, dry_run)

    first = Referral.objects.get(patient__first_name="Dana")
    last = Referral.objects.get(patient__first_name="Danah")
    assert list(last.possible_duplicates.all()) == [first]
    assert Referral.objects.count() == 3


def test_it_warns_after_an_import_with_duplicates(coordinator_client):
    ReferralFactory(patient=PatientFactory(phone="+972547654321"))

    response = _import(coordinator_client, _csv(DANA, YOSSI))

    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages[0].startswith("Import finished: 2 new")
    assert messages[1].startswith("1 imported lead(s) look like leads already known")


def test_it_flags_every_row_when_the_same_file_is_imported_twice(coordinator_client):
    content = _csv(DANA, YOSSI, MIRIAM)
    _import(coordinator_client, content)
    first_run = set(Referral.objects.values_list("pk", flat=True))

    dry_run = _dry_run(coordinator_client, content)
    assert all(row["duplicate_of"].startswith("#") for row in _preview(dry_run))
    _import(coordinator_client, content)

    second_run = Referral.objects.exclude(pk__in=first_run)
    assert second_run.count() == 3
    for referral in second_run:
        assert {d.pk for d in referral.possible_duplicates.all()} & first_run, referral
    assert Patient.objects.count() == 6


def test_it_stores_names_and_notes_without_control_bidi_or_invisible_characters(
    coordinator_client,
):
    hostile = {
        **DANA,
        "first_name": "Da\x00na\u200b",
        "last_name": "\u202eLevi\x01",
        "referring_physician_name": "Dr.\x1b Noa\tKatz",
        "notes": "Lupus nephritis\r\n\x07failed MMF\u2028and rituximab",
    }

    _import(coordinator_client, _csv(hostile))

    referral = Referral.objects.select_related("patient").get()
    assert (referral.patient.first_name, referral.patient.last_name) == ("Dana", "Levi")
    assert referral.referring_physician_name == "Dr. Noa Katz"
    assert referral.intake_message == "Lupus nephritis\nfailed MMF\nand rituximab"


def test_it_refuses_a_name_made_of_invisible_characters(coordinator_client):
    dry_run = _dry_run(coordinator_client, _csv({**DANA, "first_name": "\u200b\x00\u202e"}))

    assert _errors(dry_run)[1] == {"first_name": ["This column is required."]}
    assert not Referral.objects.exists()


def test_it_imports_an_xlsx_file(coordinator_client, lupus):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append([column.upper() for column in COLUMNS])  # header case does not matter
    born = datetime.datetime(1985, 6, 15)  # a date cell, and the phone as a number cell
    sheet.append(["Dana", "Levi", born, 972547654321, "", "sle", "E-mail", None, None])
    sheet.append([None] * len(COLUMNS))  # a blank row at the end is ignored
    data = io.BytesIO()
    workbook.save(data)

    _import(coordinator_client, data.getvalue(), name="leads.xlsx", file_format=XLSX_FORMAT)

    referral = Referral.objects.select_related("patient").get()
    assert referral.source == "email"
    assert referral.patient.date_of_birth == datetime.date(1985, 6, 15)
    assert referral.patient.phone == "+972547654321"
    assert referral.patient.primary_condition == lupus


def test_it_shows_row_errors_of_an_xlsx_file(coordinator_client):
    workbook = Workbook()
    workbook.active.append(list(COLUMNS))
    workbook.active.append(["Dana", "Levi", "1985-13-40", "0547654321", "", "sle", "phone"])
    data = io.BytesIO()
    workbook.save(data)

    dry_run = _dry_run(
        coordinator_client, data.getvalue(), name="leads.xlsx", file_format=XLSX_FORMAT
    )

    assert list(_errors(dry_run)[1]) == ["date_of_birth"]
    assert not Referral.objects.exists()


def test_it_refuses_the_import_to_staff_who_cannot_add_referrals(client):
    viewer = UserFactory(username="viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_referral"))
    client.force_login(viewer)

    assert client.get(IMPORT_URL).status_code == 403
    assert client.post(IMPORT_URL, {}).status_code == 403
    changelist = client.get(reverse("admin:referrals_referral_changelist"))
    assert IMPORT_URL.encode() not in changelist.content


def test_it_sends_anonymous_visitors_to_log_in(client):
    response = client.get(IMPORT_URL)

    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
