"""`manage.py match PATIENT_ID --json`: the command-line contract and its database path."""

import json
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from referrals.management.commands.match import Command as MatchCommand
from referrals.models import ReasonStopped
from tests.factories import (
    ConditionFactory,
    PatientFactory,
    PriorTreatmentLineFactory,
    ProgramFactory,
    TherapyFactory,
    TrialFactory,
)
from trials.models import DrugClass, ProgramStatus, Therapy, TrialStatus

pytestmark = pytest.mark.django_db


def _match(patient_id) -> list[dict]:
    out = StringIO()
    call_command("match", str(patient_id), "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def lupus():
    return ConditionFactory(name="Systemic lupus erythematosus", slug="sle")


@pytest.fixture
def refractory_patient(lupus):
    patient = PatientFactory(primary_condition=lupus)
    mycophenolate = TherapyFactory(name="Mycophenolate mofetil")
    cyclophosphamide = TherapyFactory(name="Cyclophosphamide", drug_class=DrugClass.ALKYLATING)
    PriorTreatmentLineFactory(patient=patient, line_number=1, therapies=[mycophenolate])
    PriorTreatmentLineFactory(patient=patient, line_number=2, therapies=[cyclophosphamide])
    return patient


def test_it_prints_every_candidate_best_first(refractory_patient, lupus):
    eligible = ProgramFactory(name="Sheba CD19", conditions=[lupus])
    paused = ProgramFactory(name="Paused", conditions=[lupus], status=ProgramStatus.PAUSED)
    recruiting = TrialFactory(nct_id="NCT05869955", conditions=[lupus])
    TrialFactory(nct_id="NCT05938725", conditions=[lupus], overall_status=TrialStatus.COMPLETED)

    result = _match(refractory_patient.pk)

    assert [(item["kind"], item["verdict"]) for item in result] == [
        ("program", "eligible"),
        ("trial", "eligible"),
        ("program", "ineligible"),
        ("trial", "ineligible"),
    ]
    assert {result[0]["id"], result[1]["id"]} == {eligible.pk, recruiting.pk}
    assert result[2]["id"] == paused.pk
    for item in result:
        # The contract's fields, plus what to collect (empty unless some criterion is unknown).
        assert set(item) == {"kind", "id", "name", "verdict", "criteria", "missing"}
        for criterion in item["criteria"]:
            assert {"name", "result", "detail", "key"} <= set(criterion)
            assert set(criterion) <= {"name", "result", "detail", "key", "source", "missing"}
            assert criterion["result"] in {"pass", "fail", "unknown"}


def test_it_does_not_count_steroid_only_lines_toward_eligibility(lupus):
    patient = PatientFactory(primary_condition=lupus)
    prednisone = TherapyFactory(
        name="Prednisone", drug_class=DrugClass.GLUCOCORTICOID, counts_toward_failed_lines=False
    )
    for number in (1, 2, 3):
        PriorTreatmentLineFactory(
            patient=patient,
            line_number=number,
            therapies=[prednisone],
            reason_stopped=ReasonStopped.INADEQUATE_RESPONSE,
        )
    ProgramFactory(conditions=[lupus])

    [program] = _match(patient.pk)

    assert program["verdict"] == "ineligible"
    failed_lines = next(c for c in program["criteria"] if c["name"] == "Failed lines")
    assert failed_lines["result"] == "fail"
    assert "0 failed lines" in failed_lines["detail"]


def test_it_needs_info_without_a_date_of_birth(refractory_patient, lupus):
    refractory_patient.date_of_birth = None
    refractory_patient.save()
    ProgramFactory(conditions=[lupus])

    [program] = _match(refractory_patient.pk)

    assert program["verdict"] == "needs_info"


def test_it_fails_clearly_for_an_unknown_patient():
    with pytest.raises(CommandError, match="No patient with id 424242"):
        call_command("match", "424242", "--json")


def test_it_exits_with_status_1_for_an_unknown_patient(capsys):
    with pytest.raises(SystemExit) as exit_info:
        MatchCommand().run_from_argv(["manage.py", "match", "424242", "--json"])

    assert exit_info.value.code == 1
    assert "No patient with id 424242" in capsys.readouterr().err


def test_it_prints_a_readable_report_without_json(refractory_patient, lupus):
    ProgramFactory(name="Sheba CD19", conditions=[lupus])
    out = StringIO()

    call_command("match", str(refractory_patient.pk), stdout=out)

    assert "Eligible" in out.getvalue()
    assert "Failed lines: 2 failed lines" in out.getvalue()


# --- a patient described in a file (--facts) ---------------------------------------------------


def _match_facts(tmp_path, description) -> list[dict]:
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(description))
    out = StringIO()
    call_command("match", "--facts", str(path), "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def renal_world(lupus):
    from tests.factories import EligibilityCriterionFactory

    TherapyFactory(name="Mycophenolate mofetil")
    TherapyFactory(name="Cyclophosphamide", drug_class=DrugClass.ALKYLATING)
    trial = TrialFactory(nct_id="NCT05869955", conditions=[lupus], min_age=18, max_age=75)
    EligibilityCriterionFactory(trial=trial)
    ProgramFactory(name="Sheba CD19", conditions=[lupus])


def test_it_evaluates_a_described_patient_without_writing_anything(tmp_path, renal_world):
    from referrals.models import Patient

    description = {
        "as_of": "2026-12-07",
        "date_of_birth": "1981-04-02",
        "conditions": ["sle"],
        "lines": [
            {"therapies": ["Mycophenolate mofetil"], "reason_stopped": "inadequate_response"},
            {"therapies": ["Cyclophosphamide"], "reason_stopped": "loss_of_response"},
        ],
        "facts": [{"kind": "egfr", "value": "25", "observed_on": "2026-11-30"}],
    }

    result = _match_facts(tmp_path, description)

    assert [(item["kind"], item["verdict"]) for item in result] == [
        ("program", "eligible"),
        ("trial", "ineligible"),
    ]
    trial = next(item for item in result if item["kind"] == "trial")
    excluded = next(c for c in trial["criteria"] if c.get("source"))
    assert (excluded["result"], excluded["source"]) == ("fail", "eGFR < 30 mL/min/1.73 m².")
    assert not Patient.objects.exists()


@pytest.mark.parametrize(
    ("description", "message"),
    [
        ({"conditions": ["lupus"]}, "conditions: unknown condition lupus."),
        ({"lines": [{"therapies": ["Aspirin"]}]}, "lines[1].therapies: unknown therapy Aspirin."),
        ({"lines": [{"therapies": ["X"], "reason_stopped": "bored"}]}, "lines[1].reason_stopped"),
        ({"facts": [{"kind": "egfr", "value": "900", "observed_on": "2026-01-01"}]},
         "facts[1]: eGFR is 0 to 200"),
        ({"facts": [{"kind": "egfr", "value": "60"}]}, "facts[1].observed_on: required."),
        ({"date_of_birth": "02/04/1981"}, "date_of_birth: a date as YYYY-MM-DD."),
        ({"colour": "blue"}, "Unknown field: colour."),
        ([], "must be a JSON object"),
    ],
)  # fmt: skip
def test_it_names_the_field_of_a_description_that_does_not_fit(
    tmp_path, renal_world, description, message
):
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(description))

    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("match", "--facts", str(path))


