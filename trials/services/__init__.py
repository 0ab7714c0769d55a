"""Writes to the reference world, one module per capability (see the README's "Where things
live"). Re-exported here: what callers outside this package use.
"""

from trials.services.reference_data import reference_data_load
from trials.services.reference_files import REFERENCE_DIR, ReferenceDataError
from trials.services.registry_import import (
    FieldChange,
    ImportCounts,
    ImportOutcome,
    ImportPlan,
    trial_import_apply,
    trial_import_plan,
)

__all__ = [
    "REFERENCE_DIR",
    "FieldChange",
    "ImportCounts",
    "ImportOutcome",
    "ImportPlan",
    "ReferenceDataError",
    "reference_data_load",
    "trial_import_apply",
    "trial_import_plan",
]
