"""Dated clinical facts, the checklist of what to collect, and overrides on the lead page."""

import datetime

import pytest

from referrals.models import ClinicalFact, CriterionOverride, EventKind, ScreeningRecord
from tests import pages
from tests.factories import ClinicalFactFactory, EligibilityCriterionFactory, TrialFactory

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


@pytest.fixture
def renal_trial(condition):
    """A recruiting SLE trial that excludes an eGFR below 30."""
    trial = TrialFactory(conditions=[condition], short_name="RENAL", min_age=None, max_age=None)
    EligibilityCriterionFactory(trial=trial, source_text="Exclusion: eGFR < 30 mL/min/1.73 m².")
    return trial


def _row(response, trial) -> str:
    markup = pages.text(response)
    start = markup.index(f'data-candidate="trial-{trial.pk}"')
    return pages.plain(markup[start : markup.index("</tr>", start)])


def test_it_asks_for_the_fact_a_criterion_needs_and_decides_once_it_is_recorded(
    coordinator_client, lead, renal_trial
):
    before = coordinator_client.get(pages.url("lead", lead.pk))

    assert "Needs info" in _row(before, renal_trial)
    assert "Exclusion: eGFR < 30 mL/min/1.73 m²." in _row(before, renal_trial)
    assert "eGFR — needed by 1 candidate" in pages.plain(pages.testid(before, "checklist", "div"))

    response = pages.post(
        coordinator_client,
        "lead_fact",
        lead,
        kind="egfr",
        value="62",
        observed_on=pages.today() - 3 * DAY,
        source="document",
        note="Soroka lab",
    )

    assert response.status_code == 302
    after = coordinator_client.get(pages.url("lead", lead.pk))
    assert "Eligible" in _row(after, renal_trial)
    assert "eGFR 62 mL/min/1.73 m²" in _row(after, renal_trial)
    assert pages.testid(after, "checklist", "div") == ""
    facts = pages.plain(pages.testid(after, "facts", "table"))
    assert "eGFR 62 mL/min/1.73 m² Soroka lab" in facts
    assert "eGFR 62 mL/min/1.73 m²" in pages.timeline(after)


def test_it_excludes_on_a_recorded_low_egfr(coordinator_client, lead, renal_trial):
    ClinicalFactFactory(patient=lead.patient, value_number=25)

    response = coordinator_client.get(pages.url("lead_ineligible", lead.pk))

    assert "Ineligible" in _row(response, renal_trial)
    assert "Excludes eGFR < 30" in _row(response, renal_trial)


def test_it_marks_a_fact_too_old_to_decide_on(coordinator_client, lead, renal_trial):
    ClinicalFactFactory(patient=lead.patient, observed_on=pages.today() - 120 * DAY)

    response = coordinator_client.get(pages.url("lead", lead.pk))

    assert "too old" in pages.testid(response, "facts", "table")
    assert "older than 90 days" in _row(response, renal_trial)
    assert "Needs info" in _row(response, renal_trial)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "egfr", "value": "lots"}, "eGFR is a number."),
        ({"kind": "egfr", "value": "900"}, "eGFR is 0 to 200 mL/min/1.73 m²."),
        ({"kind": "achr_ab", "value": "weak"}, "AChR antibodies is one of: positive, negative."),
        (
            {"kind": "egfr", "value": "62", "observed_on": "2999-01-01"},
            "The date is in the future.",
        ),
        ({"kind": "nonsense", "value": "1"}, "Select a valid choice."),
    ],
)
def test_it_refuses_a_fact_that_does_not_fit_and_writes_nothing(
    coordinator_client, lead, data, message
):
    before = pages.written(lead)
    fields = {"observed_on": pages.today(), "source": "phone", **data}

    response = pages.post(coordinator_client, "lead_fact", lead, **fields)

    assert response.status_code == 200
    assert message in pages.unescaped(response)
    assert pages.written(lead) == before


def test_it_accepts_a_choice_by_its_label(coordinator_client, lead):
    pages.post(
        coordinator_client,
        "lead_fact",
        lead,
        kind="hbv",
        value="Negative",
        observed_on=pages.today(),
        source="document",
    )

    assert ClinicalFact.objects.get(patient=lead.patient).value == "negative"


