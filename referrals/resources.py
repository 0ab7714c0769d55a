"""Reading and checking a referral import file (one lead and its patient per row). No writes.

`read_rows` reads a CSV (UTF-8) or XLSX file into numbered rows keyed by the header's column
names, refusing a file that cannot be imported as a whole (`ImportFileError`). Each row is
parsed and validated into an `ImportedLead` by a pure function (`parse_row`), which raises a
`ValidationError` naming the columns at fault; `check_row` keeps those next to the row for the
preview. The background job around it (validation in batches, duplicates, the all-or-nothing
write) is `referrals/imports.py`.
"""

import csv
import datetime
import io
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import openpyxl
import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from carecrm.text import multi_line, one_line
from referrals.forms import PHONE_REGION
from referrals.models import Patient, Referral
from referrals.vocabulary import Source
from trials.models import Condition

COLUMNS = (
    "first_name",
    "last_name",
    "date_of_birth",
    "phone",
    "email",
    "condition",
    "source",
    "referring_physician_name",
    "notes",
)
REQUIRED_COLUMNS = ("first_name", "last_name", "source")
MULTI_LINE_COLUMNS = ("notes",)
MAX_LENGTHS = {"first_name": 80, "last_name": 80, "referring_physician_name": 120, "email": 254}


@dataclass(frozen=True)
class ImportedLead:
    """One valid row of an import file, as plain values."""

    first_name: str
    last_name: str
    date_of_birth: datetime.date | None
    phone: str  # E.164, or ""
    email: str
    condition: Condition | None
    source: str
    referring_physician_name: str
    notes: str


def condition_lookup(conditions: Iterable[Condition]) -> dict[str, Condition]:
    """Conditions by slug and by name, case-insensitive."""
    lookup = {}
    for condition in conditions:
        lookup[condition.slug.casefold()] = condition
        lookup[condition.name.casefold()] = condition
    return lookup


SOURCES = {key.casefold(): value for value, label in Source.choices for key in (value, str(label))}


