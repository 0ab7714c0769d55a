"""Exports of the referral list and the screening log: filtered, built in full, minimal, audited."""

import csv
import datetime
import io

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from referrals import exports
from referrals.models import AccessAction, AccessLog, Referral, ScreeningRecord, Stage
from tests.factories import (
    ConditionFactory,
    PatientFactory,
    PriorTreatmentLineFactory,
    ProgramFactory,
    ReferralFactory,
    ScreeningRecordFactory,
    TrialFactory,
    UserFactory,
)
from trials import admin as trials_admin

pytestmark = pytest.mark.django_db

REFERRAL_HEADERS = [
    "Referral ID",
    "Received",
    "Source",
    "Stage",
    "Close reason",
    "Screen failure criterion",
    "Coordinator",
    "Patient ID",
    "Initials",
    "Condition",
    "Failed lines",
    "Target",
    "Next action",
    "Next action due",
]
SCREENING_HEADERS = [
    "Date recorded",
    "Initials",
    "Patient ID",
    "Referral ID",
    "Candidate",
    "Outcome",
    "Criteria failed",
    "Recorded by",
]
REFERRAL_CSV = reverse("admin:referrals_referral_export_csv")
REFERRAL_XLSX = reverse("admin:referrals_referral_export_xlsx")
SCREENING_CSV = reverse("admin:referrals_screeningrecord_export_csv")
SCREENING_XLSX = reverse("admin:referrals_screeningrecord_export_xlsx")


def _body(response) -> bytes:
    assert response.status_code == 200, response
    return b"".join(response.streaming_content)


def _csv_rows(response) -> list[list[str]]:
    text = _body(response).decode("utf-8")
    assert text.startswith("\ufeff"), "Excel needs the BOM to read UTF-8"
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def _xlsx_rows(response) -> list[tuple]:
    workbook = load_workbook(io.BytesIO(_body(response)), read_only=True)
    return [tuple(row) for row in workbook.active.iter_rows(values_only=True)]


@pytest.fixture
def lead(coordinator):
    condition = ConditionFactory(name="Systemic lupus erythematosus", slug="sle")
    patient = PatientFactory(
        first_name="Dana",
        last_name="Levi",
        phone="+972541234567",
        email="dana.levi@example.org",
        primary_condition=condition,
    )
    PriorTreatmentLineFactory(patient=patient, line_number=1)
    PriorTreatmentLineFactory(patient=patient, line_number=2)
    return ReferralFactory(
        patient=patient,
        stage=Stage.SCREENING,
        assigned_to=coordinator,
        target_program=ProgramFactory(name="CD19 CAR-T", hospital__name="Sheba"),
        next_action="Ask for the renal biopsy report",
        next_action_due=datetime.date(2026, 3, 2),
    )


def test_it_exports_the_referral_list_as_a_csv_file(coordinator_client, coordinator, lead):
    response = coordinator_client.get(REFERRAL_CSV)

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    today = timezone.localdate()
    assert response["Content-Disposition"] == (
        f'attachment; filename="referrals-{today:%Y-%m-%d}.csv"'
    )
    header, *rows = _csv_rows(response)
    assert header == REFERRAL_HEADERS
    received = timezone.localtime(lead.created_at).strftime("%Y-%m-%d %H:%M")
    assert rows == [
        [
            str(lead.pk),
            received,
            "Phone",
            "Screening",
            "",
            "",
            coordinator.get_full_name(),
            f"P-{lead.patient_id:06d}",
            "D.L.",
            "Systemic lupus erythematosus",
            "2",
            "CD19 CAR-T (Sheba)",
            "Ask for the renal biopsy report",
            "2026-03-02",
        ]
    ]


def test_it_names_the_close_reason_and_a_trial_target(coordinator_client):
    closed = ReferralFactory(
        stage=Stage.CLOSED,
        close_reason="screen_failed",
        screen_failure_criterion="failed_lines",
        target_trial=TrialFactory(nct_id="NCT05869955", short_name="CABA-201"),
    )

    [row] = _csv_rows(coordinator_client.get(REFERRAL_CSV))[1:]

    assert row[0] == str(closed.pk)
    assert row[3:6] == ["Closed", "Screen failed", "Not enough failed lines"]
    assert row[11] == "NCT05869955 · CABA-201"


