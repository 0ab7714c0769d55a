"""Patients, their prior treatment lines, and the referrals (leads) coordinators work.

Clinical history is never cascaded away: every foreign key into patients, lines and events is
PROTECT. Erasure for privacy is an explicit service, not a delete.

One module per capability (see the README's "Where things live"):

- `display.py`: `QuickChoiceDisplay`, the choice-label mixin the models share;
- `patients.py`: patients and their prior treatment lines, the one rule for a failed line;
- `referrals.py`: referrals, `HOSPITAL_SIDE`, their events, screening records and tasks;
- `documents.py`: the documents received for a lead;
- `audit.py`: the read-access log;
- `imports.py`: the referral import's jobs and checked rows;
- `outcomes.py`: the treatment's outcome and the follow-up visits;
- `hospital.py`: liaison profiles and the referral snapshots sent to a hospital;
- `facts.py`: dated clinical facts about a patient, and coordinators' criterion overrides.

Django finds the models through the imports below, in the order they were always registered.
Re-exported here too: the vocabulary names callers have always imported from
`referrals.models` (their home is `referrals.vocabulary`).
"""

# In the order the models were always defined: Django registers them in import order, and
# numbers their content types and permissions on a new database in that order.
# isort: off
from referrals.models.display import QuickChoiceDisplay
from referrals.models.patients import (
    FAILED_LINES_COUNTED,
    Patient,
    PatientQuerySet,
    PriorTreatmentLine,
    PriorTreatmentLineQuerySet,
    age_on,
)
from referrals.models.referrals import (
    HOSPITAL_SIDE,
    Referral,
    ReferralEvent,
    ReferralQuerySet,
    ScreeningRecord,
    Task,
    TaskQuerySet,
)
from referrals.models.documents import LeadDocument
from referrals.models.audit import AccessLog
from referrals.models.imports import ImportJob, ImportJobRow
from referrals.models.outcomes import FollowUpVisit, TreatmentOutcome, add_months
from referrals.models.hospital import LiaisonProfile, ReferralSnapshot
from referrals.models.facts import ClinicalFact, CriterionOverride, FactSource
# isort: on

from referrals.vocabulary import (
    FAILURE_REASONS,
    FOLLOW_UP_MONTHS,
    GRADE_CHOICES,
    GRADE_MAX,
    IMPORT_JOB_RUNNING_STATES,
    MEASURES,
    OPEN_STAGES,
    AccessAction,
    BestResponse,
    CloseReason,
    ContactChannel,
    DocumentKind,
    EventKind,
    HospitalDeclineReason,
    HospitalSide,
    ImportJobState,
    Language,
    Priority,
    ReasonStopped,
    ScreenFailureCriterion,
    ScreeningVerdict,
    Sex,
    Source,
    Stage,
    SubmitterRole,
)

__all__ = [
    "FAILED_LINES_COUNTED",
    "FAILURE_REASONS",
    "FOLLOW_UP_MONTHS",
    "GRADE_CHOICES",
    "GRADE_MAX",
    "HOSPITAL_SIDE",
    "IMPORT_JOB_RUNNING_STATES",
    "MEASURES",
    "OPEN_STAGES",
    "AccessAction",
    "AccessLog",
    "BestResponse",
    "ClinicalFact",
    "CloseReason",
    "ContactChannel",
    "CriterionOverride",
    "DocumentKind",
    "EventKind",
    "FactSource",
    "FollowUpVisit",
    "HospitalDeclineReason",
    "HospitalSide",
    "ImportJob",
    "ImportJobRow",
    "ImportJobState",
    "Language",
    "LeadDocument",
    "LiaisonProfile",
    "Patient",
    "PatientQuerySet",
    "PriorTreatmentLine",
    "PriorTreatmentLineQuerySet",
    "Priority",
    "QuickChoiceDisplay",
    "ReasonStopped",
    "Referral",
    "ReferralEvent",
    "ReferralQuerySet",
    "ReferralSnapshot",
    "ScreenFailureCriterion",
    "ScreeningRecord",
    "ScreeningVerdict",
    "Sex",
    "Source",
    "Stage",
    "SubmitterRole",
    "Task",
    "TaskQuerySet",
    "TreatmentOutcome",
    "add_months",
    "age_on",
]
