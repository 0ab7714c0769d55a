"""The referral domain's words, each defined once: stages and their groupings, reasons, kinds
and the ranges of clinical scores.

Plain Python (Django's TextChoices are enums, not models), so `models/`, the pure rule modules
(`pipeline.py`), services, selectors, forms and templates all read the same definitions and a
rule module can be tested without a database.
"""

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _

# How a treatment line ended is clinical vocabulary the trials' criteria are written in too.
from trials.clinical import FACTS, FAILURE_REASONS, ReasonStopped  # noqa: F401

# --- patients and their treatment lines ----------------------------------------------------------


class Sex(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    OTHER = "other", _("Other")
    UNKNOWN = "unknown", _("Not recorded")


class Language(models.TextChoices):
    ENGLISH = "en", _("English")
    HEBREW = "he", _("Hebrew")
    RUSSIAN = "ru", _("Russian")
    ARABIC = "ar", _("Arabic")


class BestResponse(models.TextChoices):
    COMPLETE = "complete", _("Complete response")
    PARTIAL = "partial", _("Partial response")
    NONE = "none", _("No response")
    UNKNOWN = "unknown", _("Unknown")


# --- where a lead stands -------------------------------------------------------------------------


class Stage(models.TextChoices):
    NEW = "new", _("New")
    CONTACTED = "contacted", _("Contacted")
    RECORDS_REQUESTED = "records_requested", _("Records requested")
    SCREENING = "screening", _("Screening")
    ELIGIBLE = "eligible", _("Eligible")
    REFERRED = "referred", _("Referred")
    ACCEPTED = "accepted", _("Accepted")
    SCHEDULED = "scheduled", _("Scheduled")
    TREATED = "treated", _("Treated")
    FOLLOW_UP = "follow_up", _("Follow-up")
    CLOSED = "closed", _("Closed")


OPEN_STAGES = tuple(stage for stage in Stage if stage != Stage.CLOSED)

# Before the lead is referred: no hospital sees it.
PRE_REFERRAL_STAGES = (
    Stage.NEW,
    Stage.CONTACTED,
    Stage.RECORDS_REQUESTED,
    Stage.SCREENING,
    Stage.ELIGIBLE,
)
# Sent to a hospital and waiting on it: its liaison's open list, its answers (receipt, documents
# asked for) and its dates (consult, apheresis, infusion).
HOSPITAL_OPEN_STAGES = (Stage.REFERRED, Stage.ACCEPTED, Stage.SCHEDULED)
# Apheresis and infusion are dated once the hospital has accepted.
TREATMENT_DATE_STAGES = (Stage.ACCEPTED, Stage.SCHEDULED)
# The outcome and the follow-up visits are recorded after the infusion.
FOLLOW_UP_STAGES = (Stage.TREATED, Stage.FOLLOW_UP)


# --- where a referral stands with its hospital ---------------------------------------------------


class HospitalSide(models.TextChoices):
    """What the hospital has done with a referral. Stored by the database as
    `Referral.hospital_side`, computed from the stage, close reason and the hospital's dates
    (`referrals.models.HOSPITAL_SIDE`); nothing else derives it."""

    SENT = "sent", _("Sent, receipt not confirmed")
    RECEIVED = "received", _("Received, awaiting decision")
    CONSULT_BOOKED = "consult_booked", _("Consult booked, awaiting decision")
    ACCEPTED = "accepted", _("Accepted")
    SCHEDULED = "scheduled", _("Infusion scheduled")
    TREATED = "treated", _("Treated")
    DECLINED = "declined", _("Declined by the hospital")
    CLOSED = "closed", _("Closed by the service")


# The hospital has it and has not decided yet: its liaison's "Decide" list.
AWAITING_DECISION = (HospitalSide.SENT, HospitalSide.RECEIVED, HospitalSide.CONSULT_BOOKED)


# --- why a lead closed ---------------------------------------------------------------------------


class CloseReason(models.TextChoices):
    SCREEN_FAILED = "screen_failed", _("Screen failed")
    DECLINED_BY_PATIENT = "declined_by_patient", _("Declined by patient")
    DECLINED_BY_HOSPITAL = "declined_by_hospital", _("Declined by hospital")
    NOT_REACHABLE = "not_reachable", _("Not reachable / lost to follow-up")
    DUPLICATE = "duplicate", _("Duplicate")
    DECEASED = "deceased", _("Deceased")
    OTHER = "other", _("Other")


class ScreenFailureCriterion(models.TextChoices):
    """Which eligibility criterion ended a screen failure; the dashboard counts these."""

    CONDITION = "condition", _("Condition not covered")
    AGE = "age", _("Age out of range")
    FAILED_LINES = "failed_lines", _("Not enough failed lines")
    NOT_OPEN = "not_open", _("No program or trial open")
    EXCLUSION = "exclusion", _("Exclusion criterion")
    OTHER = "other", _("Other")


class HospitalDeclineReason(models.TextChoices):
    """Why a hospital declined a referral: the liaison picks one, the dashboard counts them."""

    NOT_ELIGIBLE = "not_eligible", _("Not eligible on the hospital's review")
    INSUFFICIENT_RECORDS = "insufficient_records", _("Records insufficient to decide")
    NO_CAPACITY = "no_capacity", _("No capacity in the program")
    NOT_FIT = "not_fit", _("Not fit for apheresis or lymphodepletion")
    EXCLUSION = "exclusion", _("Comorbidity or exclusion criterion")
    BETTER_ELSEWHERE = "better_elsewhere", _("Another program or trial fits better")
    OTHER = "other", _("Other")


# --- where a lead came from ----------------------------------------------------------------------


class Source(models.TextChoices):
    WEB_FORM = "web_form", _("Web form")
    PHONE = "phone", _("Phone")
    EMAIL = "email", _("E-mail")
    REFERRING_PHYSICIAN = "referring_physician", _("Referring physician")
    HOSPITAL = "hospital", _("Hospital")
    PATIENT_ORGANISATION = "patient_organisation", _("Patient organisation")


class SubmitterRole(models.TextChoices):
    PATIENT = "patient", _("The patient")
    FAMILY = "family", _("A relative or carer")
    PHYSICIAN = "physician", _("A referring physician")


class ContactChannel(models.TextChoices):
    PHONE = "phone", _("Phone call")
    WHATSAPP = "whatsapp", _("WhatsApp")
    EMAIL = "email", _("E-mail")


class Priority(models.IntegerChoices):
    LOW = 1, _("Low")
    NORMAL = 2, _("Normal")
    HIGH = 3, _("High")
    URGENT = 4, _("Urgent")


# --- the timeline, screening, documents and the audit --------------------------------------------


class EventKind(models.TextChoices):
    CREATED = "created", _("Created")
    STAGE_CHANGE = "stage_change", _("Stage change")
    NOTE = "note", _("Note")
    CALL = "call", _("Call")
    EMAIL = "email", _("E-mail")
    DOCUMENT_RECEIVED = "document_received", _("Document received")
    ASSIGNMENT = "assignment", _("Assignment")
    SCREENING = "screening", _("Eligibility check")
    TARGET = "target", _("Target chosen")
    MERGE = "merge", _("Merged")
    TREATMENT_LINE = "treatment_line", _("Treatment line")
    TASK = "task", _("Task")
    RECEIPT_CONFIRMED = "receipt_confirmed", _("Receipt confirmed by the hospital")
    DOCUMENTS_REQUESTED = "documents_requested", _("Documents requested by the hospital")
    HOSPITAL_DATES = "hospital_dates", _("Hospital dates")
    PACKET_SENT = "packet_sent", _("Referral packet sent")
    OUTCOME = "outcome", _("Treatment outcome")
    FOLLOW_UP = "follow_up", _("Follow-up visit")
    CLINICAL_FACT = "clinical_fact", _("Clinical fact")
    OVERRIDE = "override", _("Criterion override")


class ScreeningVerdict(models.TextChoices):
    """The eligibility engine's verdicts (`eligibility.Verdict`), as stored."""

    ELIGIBLE = "eligible", _("Eligible")
    NEEDS_INFO = "needs_info", _("Needs info")
    INELIGIBLE = "ineligible", _("Ineligible")


class DocumentKind(models.TextChoices):
    CONSENT_FORM = "consent_form", _("Consent form")
    MEDICAL_RECORD = "medical_record", _("Medical record")
    LAB_RESULT = "lab_result", _("Lab result")
    IMAGING_REPORT = "imaging_report", _("Imaging report")
    REFERRAL_LETTER = "referral_letter", _("Referral letter")
    OTHER = "other", _("Other")


class AccessAction(models.TextChoices):
    VIEW_LEAD = "view_lead", _("Opened a lead")
    VIEW_PATIENT = "view_patient", _("Opened a patient")
    EXPORT = "export", _("Exported data")
    IMPORT = "import", _("Imported data")
    VIEW_DOCUMENT = "view_document", _("Downloaded a document")


# What a coordinator writes on the timeline by hand (the rest is written by the actions).
NOTE_KINDS = (EventKind.NOTE, EventKind.CALL, EventKind.EMAIL, EventKind.DOCUMENT_RECEIVED)


# --- referral import -----------------------------------------------------------------------------


class ImportJobState(models.TextChoices):
    QUEUED = "queued", _("Waiting for the task worker")
    VALIDATING = "validating", _("Checking rows")
    VALIDATED = "validated", _("Checked")
    IMPORTING = "importing", _("Importing")
    DONE = "done", _("Imported")
    FAILED = "failed", _("Failed")


# A task of the worker is on it (or should be): the page polls, and offers "Resume" when the
# worker has been silent too long.
IMPORT_JOB_RUNNING_STATES = (
    ImportJobState.QUEUED,
    ImportJobState.VALIDATING,
    ImportJobState.IMPORTING,
)


# --- after treatment -----------------------------------------------------------------------------


# ASTCT consensus grading (Lee et al. 2019): cytokine release syndrome and immune effector
# cell-associated neurotoxicity syndrome are each graded 0 (none) to 4 (life-threatening).
GRADE_MAX = 4
GRADES = range(GRADE_MAX + 1)
GRADE_CHOICES = [(grade, str(grade)) for grade in GRADES]


FOLLOW_UP_MONTHS = (1, 3, 6, 12)


@dataclass(frozen=True)
class Measure:
    """A disease-activity score recorded at screening and at follow-up visits: 0 to `high`."""

    label: str
    high: int


# The scores a follow-up visit records, with the ranges of the clinical catalogue.
MEASURES = {
    kind: Measure(str(FACTS[kind].label), int(FACTS[kind].high))
    for kind in ("sledai_2k", "das28", "mrss", "mg_adl")
}
