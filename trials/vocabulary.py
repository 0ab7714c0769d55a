"""The words and limits that the trial models and the registry rules (`trials.ctgov`) share:
the registry's statuses and phases, the CAR targets, the NCT ID format, the age limit, and the
lengths of the columns the registry fills.

Defined once here; `trials.models` declares its fields with them and `trials.ctgov` checks and
cuts registry values with them. No models and no ORM, so the rules stay testable on their own.
"""

from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _

NCT_ID_PATTERN = r"^NCT[0-9]{8}$"
# Where the service's patients are treated unless they can travel.
HOME_COUNTRY = "Israel"
AGE_LIMIT = 120

# Registry text longer than these columns is cut rather than refused (see `trials.ctgov`).
TRIAL_TITLE_MAX_LENGTH = 400
TRIAL_SHORT_NAME_MAX_LENGTH = 80
TRIAL_SPONSOR_MAX_LENGTH = 200
SITE_FACILITY_MAX_LENGTH = 200
SITE_CITY_MAX_LENGTH = 80
SITE_COUNTRY_MAX_LENGTH = 80


class CarTarget(TextChoices):
    CD19 = "cd19", "CD19"
    BCMA = "bcma", "BCMA"
    CD19_BCMA = "cd19_bcma", "CD19×BCMA"
    BAFF_R = "baff_r", "BAFF / BAFF-R"
    CAAR = "caar", _("CAAR (chimeric autoantibody receptor)")
    CAR_TREG = "car_treg", "CAR-Treg"
    OTHER = "other", _("Other")


class TrialStatus(TextChoices):
    """ClinicalTrials.gov API v2 `overallStatus` values."""

    NOT_YET_RECRUITING = "NOT_YET_RECRUITING", _("Not yet recruiting")
    RECRUITING = "RECRUITING", _("Recruiting")
    ENROLLING_BY_INVITATION = "ENROLLING_BY_INVITATION", _("Enrolling by invitation")
    ACTIVE_NOT_RECRUITING = "ACTIVE_NOT_RECRUITING", _("Active, not recruiting")
    SUSPENDED = "SUSPENDED", _("Suspended")
    TERMINATED = "TERMINATED", _("Terminated")
    COMPLETED = "COMPLETED", _("Completed")
    WITHDRAWN = "WITHDRAWN", _("Withdrawn")
    UNKNOWN = "UNKNOWN", _("Unknown status")


class TrialPhase(TextChoices):
    EARLY_PHASE1 = "EARLY_PHASE1", _("Early phase 1")
    PHASE1 = "PHASE1", _("Phase 1")
    PHASE1_2 = "PHASE1_PHASE2", _("Phase 1/2")
    PHASE2 = "PHASE2", _("Phase 2")
    PHASE2_3 = "PHASE2_PHASE3", _("Phase 2/3")
    PHASE3 = "PHASE3", _("Phase 3")
    NA = "NA", _("Not applicable")