def test_it_leaves_contact_details_and_names_out_of_the_referral_export(coordinator_client, lead):
    body = _body(coordinator_client.get(REFERRAL_CSV)).decode("utf-8")
    xlsx = _xlsx_rows(coordinator_client.get(REFERRAL_XLSX))

    for secret in ("+972541234567", "dana.levi@example.org", "Dana", "Levi", "1985-06-15"):
        assert secret not in body
        assert secret not in repr(xlsx)
    for header in REFERRAL_HEADERS:
        assert not {"phone", "e-mail", "email", "birth"} & set(header.lower().split())


def test_it_exports_the_referral_list_as_xlsx(coordinator_client, lead):
    response = coordinator_client.get(REFERRAL_XLSX)

    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response["Content-Disposition"] == (
        f'attachment; filename="referrals-{timezone.localdate():%Y-%m-%d}.xlsx"'
    )
    header, row = _xlsx_rows(response)
    assert list(header) == REFERRAL_HEADERS
    assert row[0] == lead.pk
    assert row[1] == timezone.localtime(lead.created_at).replace(tzinfo=None, microsecond=0)
    assert row[3] == "Screening"
    assert row[7:11] == (f"P-{lead.patient_id:06d}", "D.L.", "Systemic lupus erythematosus", 2)
    assert row[13] == datetime.datetime(2026, 3, 2)  # a real date cell, not text


def test_it_keeps_hebrew_readable_in_both_formats(coordinator_client):
    ReferralFactory(patient=PatientFactory(first_name="דנה", last_name="לוי"), next_action="להתקשר")

    csv_row = _csv_rows(coordinator_client.get(REFERRAL_CSV))[1]
    xlsx_row = _xlsx_rows(coordinator_client.get(REFERRAL_XLSX))[1]

    assert (csv_row[8], csv_row[12]) == ("ד.ל.", "להתקשר")
    assert (xlsx_row[8], xlsx_row[12]) == ("ד.ל.", "להתקשר")


def test_it_shows_a_diagnosis_outside_the_list_as_other_without_the_patients_words(
    coordinator_client,
):
    words = "Still's disease, says Dr Cohen at Assuta"
    patient = PatientFactory(primary_condition=None, condition_other=words)
    unlisted = ReferralFactory(patient=patient)
    ScreeningRecordFactory(referral=unlisted)
    ReferralFactory(patient=PatientFactory(primary_condition=None, condition_other=""))

    csv_rows = _csv_rows(coordinator_client.get(REFERRAL_CSV))[1:]
    xlsx_rows = _xlsx_rows(coordinator_client.get(REFERRAL_XLSX))[1:]
    log = [
        _body(coordinator_client.get(SCREENING_CSV)).decode(),
        repr(_xlsx_rows(coordinator_client.get(SCREENING_XLSX))),
    ]

    conditions = {int(row[0]): row[9] for row in csv_rows}
    assert conditions[unlisted.pk] == "Other (not listed)"
    assert sorted(conditions.values()) == ["", "Other (not listed)"]
    assert sorted(row[9] or "" for row in xlsx_rows) == ["", "Other (not listed)"]
    for exported in (repr(csv_rows), repr(xlsx_rows), *log):
        assert "Still" not in exported and "Cohen" not in exported


def test_it_exports_only_the_rows_the_filters_select(coordinator_client, lead):
    ReferralFactory(stage=Stage.NEW)
    other_levi = ReferralFactory(patient=PatientFactory(last_name="Levi"), stage=Stage.NEW)
    ReferralFactory(patient=PatientFactory(last_name="Cohen"), stage=Stage.SCREENING)

    def exported_ids(url, params):
        rows = _csv_rows(coordinator_client.get(url, params))[1:]
        return sorted(int(row[0]) for row in rows)

    assert len(exported_ids(REFERRAL_CSV, {})) == 4
    assert exported_ids(REFERRAL_CSV, {"q": "Levi"}) == sorted([lead.pk, other_levi.pk])
    assert exported_ids(REFERRAL_CSV, {"stage__exact": "screening", "q": "Levi"}) == [lead.pk]
    xlsx = _xlsx_rows(coordinator_client.get(REFERRAL_XLSX, {"stage__exact": "screening"}))
    assert len(xlsx) == 3  # the header, Dana Levi and Cohen


def test_it_links_the_export_buttons_to_the_filtered_list(coordinator_client, lead):
    ReferralFactory(patient=PatientFactory(last_name="Levi"), stage=Stage.NEW)
    ReferralFactory(patient=PatientFactory(last_name="Cohen"), stage=Stage.SCREENING)
    changelist = reverse("admin:referrals_referral_changelist")

    page = coordinator_client.get(changelist, {"stage__exact": "screening", "q": "Levi", "p": "1"})

    links = {item["title"]: item["path"] for item in page.context["actions_list"]}
    assert links["Export CSV"] == f"{REFERRAL_CSV}?stage__exact=screening&q=Levi"
    assert links["Export XLSX"] == f"{REFERRAL_XLSX}?stage__exact=screening&q=Levi"
    assert b"export-csv/?stage__exact=screening&amp;q=Levi" in page.content
    rows = _csv_rows(coordinator_client.get(links["Export CSV"]))[1:]
    assert [int(row[0]) for row in rows] == [lead.pk]


