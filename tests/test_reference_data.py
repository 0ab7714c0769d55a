import json
import re
import shutil
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from trials.models import (
    NON_COUNTING_DRUG_CLASSES,
    Condition,
    ConditionGroup,
    EligibilityCriterion,
    Hospital,
    Program,
    ProgramStatus,
    Therapy,
    Trial,
    TrialStatus,
)
from trials.services import REFERENCE_DIR, ReferenceDataError, reference_data_load

pytestmark = pytest.mark.django_db

REFERENCE_MODELS = (Condition, Therapy, Hospital, Trial, Program, EligibilityCriterion)


def _copy_reference_files(tmp_path: Path) -> Path:
    directory = tmp_path / "reference"
    shutil.copytree(REFERENCE_DIR, directory)
    return directory


def _edit(directory: Path, file_name: str, change: Callable[[list[dict[str, Any]]], None]) -> None:
    path = directory / file_name
    rows = json.loads(path.read_text(encoding="utf-8"))
    change(rows)
    path.write_text(json.dumps(rows), encoding="utf-8")


SHEBA_PROGRAM = {
    "hospital": "Sheba Medical Center",
    "name": "Point-of-care CD19 CAR-T for autoimmune disease",
}


def _first(rows: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(row for row in rows if row["kind"] == kind)


def _for_program(row: dict[str, Any], **program: str) -> None:
    del row["trial"]
    row["program"] = SHEBA_PROGRAM | program


def _row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in REFERENCE_MODELS}


def test_it_loads_the_reference_files():
    report = reference_data_load()

    assert Condition.objects.count() == report.conditions.created >= 13
    assert Therapy.objects.count() == report.therapies.created >= 40
    assert Hospital.objects.count() == report.hospitals.created == 5
    assert Trial.objects.count() == report.trials.created >= 10
    assert Program.objects.count() == report.programs.created == 2
    assert EligibilityCriterion.objects.count() == report.criteria.created >= 40
    nct_ids = [row["nct_id"] for row in json.loads((REFERENCE_DIR / "trials.json").read_text())]
    assert all(re.fullmatch(r"NCT\d{8}", nct_id) for nct_id in nct_ids)
    assert len(nct_ids) == len(set(nct_ids))
    assert not Trial.objects.filter(conditions=None).exists()
    # Only Sheba and Hadassah have confirmed programs; the other centres are hospitals only.
    assert set(Program.objects.values_list("hospital__name", flat=True)) == {
        "Sheba Medical Center",
        "Hadassah Medical Center",
    }


def test_it_changes_nothing_on_a_second_run():
    first = reference_data_load()
    history_rows = (
        Trial.history.count(),
        Program.history.count(),
        EligibilityCriterion.history.count(),
    )
    trial_updated_at = dict(Trial.objects.values_list("nct_id", "updated_at"))

    second = reference_data_load()

    for entity, counts in second.by_entity().items():
        assert counts.created == counts.updated == 0, entity
        assert counts.unchanged == first.by_entity()[entity].created, entity
    assert (
        Trial.history.count(),
        Program.history.count(),
        EligibilityCriterion.history.count(),
    ) == history_rows
    assert dict(Trial.objects.values_list("nct_id", "updated_at")) == trial_updated_at


def test_it_does_not_count_glucocorticoids_or_antimalarials():
    reference_data_load()

    for therapy in Therapy.objects.all():
        expected = therapy.drug_class not in NON_COUNTING_DRUG_CLASSES
        assert therapy.counts_toward_failed_lines is expected, therapy.name
    counts = dict(Therapy.objects.values_list("name", "counts_toward_failed_lines"))
    assert counts["Prednisone"] is counts["Methylprednisolone"] is False
    assert counts["Hydroxychloroquine"] is counts["Chloroquine"] is False
    assert counts["Mycophenolate mofetil"] is counts["Rituximab"] is counts["Belimumab"] is True