def _text(value, clean=one_line) -> str:
    """A cell as clean text (`carecrm.text`, as the forms clean theirs: a NUL or a bidi override
    in a name is never stored): CSV cells are strings, XLSX cells may be numbers, dates or
    empty."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return clean(str(value))


def _date_of_birth(value) -> datetime.date | None:
    if isinstance(value, datetime.datetime):
        born = value.date()
    elif isinstance(value, datetime.date):
        born = value
    elif not _text(value):
        return None
    else:
        try:
            born = datetime.datetime.strptime(_text(value), "%Y-%m-%d").date()
        except ValueError:
            raise ValidationError(
                "Write the date of birth as YYYY-MM-DD, e.g. 1985-06-15."
            ) from None
    if born > timezone.localdate():
        raise ValidationError("The date of birth is in the future.")
    if born.year < 1900:
        raise ValidationError("Enter a real date of birth.")
    return born


def _phone(value) -> str:
    raw = _text(value)
    if not raw:
        return ""
    try:
        number = phonenumbers.parse(raw, PHONE_REGION)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError(
            f"“{raw}” is not a valid phone number (e.g. 054-765-4321 or +972 54 765 4321)."
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_row(row: Mapping, conditions: Mapping[str, Condition]) -> ImportedLead:
    """Validate one row; every problem is reported at once, keyed by its column."""
    errors: dict[str, list[str]] = {}
    values = {
        column: _text(row.get(column), multi_line if column in MULTI_LINE_COLUMNS else one_line)
        for column in COLUMNS
    }

    for column in ("first_name", "last_name"):
        if not values[column]:
            errors.setdefault(column, []).append("This column is required.")
    for column, limit in MAX_LENGTHS.items():
        if len(values[column]) > limit:
            errors.setdefault(column, []).append(f"At most {limit} characters.")

    def checked(column: str, parse):
        try:
            return parse(row.get(column))
        except ValidationError as error:
            errors.setdefault(column, []).extend(error.messages)
            return None

    date_of_birth = checked("date_of_birth", _date_of_birth)
    phone = checked("phone", _phone) or ""
    email = values["email"]
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors.setdefault("email", []).append(f"“{email}” is not a valid e-mail address.")
    if not values["phone"] and not email:
        errors.setdefault("phone", []).append("Give a phone number or an e-mail address.")

    condition = None
    if values["condition"]:
        condition = conditions.get(values["condition"].casefold())
        if condition is None:
            errors.setdefault("condition", []).append(
                f"Unknown condition “{values['condition']}” (use its name or slug)."
            )

    source = SOURCES.get(values["source"].casefold())
    if source is None:
        known = ", ".join(value for value, _ in Source.choices)
        message = (
            f"Unknown source “{values['source']}” (one of: {known})."
            if values["source"]
            else f"This column is required (one of: {known})."
        )
        errors.setdefault("source", []).append(message)

    if errors:
        raise ValidationError(errors)
    return ImportedLead(
        first_name=values["first_name"],
        last_name=values["last_name"],
        date_of_birth=date_of_birth,
        phone=phone,
        email=email,
        condition=condition,
        source=source,
        referring_physician_name=values["referring_physician_name"],
        notes=values["notes"],
    )


# The upload stays in memory (FILE_UPLOAD_MAX_MEMORY_SIZE is larger): no patient data passes
# through the shared temporary directory.
MAX_FILE_BYTES = 10 * 1024 * 1024
# The import writes a file in one transaction, which on SQLite holds the database's write lock
# (bench/import_check.py): larger files are split.
MAX_ROWS = 20_000
# A workbook is a zip archive: refuse one that unpacks to far more than any real sheet of
# MAX_ROWS rows before openpyxl reads it.
MAX_XLSX_UNPACKED_BYTES = 200 * 1024 * 1024
XLSX_SIGNATURE = b"PK\x03\x04"
LEGACY_XLS_SIGNATURE = b"\xd0\xcf\x11\xe0"


class ImportFileError(Exception):
    """The file cannot be imported as a whole (unreadable, no header, missing columns…)."""


def read_rows(content: bytes) -> list[tuple[int, dict]]:
    """The file's rows under its header as (number, {column: cell}); row 1 is the first row
    under the header. Column names are matched in any case; other columns are ignored; blank
    rows are skipped (and keep their number, so "row 7" is the seventh row under the header)."""
    if content.startswith(LEGACY_XLS_SIGNATURE):
        raise ImportFileError(
            "This is an old Excel file (.xls). Save it as an Excel workbook (.xlsx) or as "
            "“CSV UTF-8” and upload it again."
        )
    table = _xlsx_table(content) if content.startswith(XLSX_SIGNATURE) else _csv_table(content)
    header = next(table, None)
    if header is None:
        raise ImportFileError("The file is empty.")
    columns = [_text(name).casefold() for name in header]
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        raise ImportFileError(
            f"The file has no {', '.join(missing)} column. Its first row must name the "
            f"columns: {', '.join(COLUMNS)}."
        )
    rows = []
    for number, cells in enumerate(table, start=1):
        if not any(_text(cell) for cell in cells):
            continue
        if len(rows) == MAX_ROWS:
            raise ImportFileError(
                f"The file has more than {MAX_ROWS:,} rows; split it into smaller files."
            )
        rows.append((number, dict(zip(columns, cells, strict=False))))
    if not rows:
        raise ImportFileError("The file has no rows under its header.")
    return rows


def _csv_table(content: bytes) -> Iterator[Sequence]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError(
            "The file is neither an Excel workbook (.xlsx) nor CSV text in UTF-8. In Excel, "
            "save it as “CSV UTF-8” or as a workbook and upload it again."
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        yield from reader
    except csv.Error as error:
        raise ImportFileError(
            f"The CSV file cannot be read at line {reader.line_num}: {error}."
        ) from None


def _xlsx_table(content: bytes) -> Iterator[Sequence]:
    """The first sheet's rows as cell values (numbers, dates and text as Excel holds them)."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
        if unpacked > MAX_XLSX_UNPACKED_BYTES:
            raise ImportFileError("The workbook is too large to read; split it into smaller files.")
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        try:
            yield from workbook.active.iter_rows(values_only=True)
        finally:
            workbook.close()
    except ImportFileError:
        raise
    except Exception:  # a damaged workbook: whatever openpyxl's zip and XML readers raise
        raise ImportFileError(
            "The file looks like an Excel workbook but cannot be read. Open it in Excel, save "
            "it again (or as “CSV UTF-8”) and upload it again."
        ) from None


@dataclass(frozen=True)
class CheckedRow:
    """One row of the file as the preview shows it, with its problems (column → messages)."""

    number: int
    values: dict[str, str]
    problems: dict[str, list[str]]
    lead: ImportedLead | None  # None when the row has problems


def check_row(number: int, row: Mapping, conditions: Mapping[str, Condition]) -> CheckedRow:
    try:
        lead = parse_row(row, conditions)
    except ValidationError as error:
        values = {column: _text(row.get(column)) for column in COLUMNS}
        return CheckedRow(number, values, error.message_dict, None)
    values = {
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "date_of_birth": lead.date_of_birth.isoformat() if lead.date_of_birth else "",
        "phone": lead.phone,
        "email": lead.email,
        "condition": str(lead.condition or ""),
        "source": str(Source(lead.source).label),
        "referring_physician_name": lead.referring_physician_name,
        "notes": lead.notes,
    }
    return CheckedRow(number, values, {}, lead)


def new_records(lead: ImportedLead) -> tuple[Patient, Referral]:
    """The unsaved patient and lead a valid row becomes."""
    patient = Patient(
        first_name=lead.first_name,
        last_name=lead.last_name,
        date_of_birth=lead.date_of_birth,
        phone=lead.phone,
        email=lead.email,
        primary_condition=lead.condition,
    )
    referral = Referral(
        source=lead.source,
        referring_physician_name=lead.referring_physician_name,
        intake_message=lead.notes,
    )
    return patient, referral