def test_it_overrides_a_criterion_with_its_reason_and_withdraws_it(
    coordinator_client, coordinator, lead, renal_trial
):
    criterion = renal_trial.criteria.get()
    key = {"candidate_kind": "trial", "candidate_id": renal_trial.pk}

    response = pages.post(
        coordinator_client,
        "lead_override",
        lead,
        **key,
        criterion_key=f"c{criterion.pk}",
        result="pass",
        reason="Creatinine normal in the nephrologist's letter of 2 Dec.",
    )

    assert response.status_code == 302
    page = coordinator_client.get(pages.url("lead", lead.pk))
    row = _row(page, renal_trial)
    assert "Eligible" in row
    assert "Overridden: Creatinine normal in the nephrologist's letter of 2 Dec." in row
    assert "Engine said needs information — eGFR not recorded; overridden by" in row
    assert "Withdraw override" in row
    event = lead.events.get(kind=EventKind.OVERRIDE)
    assert event.author == coordinator
    assert ": passes (engine: needs information)" in event.body

    pages.post(
        coordinator_client, "lead_screening", lead, kind="trial", candidate_id=renal_trial.pk
    )
    [snapshot] = [
        c for c in ScreeningRecord.objects.get(referral=lead).criteria if c.get("overridden")
    ]
    assert snapshot["result"] == "pass"
    assert snapshot["source"] == "Exclusion: eGFR < 30 mL/min/1.73 m²."

    pages.post(
        coordinator_client, "lead_override_clear", lead, **key, criterion_key=f"c{criterion.pk}"
    )

    assert not CriterionOverride.objects.exists()
    assert "Needs info" in _row(coordinator_client.get(pages.url("lead", lead.pk)), renal_trial)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"reason": "  "}, "This field is required."),
        ({"criterion_key": "c999999"}, "That criterion is not among the candidate"),
        ({"candidate_id": 999999}, "That criterion is not among the candidate"),
        ({"result": "maybe"}, "Select a valid choice."),
    ],
)
def test_it_refuses_an_override_without_a_reason_or_a_real_criterion(
    coordinator_client, lead, renal_trial, changes, message
):
    criterion = renal_trial.criteria.get()
    data = {
        "candidate_kind": "trial",
        "candidate_id": renal_trial.pk,
        "criterion_key": f"c{criterion.pk}",
        "result": "pass",
        "reason": "Letter.",
        **changes,
    }
    before = pages.written(lead)

    response = pages.post(coordinator_client, "lead_override", lead, **data)

    assert message in pages.unescaped(response)
    assert pages.written(lead) == before


def test_it_takes_a_lupus_nephritis_patient_for_a_lupus_program(
    coordinator_client, coordinator, condition, program
):
    from tests.factories import ConditionFactory, ReferralFactory

    nephritis = ConditionFactory(name="Lupus nephritis", slug="lupus-nephritis", parent=condition)
    patient = pages.refractory_patient(nephritis)
    lead = ReferralFactory(patient=patient, assigned_to=coordinator)

    response = coordinator_client.get(pages.url("lead", lead.pk))

    eligible = pages.testid(response, "eligibility", "table")
    assert f'data-candidate="program-{program.pk}"' in eligible
    assert "Diagnosis matches (Systemic lupus erythematosus)." in pages.unescaped(response)


def test_it_exports_facts_and_overrides_and_erases_their_free_text(lead, coordinator, program):
    from referrals import selectors, services

    ClinicalFactFactory(patient=lead.patient, note="Told by her sister Rina on the phone")
    CriterionOverride.objects.create(
        referral=lead,
        candidate_kind="program",
        candidate_id=program.pk,
        criterion_key="age",
        criterion_name="Age",
        result="pass",
        reason="Her ID card, seen by Dana",
        decided_by=coordinator,
    )

    exported = selectors.patient_data_export(lead.patient_id)

    assert exported["clinical_facts"][0]["value"] == "90 mL/min/1.73 m²"
    assert exported["referrals"][0]["criterion_overrides"][0]["reason"] == (
        "Her ID card, seen by Dana"
    )

    services.patient_erase(patient=lead.patient, by=coordinator, reason="Patient's request")

    fact = ClinicalFact.objects.get(patient=lead.patient)
    assert (fact.note, fact.value_number) == ("", 90)
    assert CriterionOverride.objects.get().reason != "Her ID card, seen by Dana"
    assert not ClinicalFact.history.filter(note__contains="Rina").exists()


# --- screening a patient who is not in the system ----------------------------------------------