def test_it_keeps_what_admins_added():
    reference_data_load()
    admin_condition = Condition.objects.create(
        name="IgG4-related disease", slug="igg4-rd", group=ConditionGroup.OTHER
    )
    admin_trial = Trial.objects.create(nct_id="NCT99999999", title="Admin trial", car_target="cd19")
    kysa1 = Trial.objects.get(nct_id="NCT05938725")
    kysa1.conditions.add(admin_condition)
    Hospital.objects.filter(name="Rambam Health Care Campus").update(phone="+972-4-000-0000")
    Program.objects.filter(hospital__name="Sheba Medical Center").update(monthly_capacity=4)

    report = reference_data_load()

    assert report.trials.updated == report.conditions.updated == 0
    assert Condition.objects.filter(pk=admin_condition.pk).exists()
    assert Trial.objects.filter(pk=admin_trial.pk).exists()
    assert admin_condition in kysa1.conditions.all()
    assert Hospital.objects.get(name="Rambam Health Care Campus").phone == "+972-4-000-0000"
    assert Program.objects.get(hospital__name="Sheba Medical Center").monthly_capacity == 4


def test_it_writes_back_the_fields_the_files_own():
    reference_data_load()
    kysa1 = Trial.objects.get(nct_id="NCT05938725")
    kysa1.sponsor = "Somebody else"
    kysa1.save()
    lupus_nephritis = Condition.objects.get(slug="lupus-nephritis")
    kysa1.conditions.remove(lupus_nephritis)
    history_rows = kysa1.history.count()

    report = reference_data_load()

    assert report.trials.updated == 1
    kysa1.refresh_from_db()
    assert kysa1.sponsor == "Kyverna Therapeutics"
    assert lupus_nephritis in kysa1.conditions.all()
    assert kysa1.history.count() == history_rows + 1


def test_it_keeps_statuses_admins_changed():
    reference_data_load()
    Trial.objects.filter(nct_id="NCT05938725").update(overall_status=TrialStatus.COMPLETED)
    Program.objects.filter(hospital__name="Sheba Medical Center").update(
        status=ProgramStatus.PAUSED
    )

    report = reference_data_load()

    assert report.trials.updated == report.programs.updated == 0
    assert Trial.objects.get(nct_id="NCT05938725").overall_status == TrialStatus.COMPLETED
    sheba = Program.objects.get(hospital__name="Sheba Medical Center")
    assert sheba.status == ProgramStatus.PAUSED


@pytest.mark.parametrize(
    ("file_name", "change", "field", "detail"),
    [
        # A new row: renaming a trial would also orphan its criteria (each one reported).
        (
            "trials.json",
            lambda rows: rows.append(rows[0] | {"nct_id": "NCT123"}),
            "nct_id",
            "NCT123",
        ),
        (
            "trials.json",
            lambda rows: rows[0]["conditions"].append("lupuss"),
            "conditions",
            "unknown condition slug 'lupuss'",
        ),
        (
            "therapies.json",
            lambda rows: rows[0].update(drug_class="steroid"),
            "drug_class",
            "not a valid choice",
        ),
        (
            "programs.json",
            lambda rows: rows[-1].update(status="open"),
            "status",
            "not a valid choice",
        ),
        ("hospitals.json", lambda rows: rows[0].update(cty="Haifa"), "cty", "unknown field"),
    ],
)
def test_it_rejects_a_broken_file_and_writes_nothing(tmp_path, file_name, change, field, detail):
    directory = _copy_reference_files(tmp_path)
    _edit(directory, file_name, change)

    with pytest.raises(ReferenceDataError) as raised:
        reference_data_load(directory=directory)

    [problem] = raised.value.problems
    assert problem.startswith(file_name)
    assert f"field {field!r}" in problem
    assert detail in problem
    assert set(_row_counts().values()) == {0}


