"""The ClinicalTrials.gov import: parsing API v2 JSON, planning, applying, the command, the admin.

Fixtures in tests/fixtures/ctgov/ use only NCT IDs, names, sponsors, statuses, ages and
conditions from the verified (YES) rows of the shared CAR-T trials reference table.
"""

import json
import shutil
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import IntegrityError
from django.urls import reverse

from tests.factories import ConditionFactory, HospitalFactory, TrialFactory
from trials import ctgov
from trials.ctgov import CtgovError, Intervention, StudyRecord, parse_path, parse_text
from trials.models import CarTarget, Trial, TrialPhase, TrialSite, TrialStatus
from trials.services import (
    FieldChange,
    ImportCounts,
    ImportOutcome,
    trial_import_apply,
    trial_import_plan,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ctgov"
IMPORT_URL = "admin:trials_trial_import_from_ctgov"
CHANGELIST_URL = "admin:trials_trial_changelist"
ALL_NCT_IDS = {"NCT05869955", "NCT06340750", "NCT05938725", "NCT06799247", "NCT06328777"}


def _records(file_name: str = "") -> tuple[StudyRecord, ...]:
    return parse_path(FIXTURES / file_name if file_name else FIXTURES)


def _load(file_name: str) -> Any:
    return json.loads((FIXTURES / file_name).read_text(encoding="utf-8"))


def _study(**modules: Any) -> dict[str, Any]:
    """A minimal valid record (RESET-SSc) with some modules replaced."""
    study = _load("single.json")
    study["protocolSection"].update(modules)
    return study


def _parse_one(study: Any) -> StudyRecord:
    [record] = parse_text(json.dumps(study), source="test.json")
    return record


@pytest.fixture
def our_conditions(db):
    """Our conditions, with the synonyms the fixtures' registry names are matched by."""
    return {
        "sle": ConditionFactory(
            slug="sle",
            name="Systemic lupus erythematosus",
            synonyms="Lupus Erythematosus, Systemic\nSLE",
        ),
        "ln": ConditionFactory(slug="lupus-nephritis", name="Lupus nephritis"),
        "ssc": ConditionFactory(
            slug="systemic-sclerosis", name="Systemic sclerosis", synonyms="Scleroderma, Systemic"
        ),
        "ra": ConditionFactory(slug="rheumatoid-arthritis", name="Rheumatoid arthritis"),
        "mg": ConditionFactory(
            slug="myasthenia-gravis",
            name="Myasthenia gravis",
            synonyms="MG\nGeneralized myasthenia gravis",
        ),
    }


# -- parsing ---------------------------------------------------------------------------------


def test_it_reads_a_single_record_a_list_and_a_list_endpoint_page():
    [single] = _records("single.json")
    listed = _records("list.json")
    page = _records("page.json")

    assert single.nct_id == "NCT06328777"
    assert single.source == "single.json: record 1 (NCT06328777)"
    assert [record.nct_id for record in listed] == ["NCT05869955", "NCT06340750"]
    assert [record.nct_id for record in page] == ["NCT05938725", "NCT06799247"]
    assert page[1].source == "page.json: record 2 (NCT06799247)"


def test_it_reads_every_json_file_in_a_directory_in_name_order(tmp_path):
    shutil.copytree(FIXTURES, tmp_path / "in")
    (tmp_path / "in" / "notes.txt").write_text("not JSON, not read")

    records = parse_path(tmp_path / "in")

    assert [record.source.split(":")[0] for record in records] == [
        "list.json",
        "list.json",
        "page.json",
        "page.json",
        "single.json",
    ]


def test_it_reads_the_fields_carecrm_stores():
    [breakfree] = [record for record in _records("list.json") if record.nct_id == "NCT05869955"]

    assert breakfree.title == "Breakfree-1: BMS-986353 (CC-97540) in SLE, IIM, SSc and RA"
    assert breakfree.short_name == "Breakfree-1"
    assert breakfree.sponsor == "Bristol Myers Squibb"
    assert breakfree.overall_status == TrialStatus.RECRUITING
    assert breakfree.phase == TrialPhase.PHASE1
    assert breakfree.conditions[0] == "Lupus Erythematosus, Systemic"
    assert (breakfree.min_age, breakfree.max_age) == (18, None)
    assert breakfree.eligibility_text.startswith("SLE: inadequate response to GC")
    assert breakfree.interventions == (
        Intervention(
            name="BMS-986353", description="CD19 NEX-T, autologous", other_names=("CC-97540",)
        ),
    )
    assert breakfree.registry_url == "https://clinicaltrials.gov/study/NCT05869955"


def test_it_falls_back_to_the_official_title():
    study = _study(identificationModule={"nctId": "NCT06328777", "officialTitle": "RESET-SSc"})

    assert _parse_one(study).title == "RESET-SSc"


@pytest.mark.parametrize(
    ("text", "years"),
    [
        ("18 Years", 18),
        ("75 years", 75),
        ("6 Months", 0),
        ("30 Months", 2),
        ("2 Weeks", 0),
        ("N/A", None),
        ("", None),
    ],
)
def test_it_reads_registry_ages_in_whole_years(text, years):
    assert ctgov.parse_age(text) == years


def test_it_treats_a_missing_age_as_no_limit():
    [kysa1, _aurora] = _records("page.json")

    assert (kysa1.min_age, kysa1.max_age) == (18, None)


@pytest.mark.parametrize(
    ("phases", "phase"),
    [
        (["PHASE1", "PHASE2"], TrialPhase.PHASE1_2),
        (["PHASE2", "PHASE1"], TrialPhase.PHASE1_2),
        (["PHASE2", "PHASE3"], TrialPhase.PHASE2_3),
        (["EARLY_PHASE1"], TrialPhase.EARLY_PHASE1),
        (["PHASE3"], TrialPhase.PHASE3),
        (["NA"], TrialPhase.NA),
        ([], ""),
    ],
)
def test_it_maps_registry_phases_to_one_phase(phases, phase):
    assert ctgov.map_phases(phases) == phase


@pytest.mark.parametrize(
    ("phases", "detail"), [(["PHASE4"], "no CareCRM phase"), (["PHASE9"], "unknown phase")]
)
def test_it_refuses_phases_it_cannot_map(phases, detail):
    study = _study(designModule={"phases": phases})

    with pytest.raises(
        CtgovError, match=r"field 'protocolSection\.designModule\.phases': .*" + detail
    ):
        _parse_one(study)


# Product names and targets from the reference table's verified rows.
@pytest.mark.parametrize(
    ("interventions", "target"),
    [
        ([Intervention("KYV-101", "CD19 CAR-T", ("miv-cel",))], CarTarget.CD19),
        ([Intervention("Descartes-08", "BCMA (mRNA CAR)")], CarTarget.BCMA),
        ([Intervention("CD19-BCMA CAR-T")], CarTarget.CD19_BCMA),
        ([Intervention("CD19/BCMA CAR-T")], CarTarget.CD19_BCMA),
        ([Intervention("LMY-920", "BAFF-ligand CAR (binds BAFF-R, BCMA, TACI)")], CarTarget.BAFF_R),
        ([Intervention("MuSK-CAART")], CarTarget.CAAR),
        (
            [Intervention("DSG3-CAART"), Intervention("rese-cel", "CD19 CAR-T", ("CABA-201",))],
            CarTarget.CAAR,
        ),
        ([Intervention("SBT777101", "autologous CAR-Treg")], CarTarget.CAR_TREG),
        ([Intervention("Fludarabine"), Intervention("Cyclophosphamide")], CarTarget.OTHER),
        ([], CarTarget.OTHER),
    ],
)
def test_it_guesses_the_car_target_from_the_interventions(interventions, target):
    assert ctgov.guess_car_target(interventions) == target


def test_it_trusts_the_intervention_names_before_their_descriptions():
    # The name says CD19; a description mentioning BCMA does not turn it into CD19×BCMA.
    interventions = [Intervention("CD19 CAR-T", "compared with BCMA programs")]

    assert ctgov.guess_car_target(interventions) == CarTarget.CD19


def test_it_gives_the_same_record_back_from_its_minimal_v2_json():
    for record in _records():
        assert parse_text(json.dumps(ctgov.to_v2(record)), source="x.json") == (record,)


# -- malformed input -------------------------------------------------------------------------


def _nct(study):
    return study["protocolSection"]["identificationModule"]


def _delete_nct_id(studies):
    del _nct(studies[1])["nctId"]


def _bad_nct_id(studies):
    _nct(studies[1])["nctId"] = "NCT123"


def _bad_age(studies):
    studies[1]["protocolSection"]["eligibilityModule"]["minimumAge"] = "eighteen"


def _phases_as_a_string(studies):
    studies[1]["protocolSection"]["designModule"]["phases"] = "PHASE1"


def _conditions_as_a_dict(studies):
    studies[1]["protocolSection"]["conditionsModule"]["conditions"] = {"name": "SLE"}


def _unknown_status(studies):
    studies[1]["protocolSection"]["statusModule"]["overallStatus"] = "OPEN"


def _site_status(studies):
    studies[1]["protocolSection"]["contactsLocationsModule"]["locations"][0]["status"] = "Open"


@pytest.mark.parametrize(
    ("corrupt", "field", "detail"),
    [
        (_delete_nct_id, "protocolSection.identificationModule.nctId", "missing"),
        (_bad_nct_id, "protocolSection.identificationModule.nctId", "'NCT123' is not 'NCT'"),
        (_bad_age, "protocolSection.eligibilityModule.minimumAge", "'eighteen' is not an age"),
        (_phases_as_a_string, "protocolSection.designModule.phases", "expected a list"),
        (_conditions_as_a_dict, "protocolSection.conditionsModule.conditions", "expected a list"),
        (_unknown_status, "protocolSection.statusModule.overallStatus", "unknown status 'OPEN'"),
        (
            _site_status,
            "protocolSection.contactsLocationsModule.locations[0].status",
            "unknown status 'Open'",
        ),
    ],
)
def test_it_refuses_a_malformed_file_and_writes_nothing(
    tmp_path, our_conditions, corrupt, field, detail
):
    # list.json is broken; page.json and single.json beside it are valid, and still not imported.
    directory = tmp_path / "in"
    shutil.copytree(FIXTURES, directory)
    studies = _load("list.json")
    corrupt(studies)
    (directory / "list.json").write_text(json.dumps(studies), encoding="utf-8")

    with pytest.raises(CommandError) as raised:
        call_command("import_trials", str(directory), stdout=StringIO())

    assert raised.value.returncode == 1
    [problem] = str(raised.value).splitlines()[1:]
    assert problem.startswith("- list.json: record 2")
    assert f"field {field!r}" in problem
    assert detail in problem
    assert Trial.objects.count() == TrialSite.objects.count() == 0


def test_it_refuses_a_truncated_file_and_names_where_the_json_breaks(tmp_path, db):
    directory = tmp_path / "in"
    shutil.copytree(FIXTURES, directory)
    text = (FIXTURES / "page.json").read_text(encoding="utf-8")
    (directory / "page.json").write_text(text[: len(text) // 2], encoding="utf-8")

    with pytest.raises(CtgovError) as raised:
        parse_path(directory)

    [problem] = raised.value.problems
    assert problem.startswith("page.json: not valid JSON at line ")
    assert " column " in problem
    with pytest.raises(CommandError, match=r"page\.json: not valid JSON"):
        call_command("import_trials", str(directory), stdout=StringIO())
    assert Trial.objects.count() == 0


def test_it_lists_every_problem_in_one_error():
    study = _study(statusModule={"overallStatus": "OPEN"}, designModule={"phases": "PHASE1"})
    del _nct(study)["nctId"]

    with pytest.raises(CtgovError) as raised:
        _parse_one(study)

    assert [problem.split("field ")[1].split(":")[0] for problem in raised.value.problems] == [
        "'protocolSection.identificationModule.nctId'",
        "'protocolSection.statusModule.overallStatus'",
        "'protocolSection.designModule.phases'",
    ]
    assert raised.value.problems[0].startswith("test.json: record 1, field")


@pytest.mark.parametrize(
    ("document", "detail"),
    [
        ({"studies": {"protocolSection": {}}}, "test.json, field 'studies': expected a list"),
        ([], "test.json: no study records"),
        ("NCT05869955", "test.json: expected a study record"),
        ([{"identificationModule": {}}], "field 'protocolSection': missing"),
        (
            {"protocolSection": {"statusModule": "RECRUITING"}},
            "'protocolSection.statusModule': expected an object",
        ),
    ],
)
def test_it_refuses_json_that_is_not_a_study(document, detail):
    with pytest.raises(CtgovError, match=detail.replace("(", r"\(").replace(".", r"\.")):
        parse_text(json.dumps(document), source="test.json")


def test_it_refuses_a_file_that_is_not_utf8():
    with pytest.raises(CtgovError, match=r"test\.json: not UTF-8 text"):
        parse_text(b"\xff\xfe{", source="test.json")


# -- planning and applying -------------------------------------------------------------------


def test_it_creates_trials_with_their_sites_and_conditions(our_conditions):
    nationwide = HospitalFactory(
        name="Nationwide Children's", city="Columbus", country="United States"
    )

    report = trial_import_apply(records=_records())

    assert report.trial_counts == ImportCounts(created=5, updated=0, unchanged=0, skipped=0)
    assert report.site_counts == ImportCounts(created=2, updated=0, unchanged=0, skipped=0)
    assert set(Trial.objects.values_list("nct_id", flat=True)) == ALL_NCT_IDS
    breakfree = Trial.objects.get(nct_id="NCT05869955")
    assert breakfree.short_name == "Breakfree-1"
    assert breakfree.sponsor == "Bristol Myers Squibb"
    assert breakfree.overall_status == TrialStatus.RECRUITING
    assert breakfree.phase == TrialPhase.PHASE1
    assert (breakfree.min_age, breakfree.max_age) == (18, None)
    assert breakfree.car_target == CarTarget.CD19
    assert breakfree.min_failed_lines == 2
    assert breakfree.source_url == "https://clinicaltrials.gov/study/NCT05869955"
    assert breakfree.eligibility_text.startswith("SLE: inadequate response to GC")
    # By synonym ("Lupus Erythematosus, Systemic") and by name in another case.
    assert set(breakfree.conditions.all()) == {
        our_conditions["sle"],
        our_conditions["ssc"],
        our_conditions["ra"],
    }
    assert breakfree.conditions_text == "Idiopathic Inflammatory Myopathies"
    lmy920 = Trial.objects.get(nct_id="NCT06340750")
    assert lmy920.car_target == CarTarget.BAFF_R
    assert lmy920.sponsor == ""
    [site] = lmy920.sites.all()
    assert (site.facility, site.city, site.country) == (
        "Nationwide Children's",
        "Columbus",
        "United States",
    )
    assert site.hospital == nationwide
    assert site.status == ""
    reset_ssc = Trial.objects.get(nct_id="NCT06328777")
    assert list(reset_ssc.conditions.all()) == [our_conditions["ssc"]]
    assert reset_ssc.sites.get().status == TrialStatus.RECRUITING
    aurora = Trial.objects.get(nct_id="NCT06799247")
    assert list(aurora.conditions.all()) == [our_conditions["mg"]]
    assert aurora.car_target == CarTarget.BCMA
    assert aurora.conditions_text == ""


def test_it_links_a_site_to_a_hospital_whose_name_is_inside_the_facility(db):
    duke = HospitalFactory(name="Duke", country="United States")
    HospitalFactory(name="Duke University", country="Canada")  # another country: not this one

    trial_import_apply(records=_records("single.json"))

    assert TrialSite.objects.get().hospital == duke


def test_it_changes_nothing_on_a_second_run(our_conditions):
    HospitalFactory(name="Nationwide Children's", country="United States")
    first = trial_import_apply(records=_records())
    history_rows = Trial.history.count()
    updated_at = dict(Trial.objects.values_list("nct_id", "updated_at"))
    sites = list(TrialSite.objects.values_list("pk", "hospital", "status"))

    second = trial_import_apply(records=_records())

    assert first.trial_counts.created == 5
    assert second.trial_counts == ImportCounts(created=0, updated=0, unchanged=5, skipped=0)
    assert second.site_counts == ImportCounts(created=0, updated=0, unchanged=2, skipped=0)
    assert all(not trial.changes for trial in second.trials)
    assert Trial.history.count() == history_rows
    assert dict(Trial.objects.values_list("nct_id", "updated_at")) == updated_at
    assert list(TrialSite.objects.values_list("pk", "hospital", "status")) == sites


def test_it_keeps_what_admins_corrected_or_added(our_conditions):
    trial_import_apply(records=_records("single.json"))
    reset_ssc = Trial.objects.get(nct_id="NCT06328777")
    reset_ssc.car_target = CarTarget.OTHER
    reset_ssc.min_failed_lines = 3
    reset_ssc.save()
    reset_ssc.conditions.add(our_conditions["ra"])
    admin_site = TrialSite.objects.create(trial=reset_ssc, facility="Site an admin added")
    duke = HospitalFactory(name="Duke University Hospital", country="United States")
    TrialSite.objects.filter(facility="Duke University").update(hospital=duke)
    history_rows = reset_ssc.history.count()

    report = trial_import_apply(records=_records("single.json"))

    assert report.trial_counts.unchanged == 1
    reset_ssc.refresh_from_db()
    assert reset_ssc.car_target == CarTarget.OTHER
    assert reset_ssc.min_failed_lines == 3
    assert set(reset_ssc.conditions.all()) == {our_conditions["ssc"], our_conditions["ra"]}
    assert TrialSite.objects.filter(pk=admin_site.pk).exists()
    assert TrialSite.objects.get(facility="Duke University").hospital == duke
    assert reset_ssc.history.count() == history_rows


def test_it_reports_a_changed_status_as_updated_with_the_field_diff(our_conditions):
    trial_import_apply(records=_records("single.json"))
    Trial.objects.filter(nct_id="NCT06328777").update(overall_status=TrialStatus.COMPLETED)
    TrialSite.objects.update(status=TrialStatus.COMPLETED)
    history_rows = Trial.history.count()

    plan = trial_import_plan(records=_records("single.json"))

    [trial] = plan.trials
    assert trial.outcome is ImportOutcome.UPDATED
    assert trial.changes == (FieldChange("overall_status", "Completed", "Recruiting"),)
    assert trial.changes[0].label == "overall status"
    [site] = trial.sites
    assert site.outcome is ImportOutcome.UPDATED
    assert site.changes == (FieldChange("status", "Completed", "Recruiting"),)
    assert Trial.objects.get().overall_status == TrialStatus.COMPLETED  # the plan wrote nothing

    report = trial_import_apply(records=_records("single.json"))

    assert report.trial_counts.updated == report.site_counts.updated == 1
    assert Trial.objects.get().overall_status == TrialStatus.RECRUITING
    assert TrialSite.objects.get().status == TrialStatus.RECRUITING
    assert Trial.history.count() == history_rows + 1
    assert Trial.history.latest().history_change_reason == "ClinicalTrials.gov import"


def test_it_updates_an_existing_trial_without_blanking_what_the_registry_leaves_out(db):
    existing = TrialFactory(
        nct_id="NCT06340750",
        title="LMY-920 (BAFF CAR-T)",
        sponsor="Entered by an admin",
        car_target=CarTarget.BAFF_R,
        overall_status=TrialStatus.UNKNOWN,
        min_age=18,
        max_age=69,
        source_url="",
    )

    plan = trial_import_plan(records=_records("list.json"))

    lmy920 = next(trial for trial in plan.trials if trial.nct_id == "NCT06340750")
    assert lmy920.outcome is ImportOutcome.UPDATED
    changed = {change.field for change in lmy920.changes}
    assert changed == {
        "title",
        "phase",
        "eligibility_text",
        "conditions_text",
        "source_url",
    }
    trial_import_apply(records=_records("list.json"))
    existing.refresh_from_db()
    assert existing.sponsor == "Entered by an admin"  # the registry record names no sponsor
    assert existing.conditions_text == "Systemic Lupus Erythematosus"  # no conditions of ours yet
    assert existing.source_url == "https://clinicaltrials.gov/study/NCT06340750"


def test_it_skips_a_record_repeated_in_the_same_run(tmp_path, our_conditions):
    directory = tmp_path / "in"
    directory.mkdir()
    shutil.copy(FIXTURES / "list.json", directory / "a.json")
    shutil.copy(FIXTURES / "list.json", directory / "b.json")

    report = trial_import_apply(records=parse_path(directory))

    assert report.trial_counts == ImportCounts(created=2, updated=0, unchanged=0, skipped=2)
    skipped = [trial for trial in report.trials if trial.outcome is ImportOutcome.SKIPPED]
    assert skipped[0].reason == "the same as a.json: record 1 (NCT05869955)"
    assert Trial.objects.count() == 2
    assert TrialSite.objects.count() == 1


def test_it_refuses_one_nct_id_with_two_different_contents(tmp_path, db):
    directory = tmp_path / "in"
    directory.mkdir()
    shutil.copy(FIXTURES / "single.json", directory / "a.json")
    study = _load("single.json")
    study["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    (directory / "b.json").write_text(json.dumps(study), encoding="utf-8")

    with pytest.raises(CtgovError) as raised:
        parse_path(directory)

    [problem] = raised.value.problems
    assert problem.startswith("b.json: record 1 (NCT06328777), field ")
    assert "a.json: record 1" in problem


def test_it_skips_sites_without_a_facility_or_listed_twice(db):
    duke = {"facility": "Duke University", "country": "United States"}
    study = _study(
        contactsLocationsModule={"locations": [duke, {"country": "United States"}, duke]}
    )

    report = trial_import_apply(records=(_parse_one(study),))

    assert report.site_counts == ImportCounts(created=1, updated=0, unchanged=0, skipped=2)
    assert [site.reason for site in report.trials[0].sites[1:]] == ["no facility", "listed twice"]
    assert TrialSite.objects.count() == 1


def test_it_writes_nothing_when_the_database_refuses_a_row_half_way(monkeypatch, db):
    create = TrialSite.objects.create
    calls = []

    def failing_create(**values):
        calls.append(values)
        if len(calls) == 2:
            raise IntegrityError("refused")
        return create(**values)

    monkeypatch.setattr(TrialSite.objects, "create", failing_create)

    with pytest.raises(CtgovError, match=r"single\.json: record 1 \(NCT06328777\): clashes"):
        trial_import_apply(records=_records())

    assert Trial.objects.count() == TrialSite.objects.count() == 0


# -- the command -----------------------------------------------------------------------------


def test_it_prints_a_summary(our_conditions):
    out = StringIO()

    call_command("import_trials", str(FIXTURES), stdout=out)

    assert out.getvalue().splitlines() == [
        "trials: 5 created, 0 updated, 0 unchanged, 0 skipped",
        "sites: 2 created, 0 updated, 0 unchanged, 0 skipped",
    ]
    second = StringIO()
    call_command("import_trials", str(FIXTURES / "page.json"), stdout=second)
    assert (
        second.getvalue().splitlines()[0] == "trials: 0 created, 0 updated, 2 unchanged, 0 skipped"
    )


def test_it_prints_the_plan_and_writes_nothing_on_a_dry_run(our_conditions):
    trial_import_apply(records=_records("single.json"))
    Trial.objects.update(overall_status=TrialStatus.COMPLETED)
    out = StringIO()

    call_command("import_trials", str(FIXTURES), "--dry-run", stdout=out)

    output = out.getvalue()
    assert "NCT05869955 created: Breakfree-1" in output
    assert "NCT06328777 updated: RESET-SSc" in output
    assert "overall_status: Completed → Recruiting" in output
    assert "site created: Nationwide Children's, Columbus, United States" in output
    assert "trials: 4 created, 1 updated, 0 unchanged, 0 skipped" in output
    assert output.rstrip().endswith("Dry run: nothing was written.")
    assert Trial.objects.count() == 1
    assert Trial.objects.get().overall_status == TrialStatus.COMPLETED


def test_it_fails_the_command_for_a_path_that_does_not_exist(tmp_path, db):
    with pytest.raises(CommandError, match="no such file or directory") as raised:
        call_command("import_trials", str(tmp_path / "missing.json"), stdout=StringIO())

    assert raised.value.returncode == 1


# -- the admin -------------------------------------------------------------------------------


def _upload(name: str, content: bytes | str) -> SimpleUploadedFile:
    data = content.encode() if isinstance(content, str) else content
    return SimpleUploadedFile(name, data, content_type="application/json")


def test_it_refuses_the_import_to_coordinators(coordinator_client):
    url = reverse(IMPORT_URL)

    assert coordinator_client.get(url).status_code == 403
    response = coordinator_client.post(
        url, {"file": _upload("single.json", (FIXTURES / "single.json").read_bytes())}
    )
    assert response.status_code == 403
    changelist = coordinator_client.get(reverse(CHANGELIST_URL))
    assert url.encode() not in changelist.content
    assert Trial.objects.count() == 0


def test_it_offers_the_import_on_the_trial_list_to_admins(admin_client_):
    changelist = admin_client_.get(reverse(CHANGELIST_URL))

    assert reverse(IMPORT_URL).encode() in changelist.content
    assert b"Import from ClinicalTrials.gov" in changelist.content
    form_page = admin_client_.get(reverse(IMPORT_URL))
    assert form_page.status_code == 200
    assert b'type="file"' in form_page.content
    assert b'enctype="multipart/form-data"' in form_page.content


def test_it_previews_then_applies_an_upload(admin_client_, our_conditions):
    trial_import_apply(records=_records("list.json"))
    Trial.objects.filter(nct_id="NCT05869955").update(overall_status=TrialStatus.COMPLETED)
    combined = [*_load("list.json"), *_load("page.json")["studies"]]
    url = reverse(IMPORT_URL)

    preview = admin_client_.post(url, {"file": _upload("combined.json", json.dumps(combined))})

    assert preview.status_code == 200
    plan = preview.context["plan"]
    assert {trial.nct_id: trial.outcome for trial in plan.trials} == {
        "NCT05869955": ImportOutcome.UPDATED,
        "NCT06340750": ImportOutcome.UNCHANGED,
        "NCT05938725": ImportOutcome.CREATED,
        "NCT06799247": ImportOutcome.CREATED,
    }
    content = preview.content.decode()
    assert 'data-nct-id="NCT05869955" data-outcome="updated"' in content
    assert '<td class="ctgov-old" title="Completed">Completed</td>' in content
    assert (
        '<tr data-testid="trial-counts"><td>Trials</td><td>2</td><td>1</td><td>1</td><td>0</td>'
        in content
    )
    assert b"Apply these changes" in preview.content
    assert Trial.objects.count() == 2  # nothing written by the preview
    assert Trial.objects.get(nct_id="NCT05869955").overall_status == TrialStatus.COMPLETED

    applied = admin_client_.post(url, {"payload": preview.context["payload"]})

    assert applied.status_code == 302
    assert applied["Location"] == reverse(CHANGELIST_URL)
    assert set(Trial.objects.values_list("nct_id", flat=True)) == ALL_NCT_IDS - {"NCT06328777"}
    assert Trial.objects.get(nct_id="NCT05869955").overall_status == TrialStatus.RECRUITING
    [message] = [str(m) for m in get_messages(applied.wsgi_request)]
    assert message.startswith("Imported combined.json from ClinicalTrials.gov: ")
    assert "trials: 2 created, 1 updated, 1 unchanged, 0 skipped; sites: " in message


def test_it_offers_nothing_to_apply_when_everything_is_up_to_date(admin_client_, db):
    trial_import_apply(records=_records("page.json"))

    preview = admin_client_.post(
        reverse(IMPORT_URL), {"file": _upload("page.json", (FIXTURES / "page.json").read_bytes())}
    )

    assert preview.context["plan"].trial_counts.unchanged == 2
    assert b"Apply these changes" not in preview.content
    assert b"nothing to apply" in preview.content


def test_it_refuses_a_tampered_or_foreign_preview(admin_client_, admin_user, our_conditions):
    preview = admin_client_.post(
        reverse(IMPORT_URL),
        {"file": _upload("single.json", (FIXTURES / "single.json").read_bytes())},
    )
    payload = preview.context["payload"]
    data = signing.loads(payload, salt=f"trials.ctgov-import:{admin_user.pk}")
    data["studies"][0]["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    forged = signing.dumps(data, salt="wrong salt", compress=True)
    tampered = payload[:-3] + ("AAA" if not payload.endswith("AAA") else "BBB")
    other_users = signing.dumps(data, salt="trials.ctgov-import:999999", compress=True)

    for bad in (tampered, forged, other_users, "not-a-payload"):
        response = admin_client_.post(reverse(IMPORT_URL), {"payload": bad})
        assert response.status_code == 400
        assert b"could not be verified" in response.content
    assert Trial.objects.count() == 0


def test_it_re_renders_the_form_for_a_file_that_is_not_json(admin_client_):
    response = admin_client_.post(
        reverse(IMPORT_URL), {"file": _upload("trials.csv", "nct_id,title\n")}
    )

    assert response.status_code == 200
    assert "plan" not in response.context
    errors = response.context["form"].errors["file"]
    assert errors == ["trials.csv: not valid JSON at line 1 column 1 (Expecting value)"]
    assert b"trials.csv: not valid JSON at line 1 column 1" in response.content
    assert Trial.objects.count() == 0


def test_it_re_renders_the_form_naming_the_bad_field(admin_client_):
    studies = _load("list.json")
    _bad_age(studies)

    response = admin_client_.post(
        reverse(IMPORT_URL), {"file": _upload("list.json", json.dumps(studies))}
    )

    [error] = response.context["form"].errors["file"]
    assert error.startswith(
        "list.json: record 2 (NCT06340750), field 'protocolSection.eligibilityModule.minimumAge'"
    )
    assert Trial.objects.count() == 0


def test_it_refuses_an_upload_above_the_size_limit(admin_client_, monkeypatch):
    monkeypatch.setattr("trials.forms.CTGOV_UPLOAD_MAX_BYTES", 100)

    response = admin_client_.post(
        reverse(IMPORT_URL),
        {"file": _upload("single.json", (FIXTURES / "single.json").read_bytes())},
    )

    [error] = response.context["form"].errors["file"]
    assert error.startswith("single.json: ")
    assert "is above the 100" in error
    assert Trial.objects.count() == 0


# -- hostile files: nesting, huge numbers, a flood of problems or of studies --------------------

DEEP = "[" * 100_000 + "]" * 100_000


def test_it_refuses_a_deeply_nested_file_in_the_command_naming_the_file(tmp_path, db):
    (tmp_path / "deep.json").write_text(DEEP, encoding="utf-8")

    with pytest.raises(CommandError) as raised:
        call_command("import_trials", str(tmp_path / "deep.json"), stdout=StringIO())

    assert raised.value.returncode == 1
    [problem] = str(raised.value).splitlines()[1:]
    assert problem == "- deep.json: not usable JSON: nested too deeply to read"
    assert Trial.objects.count() == 0


def test_it_refuses_a_number_too_long_to_read_naming_the_file():
    study = json.dumps(_study()).replace('"RECRUITING"', "1" * 5_000)

    with pytest.raises(CtgovError) as raised:
        parse_text(study, source="long.json")

    assert raised.value.problems == (
        "long.json: not usable JSON: a number is longer than 4300 digits",
    )


def test_it_stops_listing_problems_after_the_first_hundred(tmp_path, db):
    (tmp_path / "empty-records.json").write_text(json.dumps([{}] * 5_000), encoding="utf-8")

    with pytest.raises(CommandError) as raised:
        call_command("import_trials", str(tmp_path), stdout=StringIO())

    problems = str(raised.value).splitlines()[1:]
    assert len(problems) == ctgov.MAX_PROBLEMS + 1
    assert problems[-1] == (
        f"- empty-records.json: stopped after {ctgov.MAX_PROBLEMS} problems; "
        f"records {ctgov.MAX_PROBLEMS + 1}–5000 were not checked"
    )


def test_it_re_renders_the_form_for_a_deeply_nested_upload(admin_client_):
    response = admin_client_.post(reverse(IMPORT_URL), {"file": _upload("deep.json", DEEP)})

    assert response.status_code == 200
    assert "plan" not in response.context
    assert response.context["form"].errors["file"] == [
        "deep.json: not usable JSON: nested too deeply to read"
    ]
    assert Trial.objects.count() == 0


def test_it_refuses_an_upload_with_more_studies_than_a_registry_page(admin_client_, monkeypatch):
    monkeypatch.setattr("trials.forms.CTGOV_UPLOAD_MAX_STUDIES", 1)
    studies = _load("list.json")

    response = admin_client_.post(
        reverse(IMPORT_URL), {"file": _upload("list.json", json.dumps(studies))}
    )

    assert "plan" not in response.context
    assert response.context["form"].errors["file"] == [
        f"list.json: {len(studies)} studies; the preview takes at most 1 at a time. Split the "
        "file, or import it with `manage.py import_trials`."
    ]
    assert Trial.objects.count() == 0
