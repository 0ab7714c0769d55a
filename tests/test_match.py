"""`manage.py match PATIENT_ID --json`: the command-line contract and its database path."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

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
from trials.models import DrugClass, ProgramStatus, TrialStatus

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