def test_it_screens_a_described_patient_on_a_staff_page_without_saving_them(
    coordinator_client, condition, program, renal_trial
):
    import json

    from referrals.models import Patient

    description = {
        "age": 44,
        "conditions": ["sle"],
        "lines": [
            {"therapies": ["Mycophenolate"], "reason_stopped": "inadequate_response"},
            {"therapies": ["Rituximab"], "reason_stopped": "loss_of_response"},
        ],
    }
    from tests.factories import TherapyFactory

    TherapyFactory(name="Mycophenolate")
    TherapyFactory(name="Rituximab")

    response = coordinator_client.post(
        pages.url("screen"), {"description": json.dumps(description)}
    )

    verdicts = pages.plain(pages.testid(response, "verdicts", "table"))
    assert "CD19 CAR-T (Sheba) Program Eligible" in verdicts
    assert "RENAL Trial Needs info" in verdicts
    assert "eGFR — needed by 1 candidate" in pages.plain(pages.testid(response, "checklist", "div"))
    assert not Patient.objects.exists()


@pytest.mark.parametrize(
    ("description", "message"),
    [
        ("{not json", "Not valid JSON"),
        ('{"conditions": ["lupus"]}', "conditions: unknown condition lupus."),
    ],
)
def test_it_names_what_is_wrong_with_a_description(
    coordinator_client, program, description, message
):
    response = coordinator_client.post(pages.url("screen"), {"description": description})

    assert response.status_code == 200
    assert message in pages.plain(pages.testid(response, "screen-errors", "div"))


def test_it_sends_the_current_facts_to_the_hospital_and_prints_them_in_the_packet(
    coordinator, coordinator_client, lead, program
):
    from referrals import services
    from referrals.models import Referral, ReferralSnapshot
    from tests.factories import make_liaison

    ClinicalFactFactory(patient=lead.patient, kind="sledai_2k", value_number=12)
    lead = pages.eligible_lead(lead, program)
    Referral.objects.filter(pk=lead.pk).update(target_program=program)
    lead = services.referral_transition(
        referral=Referral.objects.get(pk=lead.pk),
        to_stage="referred",
        by=coordinator,
        expected_version=lead.version,
    )

    packet = coordinator_client.get(pages.url("lead_packet", lead.pk))
    assert "SLEDAI-2K 12" in pages.plain(pages.testid(packet, "packet-facts", "table"))
    [fact] = ReferralSnapshot.objects.get(referral=lead).data["clinical_facts"]
    assert (fact["label"], fact["value"], fact["too_old"]) == ("SLEDAI-2K", "12", False)
    coordinator_client.force_login(make_liaison("liaison", program.hospital))
    sent = coordinator_client.get(f"/admin/hospital/referrals/{lead.pk}/")
    assert "SLEDAI-2K 12" in pages.plain(pages.testid(sent, "packet-facts", "table"))


@pytest.mark.django_db(transaction=True)
def test_it_moves_the_patients_undated_scores_into_dated_facts():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [
        ("referrals", "0030_snapshot_taken_index"),
        ("trials", "0003_condition_parent_criteria"),
    ]
    after = [("referrals", "0031_patient_scores_to_facts")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old_apps = executor.loader.project_state(before).apps
    Patient = old_apps.get_model("referrals", "Patient")
    scored = Patient.objects.create(first_name="Dana", last_name="Levi", sledai_2k=12, das28="3.40")
    Patient.objects.create(first_name="Noa", last_name="Cohen")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    moved = {f.kind: f.value_label for f in ClinicalFact.objects.filter(patient_id=scored.pk)}
    assert moved == {"sledai_2k": "12", "das28": "3.4"}
    assert ClinicalFact.objects.count() == 2


def test_it_links_each_item_to_collect_to_where_it_is_recorded(coordinator_client, lead, condition):
    from django.urls import reverse

    from tests.factories import ConditionFactory

    nephritis = ConditionFactory(name="Lupus nephritis", slug="lupus-nephritis", parent=condition)
    TrialFactory(conditions=[nephritis], min_age=None, max_age=None)

    response = coordinator_client.get(pages.url("lead", lead.pk))

    checklist = pages.testid(response, "checklist", "div")
    patient_url = reverse("admin:referrals_patient_change", args=[lead.patient_id])
    assert f'href="{patient_url}">Diagnosis subtype</a> — needed by 1 candidate' in checklist
