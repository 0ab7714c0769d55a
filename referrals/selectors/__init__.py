"""Every read a staff page needs, in a fixed number of queries however many leads there are;
one module per capability. Callers use `from referrals import selectors`; the names they use are
re-exported here.
"""

from referrals.selectors.board import BOARD_COLUMN_LIMIT, BoardFilters, board_columns
from referrals.selectors.common import coordinators
from referrals.selectors.dashboard import (
    Period,
    dashboard_funnel,
    dashboard_kpis,
    dashboard_leads_by,
    dashboard_milestone_times,
    dashboard_program_capacity,
    dashboard_screen_failures,
    dashboard_workload,
    task_queue,
)
from referrals.selectors.eligibility import (
    condition_tree,
    current_facts,
    described_patient_evaluations,
    eligibility_candidates,
    patient_evaluations,
    patient_facts,
    patient_for_eligibility,
    referral_evaluations,
)
from referrals.selectors.handoff import referral_for_handoff, referral_packet
from referrals.selectors.hospital import (
    HOSPITAL_PAGE_SIZE,
    HospitalFilters,
    dashboard_hospital_side,
    hospital_open_counts,
    liaison_referrals,
    referral_for_liaison_page,
    referral_snapshot_data,
    sent_snapshot,
)
from referrals.selectors.intake import (
    IMPORT_ROW_FILTERS,
    coordinator_with_fewest_open_leads,
    coordinators_for_new_leads,
    import_job_rows,
    import_jobs_visible_to,
    possible_duplicates,
    possible_duplicates_of_many,
    same_person_keys,
)
from referrals.selectors.lead import (
    lead_document,
    lead_follow_up_visit,
    lead_has_eligible_screening,
    lead_task,
    lead_timeline,
    lead_treatment_line,
    referral_for_lead_page,
    screening_candidate,
)
from referrals.selectors.learning import dashboard_screening_accuracy
from referrals.selectors.outcomes import OutcomeFigures, dashboard_outcomes
from referrals.selectors.privacy import closed_leads_past_retention, patient_data_export
from referrals.selectors.queue import (
    QUEUE_PAGE_SIZE,
    QUEUE_TASK_LIMIT,
    QueueFilters,
    open_tasks_for,
    queue_for,
)

__all__ = [
    "BOARD_COLUMN_LIMIT",
    "HOSPITAL_PAGE_SIZE",
    "IMPORT_ROW_FILTERS",
    "QUEUE_PAGE_SIZE",
    "QUEUE_TASK_LIMIT",
    "BoardFilters",
    "HospitalFilters",
    "OutcomeFigures",
    "Period",
    "QueueFilters",
    "board_columns",
    "closed_leads_past_retention",
    "condition_tree",
    "coordinator_with_fewest_open_leads",
    "coordinators",
    "coordinators_for_new_leads",
    "current_facts",
    "dashboard_funnel",
    "dashboard_hospital_side",
    "dashboard_kpis",
    "dashboard_leads_by",
    "dashboard_milestone_times",
    "dashboard_outcomes",
    "dashboard_program_capacity",
    "dashboard_screen_failures",
    "dashboard_screening_accuracy",
    "dashboard_workload",
    "described_patient_evaluations",
    "eligibility_candidates",
    "hospital_open_counts",
    "import_job_rows",
    "import_jobs_visible_to",
    "lead_document",
    "lead_follow_up_visit",
    "lead_has_eligible_screening",
    "lead_task",
    "lead_timeline",
    "lead_treatment_line",
    "liaison_referrals",
    "open_tasks_for",
    "patient_data_export",
    "patient_evaluations",
    "patient_facts",
    "patient_for_eligibility",
    "possible_duplicates",
    "possible_duplicates_of_many",
    "queue_for",
    "referral_evaluations",
    "referral_for_handoff",
    "referral_for_lead_page",
    "referral_for_liaison_page",
    "referral_packet",
    "referral_snapshot_data",
    "same_person_keys",
    "screening_candidate",
    "sent_snapshot",
    "task_queue",
]
