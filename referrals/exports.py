"""Exports of the referral list and the screening log, as CSV and XLSX files.

Plain functions: each export is a list of columns (a header and how to read the value from one
row) and a queryset preparation that loads every related row the columns read, so iterating
costs the same number of queries for 5 rows as for 5,000 (the failed-line count needs the
treatment lines, each with whether a therapy of it counts: one prefetch query per chunk of
`CHUNK_SIZE` rows).

Data minimisation: no phone, e-mail, date of birth, full name or free text the patient typed
leaves the system this way. A patient appears as a pseudonymous id (`P-000123`, from the patient's
primary key) and initials; a diagnosis outside the reference list as `OTHER_CONDITION_LABEL`.

Both files are built in full before they are sent: a failure answers with an error, not with a
truncated file, and the export is logged only once it exists. Every text cell is cleaned
(`carecrm.text.one_line`), so a control character stored before the forms cleaned text, or by a
path that bypasses them, neither breaks openpyxl nor reaches the file.
"""

import csv
import datetime
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from django.db.models import Model, QuerySet
from django.http import FileResponse
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from carecrm.text import one_line
from referrals.models import Patient, Referral, ScreeningRecord

CHUNK_SIZE = 2000
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BOM = "\ufeff"  # lets Excel open UTF-8 (Hebrew, Arabic, Russian names of conditions) correctly
# Spreadsheet programs run a cell that starts with one of these as a formula (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
SPOOL_IN_MEMORY_BYTES = 10 * 1024 * 1024  # larger files spill to a temporary file on disk
# What the pseudonymous exports say for a diagnosis outside the reference list: the patient's
# own words for it are free text, which may name them or say more than the export should.
OTHER_CONDITION_LABEL = "Other (not listed)"

Value = str | int | datetime.date | datetime.datetime | None


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Model], Value]


@dataclass(frozen=True)
class ExportSpec:
    """One exportable list: its file name stem, sheet title, columns and queryset loading."""

    name: str
    title: str
    columns: tuple[Column, ...]
    prepare: Callable[[QuerySet], QuerySet]

    @property
    def headers(self) -> list[str]:
        return [column.header for column in self.columns]


# --- shared value helpers -------------------------------------------------------------------


def pseudonymous_id(patient_id: int) -> str:
    return f"P-{patient_id:06d}"


def initials(patient: Patient) -> str:
    """The first letter of each name as it reads (never a control or invisible character)."""
    names = (one_line(patient.first_name), one_line(patient.last_name))
    return "".join(f"{name[0].upper()}." for name in names if name)