def test_it_refuses_an_id_and_a_file_together_or_neither():
    with pytest.raises(CommandError, match="not both"):
        call_command("match")


FACT_VALUES = st.fixed_dictionaries(
    {
        "egfr": st.one_of(st.none(), st.integers(0, 200)),
        "egfr_days": st.integers(0, 200),
        "reasons": st.lists(
            st.sampled_from(["inadequate_response", "intolerance", "ongoing", "remission"]),
            max_size=3,
        ),
        "age": st.integers(10, 90),
    }
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(drawn=FACT_VALUES)
def test_it_gives_a_described_and_a_stored_patient_the_same_verdicts(
    tmp_path, renal_world, lupus, drawn
):
    import datetime

    from django.utils import timezone

    from referrals import selectors
    from tests.factories import ClinicalFactFactory

    today = timezone.localdate()
    born = today.replace(year=today.year - drawn["age"])
    observed = today - datetime.timedelta(days=drawn["egfr_days"])
    patient = PatientFactory(primary_condition=lupus, date_of_birth=born)
    lines = []
    for number, reason in enumerate(drawn["reasons"], start=1):
        name = "Mycophenolate mofetil" if number % 2 else "Cyclophosphamide"
        PriorTreatmentLineFactory(
            patient=patient,
            line_number=number,
            therapies=[Therapy.objects.get(name=name)],
            reason_stopped=reason,
        )
        lines.append({"therapies": [name], "reason_stopped": reason})
    facts = []
    if drawn["egfr"] is not None:
        ClinicalFactFactory(patient=patient, value_number=drawn["egfr"], observed_on=observed)
        facts.append({"kind": "egfr", "value": str(drawn["egfr"]), "observed_on": str(observed)})
    description = {
        "date_of_birth": str(born),
        "conditions": ["sle"],
        "lines": lines,
        "facts": facts,
    }

    stored = selectors.patient_evaluations(selectors.patient_for_eligibility(patient.pk))

    assert _match_facts(tmp_path, description) == [e.as_dict() for e in stored]


@pytest.mark.parametrize("count", [5, 50])
def test_it_matches_in_the_same_queries_whatever_the_criteria_and_facts(
    refractory_patient, lupus, django_assert_num_queries, count
):
    from tests.factories import ClinicalFactFactory, EligibilityCriterionFactory

    kinds = ("egfr", "creatinine", "platelets", "sledai_2k", "alt")
    for number in range(count):
        trial = TrialFactory(conditions=[lupus])
        EligibilityCriterionFactory(trial=trial)
        EligibilityCriterionFactory(trial=None, program=ProgramFactory(conditions=[lupus]))
        ClinicalFactFactory(patient=refractory_patient, kind=kinds[number % len(kinds)])

    # 1 the patient with their primary condition, 2 other conditions, 3 treatment lines,
    # 4 their therapies, 5 clinical facts, 6 the condition hierarchy, 7 programs (hospital
    # joined), 8 their conditions, 9 their criteria, 10 trials, 11 their conditions, 12 their
    # criteria, 13 their sites.
    with django_assert_num_queries(13):
        result = _match(refractory_patient.pk)

    assert len(result) == 2 * count
    assert all(any(c.get("source") for c in item["criteria"]) for item in result)