@pytest.mark.parametrize(
    ("change", "field", "detail"),
    [
        (
            lambda rows: _first(rows, "threshold")["params"].update(fact="sledai"),
            "params",
            "unknown fact “sledai”",
        ),
        (
            lambda rows: _first(rows, "threshold")["params"].update(op="=>"),
            "params",
            "op must be one of",
        ),
        (
            lambda rows: _first(rows, "fact_value")["params"].update(values=["weakly positive"]),
            "params",
            "unknown value weakly positive",
        ),
        (
            lambda rows: _first(rows, "failed_lines")["params"].update(therapies=["Rituxan"]),
            "params",
            "unknown therapy Rituxan",
        ),
        (
            lambda rows: rows[0].update(trial="NCT00000001"),
            "trial",
            "unknown trial 'NCT00000001' (not in trials.json)",
        ),
        (
            lambda rows: _for_program(rows[0], name="Other"),
            "program",
            "unknown program 'Other'",
        ),
        (
            lambda rows: _first(rows, "washout").update(role="inclusion"),
            "role",
            "is an exclusion",
        ),
        (
            lambda rows: _first(rows, "washout").update(source_text=""),
            "source_text",
            "cannot be blank",
        ),
    ],
)
def test_it_refuses_a_bad_criterion_naming_its_item_and_field(tmp_path, change, field, detail):
    directory = _copy_reference_files(tmp_path)
    _edit(directory, "criteria.json", change)

    with pytest.raises(ReferenceDataError) as raised:
        reference_data_load(directory=directory)

    [problem] = raised.value.problems
    # The item's number and its trial or program, then the field: enough to find it in the file.
    assert re.match(r"criteria\.json item \d+ \((NCT\d{8}|[^)]+)\), field ", problem)
    assert f"field {field!r}" in problem
    assert detail in problem
    assert set(_row_counts().values()) == {0}


def test_it_loads_a_programs_criterion(tmp_path):
    directory = _copy_reference_files(tmp_path)
    _edit(directory, "criteria.json", lambda rows: _for_program(_first(rows, "washout")))

    reference_data_load(directory=directory)
    report = reference_data_load(directory=directory)

    assert report.criteria.unchanged == EligibilityCriterion.objects.count()
    criterion = EligibilityCriterion.objects.get(kind="washout")
    assert criterion.trial is None
    assert criterion.program.name == SHEBA_PROGRAM["name"]
    assert criterion.params == {"therapies": ["Rituximab"], "months": 12}


def test_it_keeps_criteria_admins_added_and_writes_back_the_files_parameters():
    reference_data_load()
    kysa1 = Trial.objects.get(nct_id="NCT05938725")
    admin_criterion = EligibilityCriterion.objects.create(
        trial=kysa1,
        role="exclusion",
        kind="threshold",
        params={"fact": "egfr", "op": "<", "value": 30},
        source_text="eGFR < 30 (protocol v3, from the site)",
    )
    biopsy = kysa1.criteria.get(kind="fact_value")
    biopsy.params = {"fact": "ln_biopsy_class", "values": ["III", "IV", "V"]}
    biopsy.save()

    report = reference_data_load()

    assert (report.criteria.created, report.criteria.updated) == (0, 1)
    biopsy.refresh_from_db()
    assert biopsy.params == {"fact": "ln_biopsy_class", "values": ["III", "IV"]}
    assert EligibilityCriterion.objects.filter(pk=admin_criterion.pk).exists()


def test_it_writes_nothing_when_a_row_clashes_with_the_database():
    # The last condition in the file clashes, so the rows before it must be rolled back.
    Condition.objects.create(
        name="Stiff person syndrome", slug="sps", group=ConditionGroup.NEUROINFLAMMATORY
    )

    with pytest.raises(ReferenceDataError, match=r"conditions\.json \(stiff-person-syndrome\)"):
        reference_data_load()

    assert _row_counts() == {
        "Condition": 1,
        "Therapy": 0,
        "Hospital": 0,
        "Trial": 0,
        "Program": 0,
        "EligibilityCriterion": 0,
    }


def test_it_prints_a_summary_per_entity():
    out = StringIO()

    call_command("load_reference_data", stdout=out)

    lines = out.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "conditions",
        "therapies",
        "hospitals",
        "trials",
        "programs",
        "criteria",
    ]
    assert lines[3] == f"trials: {Trial.objects.count()} created, 0 updated, 0 unchanged"


def test_it_fails_the_command_on_bad_input(tmp_path):
    directory = _copy_reference_files(tmp_path)
    _edit(directory, "trials.json", lambda rows: rows[0].update(phase="PHASE9"))

    with pytest.raises(CommandError, match=r"trials\.json .*field 'phase'") as raised:
        call_command("load_reference_data", "--directory", str(directory), stdout=StringIO())

    assert raised.value.returncode == 1
    assert set(_row_counts().values()) == {0}
