"""Forms of the coordinator pages, one module per capability. They validate input; services
decide what the domain allows.

Every form derives from `carecrm.forms.CleanTextForm` (or `CleanTextModelForm`), which cleans
the text typed into it before validation (`carecrm.text`).
"""

from referrals.forms.base import SelectWidget, VersionedForm
from referrals.forms.facts import (
    VALUE_SUGGESTIONS,
    ClinicalFactForm,
    CriterionKeyForm,
    CriterionOverrideForm,
)
from referrals.forms.filters import BoardFilterForm, DashboardPeriodForm, QueueFilterForm
from referrals.forms.follow_up import FollowUpVisitForm, TreatmentOutcomeForm
from referrals.forms.handoff import PacketSendForm
from referrals.forms.hospital import (
    DocumentsRequestForm,
    HospitalAcceptForm,
    HospitalDatesForm,
    HospitalDeclineForm,
    HospitalFilterForm,
    HospitalTreatedForm,
)
from referrals.forms.intake import (
    MENU_VALUES,
    OTHER_CONDITION,
    PHONE_REGION,
    IntakeForm,
    TreatmentsTriedFormSet,
    localized_choices_clear,
)
from referrals.forms.lead import (
    AssignForm,
    BoardMoveForm,
    CandidateForm,
    DocumentForm,
    NextActionForm,
    NoteForm,
    TaskForm,
    TransitionForm,
)
from referrals.forms.lines import TreatmentLineForm

__all__ = [
    "MENU_VALUES",
    "OTHER_CONDITION",
    "PHONE_REGION",
    "VALUE_SUGGESTIONS",
    "AssignForm",
    "BoardFilterForm",
    "BoardMoveForm",
    "CandidateForm",
    "ClinicalFactForm",
    "CriterionKeyForm",
    "CriterionOverrideForm",
    "DashboardPeriodForm",
    "DocumentForm",
    "DocumentsRequestForm",
    "FollowUpVisitForm",
    "HospitalAcceptForm",
    "HospitalDatesForm",
    "HospitalDeclineForm",
    "HospitalFilterForm",
    "HospitalTreatedForm",
    "IntakeForm",
    "NextActionForm",
    "NoteForm",
    "PacketSendForm",
    "QueueFilterForm",
    "SelectWidget",
    "TaskForm",
    "TransitionForm",
    "TreatmentLineForm",
    "TreatmentOutcomeForm",
    "TreatmentsTriedFormSet",
    "VersionedForm",
    "localized_choices_clear",
]
