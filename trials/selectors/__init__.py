"""Reads of the reference world, one module per capability (see the README's "Where things
live"). Re-exported here: what callers outside this package use.
"""

from trials.selectors.coverage import CandidateCoverage, CriteriaCoverage, criteria_coverage

__all__ = ["CandidateCoverage", "CriteriaCoverage", "criteria_coverage"]