def _person(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def _local(moment: datetime.datetime | None) -> datetime.datetime | None:
    """Local wall-clock time without tzinfo (spreadsheets have no time zones)."""
    if moment is None:
        return None
    return timezone.localtime(moment).replace(tzinfo=None, microsecond=0)


# --- referrals ------------------------------------------------------------------------------


def _condition(referral: Referral) -> str:
    patient = referral.patient
    if patient.primary_condition is not None:
        return patient.primary_condition.name
    return OTHER_CONDITION_LABEL if patient.condition_other else ""


def _target(referral: Referral) -> str:
    return str(referral.target_program or referral.target_trial or "")


def _prepare_referrals(queryset: QuerySet) -> QuerySet:
    return queryset.select_related(
        "patient__primary_condition",
        "assigned_to",
        "target_program__hospital",
        "target_trial",
    ).with_failed_line_count()


REFERRALS = ExportSpec(
    name="referrals",
    title="Referrals",
    columns=(
        Column("Referral ID", lambda r: r.pk),
        Column("Received", lambda r: _local(r.created_at)),
        Column("Source", lambda r: r.get_source_display()),
        Column("Stage", lambda r: r.get_stage_display()),
        Column("Close reason", lambda r: r.get_close_reason_display()),
        Column("Screen failure criterion", lambda r: r.get_screen_failure_criterion_display()),
        Column("Coordinator", lambda r: _person(r.assigned_to)),
        Column("Patient ID", lambda r: pseudonymous_id(r.patient_id)),
        Column("Initials", lambda r: initials(r.patient)),
        Column("Condition", _condition),
        Column("Failed lines", lambda r: r.failed_line_count),
        Column("Target", _target),
        Column("Next action", lambda r: r.next_action),
        Column("Next action due", lambda r: r.next_action_due),
    ),
    prepare=_prepare_referrals,
)


# --- the screening log (an OnCore-style pre-screening log) ----------------------------------

SCREENING_LOG = ExportSpec(
    name="screening-log",
    title="Screening log",
    columns=(
        Column("Date recorded", lambda s: _local(s.recorded_at)),
        Column("Initials", lambda s: initials(s.referral.patient)),
        Column("Patient ID", lambda s: pseudonymous_id(s.referral.patient_id)),
        Column("Referral ID", lambda s: s.referral_id),
        Column("Candidate", lambda s: s.candidate_name),
        Column("Outcome", lambda s: s.get_verdict_display()),
        Column("Criteria failed", lambda s: "; ".join(s.failed_criteria)),
        Column("Recorded by", lambda s: _person(s.recorded_by)),
    ),
    prepare=lambda queryset: queryset.select_related("referral__patient", "recorded_by"),
)

SPECS: dict[type[Model], ExportSpec] = {Referral: REFERRALS, ScreeningRecord: SCREENING_LOG}


# --- rows and files -------------------------------------------------------------------------


def rows(spec: ExportSpec, queryset: QuerySet) -> Iterator[list[Value]]:
    """The values of every row, read in chunks; the query count does not grow with the rows."""
    for obj in spec.prepare(queryset).iterator(chunk_size=CHUNK_SIZE):
        yield [_cell(column.value(obj)) for column in spec.columns]


def _cell(value: Value) -> Value:
    """Text cleaned, then kept as text if a spreadsheet would run it as a formula (OWASP CSV
    injection). Cleaned first: "\x01=cmd()" is a formula once the control character is gone."""
    if not isinstance(value, str):
        return value
    value = one_line(value)
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def _csv_text(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


class _Echo:
    """A file-like object whose write() returns the line instead of storing it."""

    def write(self, value: str) -> str:
        return value


def csv_lines(spec: ExportSpec, queryset: QuerySet) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield BOM + writer.writerow(spec.headers)
    for values in rows(spec, queryset):
        yield writer.writerow([_csv_text(value) for value in values])


def filename(spec: ExportSpec, extension: str, today: datetime.date | None = None) -> str:
    today = today or timezone.localdate()
    return f"{spec.name}-{today:%Y-%m-%d}.{extension}"


def _built(spec: ExportSpec, extension: str, content_type: str, write) -> FileResponse:
    """A file written in full by `write` to a spooled temporary file (memory up to 10 MB, then
    disk) and only then sent. If writing fails, the spool is discarded and the error raised."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115
    try:
        write(spool)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return FileResponse(
        spool, as_attachment=True, filename=filename(spec, extension), content_type=content_type
    )


def csv_response(spec: ExportSpec, queryset: QuerySet) -> FileResponse:
    """The CSV, its rows read in chunks while it is written."""

    def write(file) -> None:
        for line in csv_lines(spec, queryset):
            file.write(line.encode())

    return _built(spec, "csv", CSV_CONTENT_TYPE, write)


def xlsx_workbook(spec: ExportSpec, values: Iterable[list[Value]], file) -> None:
    """Write a workbook in openpyxl's write-only mode (rows go to disk, not into memory)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(spec.title)
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for text in spec.headers:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    try:
        for row in values:
            cells = []
            for value in row:
                cell = WriteOnlyCell(sheet, value=value)
                if isinstance(value, datetime.datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm"
                elif isinstance(value, datetime.date):
                    cell.number_format = "yyyy-mm-dd"
                cells.append(cell)
            sheet.append(cells)
    finally:
        # Also when a row failed: saving is what deletes the temporary file openpyxl wrote the
        # sheet's rows to, which would otherwise stay on disk until the process ends.
        workbook.save(file)


def xlsx_response(spec: ExportSpec, queryset: QuerySet) -> FileResponse:
    """The workbook, its rows read in chunks while openpyxl writes it."""

    def write(file) -> None:
        xlsx_workbook(spec, rows(spec, queryset), file)

    return _built(spec, "xlsx", XLSX_CONTENT_TYPE, write)
