"""Import of referrals (one lead and its patient per row) with django-import-export.

Each row is parsed and validated into an `ImportedLead` by a pure function (`parse_row`), which
raises a `ValidationError` naming the columns at fault; the admin shows those next to the row
in the dry run and offers no confirm button until the file is clean. The confirmed import writes
every row through `services.referral_import` in one transaction: a patient, a lead in stage
"new" with its "created" timeline event, and `possible_duplicates` for leads of the same person
(phone, e-mail, or name and date of birth), whether already in CareCRM or earlier in the same file.
Duplicates are flagged, never merged or dropped: the preview lists them in `duplicate_of`.
"""

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from import_export import resources
from import_export.fields import Field

from carecrm.text import multi_line, one_line
from referrals import services
from referrals.forms import PHONE_REGION
from referrals.models import AccessAction, Patient, Referral, Source
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


class ReferralImportResource(resources.ModelResource):
    """One referral per row, created with its patient; the columns are `COLUMNS`.

    The declared fields only say how the dry-run preview reads a saved row back; the row itself
    is parsed by `parse_row` and written by `services.referral_import`.
    """

    duplicate_of = Field(attribute="import_duplicate_of", column_name="duplicate_of", readonly=True)
    first_name = Field(attribute="patient__first_name", column_name="first_name")
    last_name = Field(attribute="patient__last_name", column_name="last_name")
    date_of_birth = Field(attribute="patient__date_of_birth", column_name="date_of_birth")
    phone = Field(attribute="patient__phone", column_name="phone")
    email = Field(attribute="patient__email", column_name="email")
    condition = Field(attribute="patient__primary_condition", column_name="condition")
    source = Field(attribute="get_source_display", column_name="source")
    referring_physician_name = Field(
        attribute="referring_physician_name", column_name="referring_physician_name"
    )
    notes = Field(attribute="intake_message", column_name="notes")

    class Meta:
        model = Referral
        name = "Referrals with their patients"
        fields = ("duplicate_of", *COLUMNS)  # the flag first: visible without scrolling
        import_order = fields
        force_init_instance = True  # every row is a new lead; nothing is looked up or updated
        use_transactions = True
        clean_model_instances = False  # parse_row validates; the service writes

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conditions: dict[str, Condition] = {}
        self.row_of_lead: dict[int, int] = {}  # lead id → file row, for leads of this file
        self.flagged = 0

    def get_user_visible_fields(self):
        return [field for field in super().get_user_visible_fields() if not field.readonly]

    def before_import(self, dataset, **kwargs):
        dataset.headers = [_text(header).casefold() for header in dataset.headers or []]
        blank_rows = [i for i, row in enumerate(dataset) if not any(_text(v) for v in row)]
        for i in reversed(blank_rows):
            del dataset[i]
        missing = [column for column in REQUIRED_COLUMNS if column not in dataset.headers]
        if missing:
            raise ValueError(
                f"The file has no {', '.join(missing)} column. Its first row must name the "
                f"columns: {', '.join(COLUMNS)}."
            )
        self.conditions = condition_lookup(Condition.objects.all())

    def import_instance(self, instance: Referral, row, **kwargs) -> None:
        lead = parse_row(row, self.conditions)
        instance.patient = Patient(
            first_name=lead.first_name,
            last_name=lead.last_name,
            date_of_birth=lead.date_of_birth,
            phone=lead.phone,
            email=lead.email,
            primary_condition=lead.condition,
        )
        instance.source = lead.source
        instance.referring_physician_name = lead.referring_physician_name
        instance.intake_message = lead.notes

    def save_instance(self, instance: Referral, is_create, row, **kwargs) -> None:
        number = kwargs["row_number"]
        origin = f"Imported from {kwargs.get('file_name') or 'a file'}, row {number}."
        duplicates = services.referral_import(
            patient=instance.patient, referral=instance, by=kwargs.get("user"), origin=origin
        )
        self.row_of_lead[instance.pk] = number
        self.flagged += bool(duplicates)
        instance.import_duplicate_of = ", ".join(
            f"row {self.row_of_lead[d.pk]}" if d.pk in self.row_of_lead else f"#{d.pk}"
            for d in duplicates
        )

    def after_import(self, dataset, result, **kwargs):
        super().after_import(dataset, result, **kwargs)
        if self._is_dry_run(kwargs) or result.has_errors() or result.has_validation_errors():
            return
        request = kwargs.get("request")
        services.access_log_record(
            user=kwargs.get("user"),
            action=AccessAction.IMPORT,
            detail=(
                f"Referral import of {kwargs.get('file_name') or 'a file'}: "
                f"{len(self.row_of_lead)} leads, {self.flagged} flagged as possible duplicates"
            ),
            ip_address=request.META.get("REMOTE_ADDR") if request else None,
        )
