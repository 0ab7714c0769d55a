"""`manage.py criteria_coverage`: per trial and program, its typed and manual criteria and the
clauses of its eligibility text no criterion quotes; the totals; the JSON form."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from tests.factories import EligibilityCriterionFactory, ProgramFactory, TrialFactory
from trials.selectors import criteria_coverage
from trials.selectors.coverage import not_encoded_clauses
from trials.services import reference_data_load

AURORA_TEXT = "MGFA 2–4, MG-ADL ≥6; concomitant IS allowed if stable ≥8 wks; prednisone ≤40 mg/d."


def _run(*args: str) -> str:
    out = StringIO()
    call_command("criteria_coverage", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("sources", "not_encoded"),
    [
        (
            [],
            (
                "MGFA 2–4, MG-ADL ≥6",
                "concomitant IS allowed if stable ≥8 wks",
                "prednisone ≤40 mg/d",
            ),
        ),
        # Each comma-separated part quoted by its own criterion encodes the clause.
        (
            ["MGFA 2–4", "MG-ADL ≥6"],
            ("concomitant IS allowed if stable ≥8 wks", "prednisone ≤40 mg/d"),
        ),
        # Only one part quoted: the clause is not encoded yet.
        (
            ["MG-ADL ≥6", "prednisone ≤40 mg/d."],
            ("MGFA 2–4, MG-ADL ≥6", "concomitant IS allowed if stable ≥8 wks"),
        ),
        # A criterion quoting the whole text, in other case and spacing, encodes every clause.
        ([" ".join(AURORA_TEXT.upper().split(" "))], ()),
    ],
)
def test_it_lists_the_clauses_no_criterion_quotes(sources, not_encoded):
    assert not_encoded_clauses(AURORA_TEXT, sources) == not_encoded


def test_it_keeps_decimal_points_inside_a_clause():
    text = "Not responding to standard therapies that slow progression; EDSS 3.0–7.0."

    assert not_encoded_clauses(text, ["Not responding to standard therapies"]) == (
        "Not responding to standard therapies that slow progression",
        "EDSS 3.0–7.0",
    )


@pytest.mark.django_db
def test_it_prints_each_trial_and_program_with_the_totals():
    aurora = TrialFactory(nct_id="NCT06799247", short_name="AURORA", eligibility_text=AURORA_TEXT)
    EligibilityCriterionFactory(
        trial=aurora,
        role="inclusion",
        params={"fact": "mg_adl", "op": ">=", "value": 6},
        source_text="MG-ADL ≥6",
    )
    EligibilityCriterionFactory(
        trial=aurora, role="inclusion", kind="manual", params={}, source_text="MGFA 2–4"
    )
    TrialFactory(nct_id="NCT05451212", short_name="MuSK-CAART", eligibility_text="")
    program = ProgramFactory(name="CD19 program", hospital__name="Sheba")

    lines = _run().splitlines()

    assert lines == [
        "trial NCT05451212 · MuSK-CAART: 0 typed, 0 manual, no eligibility text",
        "trial NCT06799247 · AURORA: 1 typed, 1 manual, 2 clauses not encoded",
        "    not encoded: concomitant IS allowed if stable ≥8 wks",
        "    not encoded: prednisone ≤40 mg/d",
        f"program {program}: 0 typed, 0 manual, no eligibility text",
        "totals: 2 trials, 1 program; 1 typed, 1 manual criterion; 2 without criteria; "
        "1 with clauses not encoded (2 clauses)",
    ]


@pytest.mark.django_db
def test_it_prints_json_for_machines():
    trial = TrialFactory(eligibility_text="Refractory.")
    EligibilityCriterionFactory(
        trial=trial, role="inclusion", kind="manual", params={}, source_text="Refractory."
    )

    report = json.loads(_run("--json"))

    assert report == {
        "candidates": [
            {
                "kind": "trial",
                "id": trial.pk,
                "name": str(trial),
                "typed": 0,
                "manual": 1,
                "not_encoded": [],
            }
        ],
        "totals": {
            "trials": 1,
            "programs": 0,
            "typed": 0,
            "manual": 1,
            "without_criteria": 0,
            "with_clauses_not_encoded": 0,
            "clauses_not_encoded": 0,
        },
    }


@pytest.mark.django_db
def test_it_reads_in_a_fixed_number_of_queries(django_assert_num_queries):
    for _ in range(3):
        EligibilityCriterionFactory(trial__eligibility_text="eGFR < 30 mL/min/1.73 m².")
        ProgramFactory()

    with django_assert_num_queries(4):
        coverage = criteria_coverage()

    assert coverage.totals["typed"] == 3
    assert coverage.totals["with_clauses_not_encoded"] == 0


@pytest.mark.django_db
def test_it_finds_every_reference_trial_encoded_but_an_allowance_and_a_site_note():
    reference_data_load()

    coverage = criteria_coverage()

    assert coverage.totals["without_criteria"] == coverage.totals["programs"]
    # Neither is a criterion: a therapy the trial allows, and where the source saw a site.
    assert [row.not_encoded for row in coverage.candidates if row.not_encoded] == [
        ("stable background therapy allowed",),
        ("Site seen: Nationwide Children's, Columbus OH",),
    ]
