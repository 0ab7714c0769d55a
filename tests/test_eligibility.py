"""The engine on constructed patients: every criterion's pass, fail and unknown path."""

import datetime

import pytest

from referrals.eligibility import Candidate, PatientFacts, Result, Verdict, evaluate

SLE, RA = 1, 2
TODAY = datetime.date(2026, 12, 7)


def _patient(**overrides) -> PatientFacts:
    facts = {
        "age": 40,
        "condition_ids": frozenset({SLE}),
        "condition_names": ("SLE",),
        "failed_line_count": 3,
        "line_count": 4,
        "exclusions": (),
    }
    return PatientFacts(**{**facts, **overrides})


def _candidate(**overrides) -> Candidate:
    fields = {
        "kind": "program",
        "id": 1,
        "name": "Sheba CD19",
        "condition_ids": frozenset({SLE}),
        "condition_names": ("SLE",),
        "min_age": 18,
        "max_age": 65,
        "min_failed_lines": 2,
        "is_open": True,
        "status_label": "Accepting referrals",
    }
    return Candidate(**{**fields, **overrides})


def _criterion(evaluation, name):
    return next(c for c in evaluation.criteria if c.name == name)


def test_it_finds_a_patient_meeting_every_criterion_eligible():
    [evaluation] = evaluate(_patient(), [_candidate()], today=TODAY)

    assert evaluation.verdict == Verdict.ELIGIBLE
    assert {c.result for c in evaluation.criteria} == {Result.PASS}


@pytest.mark.parametrize(
    ("patient", "candidate", "criterion", "result", "detail"),
    [
        ({}, {"condition_ids": frozenset({RA}), "condition_names": ("RA",)}, "Condition",
         Result.FAIL, "Patient has SLE; candidate takes RA."),
        ({"condition_ids": frozenset(), "condition_names": ()}, {}, "Condition",
         Result.UNKNOWN, "No diagnosis recorded"),
        ({}, {"condition_ids": frozenset(), "condition_names": ()}, "Condition",
         Result.UNKNOWN, "lists no conditions"),
        ({"age": 70}, {}, "Age", Result.FAIL, "Age 70 is outside 18–65."),
        ({"age": 17}, {}, "Age", Result.FAIL, "Age 17 is outside 18–65."),
        ({"age": 65}, {}, "Age", Result.PASS, "Age 65"),
        ({"age": None}, {}, "Age", Result.UNKNOWN, "Date of birth not recorded"),
        ({"age": 90}, {"min_age": None, "max_age": None}, "Age", Result.PASS, "No age limits"),
        ({"failed_line_count": 1}, {}, "Failed lines", Result.FAIL, "1 failed line, 2 required"),
        ({"failed_line_count": 1}, {"min_failed_lines": 1}, "Failed lines", Result.PASS,
         "1 failed line (≥ 1 required)"),
        ({"failed_line_count": 2}, {}, "Failed lines", Result.PASS, "2 failed lines"),
        ({"failed_line_count": 0, "line_count": 0}, {}, "Failed lines", Result.UNKNOWN,
         "No treatment lines recorded"),
        ({}, {"is_open": False, "status_label": "Paused"}, "Program accepting", Result.FAIL,
         "Paused; not accepting referrals."),
        ({"exclusions": ("Active CNS lupus",)}, {}, "Exclusion notes", Result.UNKNOWN,
         "Active CNS lupus"),
    ],
)  # fmt: skip
def test_it_explains_each_criterion(patient, candidate, criterion, result, detail):
    [evaluation] = evaluate(_patient(**patient), [_candidate(**candidate)], today=TODAY)

    found = _criterion(evaluation, criterion)
    assert found.result == result
    assert detail in found.detail
    expected = {
        Result.PASS: Verdict.ELIGIBLE,
        Result.UNKNOWN: Verdict.NEEDS_INFO,
        Result.FAIL: Verdict.INELIGIBLE,
    }[result]
    assert evaluation.verdict == expected


def test_it_names_the_trial_status_criterion_for_trials():
    [evaluation] = evaluate(
        _patient(), [_candidate(kind="trial", is_open=False, status_label="Completed")], today=TODAY
    )

    criterion = _criterion(evaluation, "Trial recruiting")
    assert criterion.result == Result.FAIL
    assert "not recruiting" in criterion.detail


def test_it_lets_a_failure_outrank_unknowns():
    [evaluation] = evaluate(_patient(age=None, failed_line_count=0), [_candidate()], today=TODAY)

    assert evaluation.verdict == Verdict.INELIGIBLE
    assert evaluation.failed_criteria == ["Failed lines"]


def test_it_sorts_best_first():
    candidates = [
        _candidate(id=1, name="Closed program", is_open=False, status_label="Closed"),
        _candidate(id=2, name="Needs a date of birth", min_age=18),
        _candidate(id=3, name="Open to all ages", min_age=None, max_age=None),
    ]

    names = [e.candidate.name for e in evaluate(_patient(age=None), candidates, today=TODAY)]

    assert names == ["Open to all ages", "Needs a date of birth", "Closed program"]


def test_it_serialises_to_the_match_contract():
    [evaluation] = evaluate(_patient(), [_candidate(kind="trial", id=7, name="NCT1")], today=TODAY)

    data = evaluation.as_dict()

    assert data["kind"] == "trial"
    assert data["id"] == 7
    assert data["verdict"] == "eligible"
    assert set(data["criteria"][0]) == {"name", "result", "detail", "key"}
    assert data["missing"] == []