def test_it_links_the_export_buttons_without_a_query_on_an_unfiltered_list(coordinator_client):
    page = coordinator_client.get(reverse("admin:referrals_screeningrecord_changelist"))

    links = {item["title"]: item["path"] for item in page.context["actions_list"]}
    assert links == {"Export CSV": SCREENING_CSV, "Export XLSX": SCREENING_XLSX}


def test_it_sends_a_bad_filter_back_to_the_list(coordinator_client):
    response = coordinator_client.get(REFERRAL_CSV, {"no_such_field": "1"})

    assert response.status_code == 302
    assert response["Location"].endswith("/admin/referrals/referral/?e=1")
    assert not AccessLog.objects.exists()


def test_it_exports_the_screening_log_oncore_style(coordinator_client, coordinator, lead):
    record = ScreeningRecordFactory(
        referral=lead,
        candidate_name="Sheba CD19 CAR-T",
        verdict="ineligible",
        recorded_by=coordinator,
        criteria=[
            {"name": "Condition", "result": "pass", "detail": "SLE"},
            {"name": "Age", "result": "fail", "detail": "Age 72 is above 70"},
            {"name": "Failed lines", "result": "fail", "detail": "1 of 2"},
            {"name": "Exclusions", "result": "unknown", "detail": ""},
        ],
    )

    response = coordinator_client.get(SCREENING_CSV)

    assert isinstance(response, StreamingHttpResponse)
    assert 'filename="screening-log-' in response["Content-Disposition"]
    header, row = _csv_rows(response)
    assert header == SCREENING_HEADERS
    assert row == [
        timezone.localtime(record.recorded_at).strftime("%Y-%m-%d %H:%M"),
        "D.L.",
        f"P-{lead.patient_id:06d}",
        str(lead.pk),
        "Sheba CD19 CAR-T",
        "Ineligible",
        "Age; Failed lines",
        coordinator.get_full_name(),
    ]
    xlsx_header, xlsx_row = _xlsx_rows(coordinator_client.get(SCREENING_XLSX))
    assert list(xlsx_header) == SCREENING_HEADERS
    assert xlsx_row[1:7] == (
        "D.L.",
        f"P-{lead.patient_id:06d}",
        lead.pk,
        "Sheba CD19 CAR-T",
        "Ineligible",
        "Age; Failed lines",
    )


def test_it_filters_the_screening_log_by_verdict(coordinator_client):
    eligible = ScreeningRecordFactory(verdict="eligible")
    ScreeningRecordFactory(verdict="ineligible")

    rows = _csv_rows(coordinator_client.get(SCREENING_CSV, {"verdict__exact": "eligible"}))[1:]

    assert [int(row[3]) for row in rows] == [eligible.referral_id]


def test_it_keeps_text_that_looks_like_a_formula_as_text(coordinator_client):
    ReferralFactory(next_action='=HYPERLINK("http://evil.example","x")')

    csv_row = _csv_rows(coordinator_client.get(REFERRAL_CSV))[1]
    xlsx_row = _xlsx_rows(coordinator_client.get(REFERRAL_XLSX))[1]

    assert csv_row[12] == '\'=HYPERLINK("http://evil.example","x")'
    assert xlsx_row[12] == '\'=HYPERLINK("http://evil.example","x")'


def test_it_records_each_export_in_the_access_log(coordinator_client, coordinator, lead):
    ReferralFactory(stage=Stage.SCREENING)
    ReferralFactory(stage=Stage.NEW)

    _body(coordinator_client.get(REFERRAL_CSV, {"stage__exact": "screening"}))
    _body(coordinator_client.get(SCREENING_XLSX))

    referral_export, screening_export = AccessLog.objects.order_by("id")
    assert (referral_export.user, referral_export.action) == (coordinator, AccessAction.EXPORT)
    assert referral_export.detail == (
        "Referrals exported as CSV; filters: stage__exact=screening; 2 rows"
    )
    assert referral_export.ip_address == "127.0.0.1"
    assert screening_export.detail == "Screening log exported as XLSX; filters: none; 0 rows"


