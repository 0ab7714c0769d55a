"""The criteria in `trials/reference/criteria.json`, loaded and evaluated for real patients: the
verdict the hospital would give, through the same selector the lead page uses."""

import datetime
from decimal import Decimal

import pytest

from referrals.eligibility import Result, Verdict
from referrals.selectors import patient_evaluations
from referrals.selectors.eligibility import patient_for_eligibility
from tests.factories import ClinicalFactFactory, PatientFactory, PriorTreatmentLineFactory
from trials.models import Condition, Therapy
from trials.services import reference_data_load

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 12, 7)


@pytest.fixture(autouse=True)
def reference_data():
    reference_data_load()


def _patient(condition: str, **facts):
    patient = PatientFactory(primary_condition=Condition.objects.get(slug=condition))
    for kind, value in facts.items():
        ClinicalFactFactory(
            patient=patient,
            kind=kind,
            value_number=value if isinstance(value, int | Decimal) else None,
            value_text=value if isinstance(value, str) else "",
            value_date=value if isinstance(value, datetime.date) else None,
            observed_on=TODAY - datetime.timedelta(days=10),
        )
    return patient


def _line(patient, therapy: str, start: datetime.date, weeks: int, reason="inadequate_response"):
    PriorTreatmentLineFactory(
        patient=patient,
        therapies=[Therapy.objects.get(name=therapy)],
        start_date=start,
        end_date=start + datetime.timedelta(weeks=weeks),
        reason_stopped=reason,
    )


def _evaluation(patient, nct_id: str):
    evaluations = patient_evaluations(patient_for_eligibility(patient.pk), today=TODAY)
    return next(e for e in evaluations if e.candidate.name.startswith(nct_id))


def _result(evaluation, source: str) -> Result:
    [criterion] = [c for c in evaluation.criteria if c.source == source]
    return criterion.result


def test_it_finds_a_musk_positive_mg_patient_ineligible_for_the_achr_trials_only():
    patient = _patient("myasthenia-gravis", achr_ab="negative", musk_ab="positive", mg_adl=8)

    aurora = _evaluation(patient, "NCT06799247")
    mg001 = _evaluation(patient, "NCT04146051")
    musk_caart = _evaluation(patient, "NCT05451212")

    assert aurora.verdict == Verdict.INELIGIBLE
    assert _result(aurora, "AChR-Ab+ gMG") == Result.FAIL
    assert _result(aurora, "MG-ADL ≥6") == Result.PASS
    assert mg001.verdict == Verdict.INELIGIBLE
    assert _result(mg001, "non-MuSK+") == Result.FAIL
    assert _result(musk_caart, "Anti-MuSK-antibody+ MG") == Result.PASS


def test_it_asks_for_the_mgfa_class_of_an_achr_positive_patient():
    patient = _patient("myasthenia-gravis", achr_ab="positive", mg_adl=6)

    aurora = _evaluation(patient, "NCT06799247")

    assert _result(aurora, "AChR-Ab+ gMG") == _result(aurora, "MG-ADL ≥6") == Result.PASS
    assert _result(aurora, "MGFA 2–4") == Result.UNKNOWN
    assert aurora.verdict == Verdict.NEEDS_INFO


@pytest.mark.parametrize(
    ("biopsy_class", "result"),
    [("V", Result.FAIL), ("II", Result.FAIL), ("III", Result.PASS), ("IV", Result.PASS)],
)
def test_it_takes_only_class_iii_or_iv_lupus_nephritis_into_kysa_1(biopsy_class, result):
    patient = _patient("lupus-nephritis", ln_biopsy_class=biopsy_class)

    kysa1 = _evaluation(patient, "NCT05938725")

    assert _result(kysa1, "Biopsy-proven class III/IV lupus nephritis") == result
    if result == Result.FAIL:
        assert kysa1.verdict == Verdict.INELIGIBLE


BREAKFREE_1_LINES = (
    "SLE: inadequate response to GC + ≥2 of CYC, MMF, belimumab, AZA, anifrolumab, MTX, RTX, "
    "obinutuzumab, CsA, TAC, voclosporin, each ≥3 months (MTX + AZA count as one; intolerance "
    "does not count)."
)


def test_it_counts_methotrexate_and_azathioprine_as_one_line_for_breakfree_1():
    patient = _patient("sle")
    _line(patient, "Methotrexate", datetime.date(2020, 1, 1), weeks=26)
    _line(patient, "Azathioprine", datetime.date(2021, 1, 1), weeks=26)

    breakfree = _evaluation(patient, "NCT05869955")

    assert _result(breakfree, BREAKFREE_1_LINES) == Result.FAIL
    _line(patient, "Mycophenolate mofetil", datetime.date(2022, 1, 1), weeks=26)
    assert _result(_evaluation(patient, "NCT05869955"), BREAKFREE_1_LINES) == Result.PASS


@pytest.mark.parametrize(
    ("therapy", "weeks", "reason"),
    [
        ("Mycophenolate mofetil", 26, "intolerance"),  # intolerance does not count
        ("Mycophenolate mofetil", 8, "inadequate_response"),  # shorter than 3 months
        ("Leflunomide", 26, "inadequate_response"),  # not one of the listed therapies
    ],
)
def test_it_does_not_count_a_line_breakfree_1_excludes(therapy, weeks, reason):
    patient = _patient("sle")
    _line(patient, "Cyclophosphamide", datetime.date(2020, 1, 1), weeks=26)
    _line(patient, therapy, datetime.date(2022, 1, 1), weeks=weeks, reason=reason)

    breakfree = _evaluation(patient, "NCT05869955")

    assert _result(breakfree, BREAKFREE_1_LINES) == Result.FAIL


def test_it_excludes_rituximab_within_12_months_from_reset_pv():
    patient = _patient("pemphigus-vulgaris")
    _line(patient, "Rituximab", TODAY - datetime.timedelta(weeks=40), weeks=20)

    reset_pv = _evaluation(patient, "NCT04422912")

    assert _result(reset_pv, "excludes rituximab in the prior 12 months") == Result.FAIL
    assert reset_pv.verdict == Verdict.INELIGIBLE


def test_it_needs_a_das28_above_3_2_for_regulate_ra():
    at_limit = _patient("rheumatoid-arthritis", das28=Decimal("3.2"))
    above = _patient("rheumatoid-arthritis", das28=Decimal("3.21"))

    assert _result(_evaluation(at_limit, "NCT06201416"), "DAS28-CRP >3.2") == Result.FAIL
    assert _result(_evaluation(above, "NCT06201416"), "DAS28-CRP >3.2") == Result.PASS


def test_it_counts_reset_ssc_disease_duration_from_the_first_non_raynaud_symptom():
    recent = _patient("systemic-sclerosis", first_non_raynaud_symptom=datetime.date(2021, 3, 1))
    long_ago = _patient("systemic-sclerosis", first_non_raynaud_symptom=datetime.date(2018, 3, 1))
    source = "Disease ≤7 years from first non-Raynaud's symptom"

    assert _result(_evaluation(recent, "NCT06328777"), source) == Result.PASS
    assert _result(_evaluation(long_ago, "NCT06328777"), source) == Result.FAIL