@pytest.mark.parametrize("url", [REFERRAL_CSV, REFERRAL_XLSX, SCREENING_CSV, SCREENING_XLSX])
def test_it_records_nothing_when_an_export_fails(coordinator_client, lead, monkeypatch, url):
    ScreeningRecordFactory(referral=lead)

    def failing(patient):
        raise RuntimeError("the database went away mid-export")

    monkeypatch.setattr(exports, "initials", failing)  # read for every row of both lists

    with pytest.raises(RuntimeError):
        _body(coordinator_client.get(url))

    assert not AccessLog.objects.exists()


def test_it_exports_and_records_every_match_of_a_search_whose_list_count_stops(
    coordinator_client, monkeypatch
):
    monkeypatch.setattr(trials_admin, "SEARCH_COUNT_CAP", 2)
    for _ in range(5):
        ReferralFactory(patient=PatientFactory(last_name="Abergel"))

    rows = _csv_rows(coordinator_client.get(REFERRAL_CSV, {"q": "Abergel"}))[1:]

    assert len(rows) == 5
    assert AccessLog.objects.get().detail.endswith("filters: q=Abergel; 5 rows")


@pytest.mark.parametrize("url", [REFERRAL_CSV, REFERRAL_XLSX, SCREENING_CSV, SCREENING_XLSX])
def test_it_sends_anonymous_visitors_to_log_in(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
    assert not AccessLog.objects.exists()


@pytest.mark.parametrize("url", [REFERRAL_CSV, REFERRAL_XLSX, SCREENING_CSV, SCREENING_XLSX])
def test_it_refuses_staff_without_the_view_permission(client, url):
    client.force_login(UserFactory(username="no-role"))  # staff, in no group

    assert client.get(url).status_code == 403
    assert not AccessLog.objects.exists()


def test_it_follows_the_view_permission_of_each_list(client):
    clerk = UserFactory(username="clerk")
    clerk.user_permissions.add(Permission.objects.get(codename="view_referral"))
    client.force_login(clerk)

    assert _body(client.get(REFERRAL_CSV))  # read to its end, which closes the file
    assert client.get(SCREENING_CSV).status_code == 403


def _referrals_with_lines(count: int, program) -> None:
    for _ in range(count):
        line = PriorTreatmentLineFactory()
        ReferralFactory(patient=line.patient, target_program=program, stage=Stage.SCREENING)


def _screenings(count: int) -> None:
    referral, program = ReferralFactory(), ProgramFactory()
    for _ in range(count):
        ScreeningRecord.objects.create(
            referral=referral,
            program=program,
            candidate_name=str(program),
            verdict="ineligible",
            criteria=[{"name": "Age", "result": "fail", "detail": ""}],
        )


@pytest.mark.parametrize("url", [REFERRAL_CSV, REFERRAL_XLSX])
def test_it_keeps_referral_export_queries_flat_from_5_to_50_rows(
    coordinator_client, django_assert_num_queries, url
):
    program = ProgramFactory()
    # 1 session, 2 user, 3-4 the user's own and group permissions (the view check), 5 users
    # for the "assigned to" filter and 6 programs for the "target program" filter (the rebuilt
    # ChangeList), 7 COUNT of the filtered rows, 8 the referrals with patient, condition,
    # coordinator, target program, hospital and trial, and each patient's failed-line count,
    # 9 the access log line once the file is built.
    for total in (5, 50):
        _referrals_with_lines(total - Referral.objects.count(), program)
        with django_assert_num_queries(9):
            rows = _body(coordinator_client.get(url, {"stage__exact": "screening"}))
        assert rows


@pytest.mark.parametrize("url", [SCREENING_CSV, SCREENING_XLSX])
def test_it_keeps_screening_log_export_queries_flat_from_5_to_50_rows(
    coordinator_client, django_assert_num_queries, url
):
    # 1 session, 2 user, 3-4 the user's permissions and group permissions (view check),
    # 5 COUNT of the filtered rows, 6 the records with their lead, patient and recorder, 7 the
    # access log line once the file is built.
    for total in (5, 50):
        _screenings(total - ScreeningRecord.objects.count())
        with django_assert_num_queries(7):
            rows = _body(coordinator_client.get(url))
        assert rows


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL plans cursors")
def test_it_plans_the_export_cursor_for_every_row():
    # Planned for its first tenth of rows, an export of one coordinator's leads walked the whole
    # list's date index (bench/README.md, fifth round).
    with connection.cursor() as cursor:
        cursor.execute("SHOW cursor_tuple_fraction")
        assert cursor.fetchone()[0] == "1"
