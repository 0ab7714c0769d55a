"""Criteria proposed from registry eligibility text: what is recognised, what is left alone,
and that a proposal waits unconfirmed, out of matching, until an admin confirms it."""

import pytest

from trials.criteria import CriterionRole
from trials.criteria_proposals import criteria_propose, sentences

KNOWN = {
    "condition_slugs": frozenset({"myasthenia-gravis"}),
    "therapy_names": frozenset({"Rituximab", "Eculizumab"}),
    "drug_classes": frozenset({"anti_cd20"}),
}

TEXT = """Inclusion Criteria:

* Generalized myasthenia gravis, AChR antibody positive
* MGFA class II to IV at screening
* MG-ADL total score ≥ 6
* Adequate renal function

Exclusion Criteria:

* eGFR < 30 mL/min/1.73 m2
* Rituximab within the prior 12 months
* Prior CAR-T therapy
* Pregnant or breastfeeding
* Any condition that, in the investigator's opinion, makes the participant unsuitable
"""


def _proposals(text=TEXT):
    return [(p.role, p.kind, p.params) for p in criteria_propose(text, **KNOWN)]


def test_it_reads_the_inclusion_and_exclusion_sections():
    roles = [role for role, _ in sentences(TEXT)]

    assert roles[:4] == [CriterionRole.INCLUSION] * 4
    assert roles[4:] == [CriterionRole.EXCLUSION] * 5


def test_it_proposes_the_recognisable_sentences_and_leaves_the_rest():
    include, exclude = CriterionRole.INCLUSION, CriterionRole.EXCLUSION

    assert _proposals() == [
        (include, "fact_value", {"fact": "achr_ab", "values": ["positive"]}),
        (
            include,
            "fact_value",
            {"fact": "mgfa_class", "values": ["IIa", "IIb", "IIIa", "IIIb", "IVa", "IVb"]},
        ),
        (include, "threshold", {"fact": "mg_adl", "op": ">=", "value": 6}),
        (exclude, "threshold", {"fact": "egfr", "op": "<", "value": 30}),
        (exclude, "washout", {"therapies": ["Rituximab"], "months": 12}),
        (exclude, "fact_value", {"fact": "prior_car_t", "values": ["yes"]}),
        (exclude, "fact_value", {"fact": "pregnant", "values": ["yes"]}),
    ]


def test_it_turns_non_musk_into_an_exclusion_of_musk_positive_patients():
    assert _proposals("Inclusion Criteria:\n* MG-ADL ≥6, MGFA II–IV, non-MuSK+") == [
        (CriterionRole.INCLUSION, "threshold", {"fact": "mg_adl", "op": ">=", "value": 6}),
        (CriterionRole.EXCLUSION, "fact_value", {"fact": "musk_ab", "values": ["positive"]}),
        (
            CriterionRole.INCLUSION,
            "fact_value",
            {"fact": "mgfa_class", "values": ["IIa", "IIb", "IIIa", "IIIb", "IVa", "IVb"]},
        ),
    ]


def test_it_proposes_nothing_for_a_threshold_outside_the_scale():
    assert _proposals("Inclusion Criteria:\n* MG-ADL ≥ 60") == []


@pytest.mark.django_db
def test_it_saves_proposals_unconfirmed_and_out_of_matching_until_confirmed(coordinator):
    from referrals import selectors
    from tests.factories import ConditionFactory, PatientFactory, TrialFactory
    from trials.services.criteria import trial_criteria_propose

    mg = ConditionFactory(slug="myasthenia-gravis", name="Myasthenia gravis")
    trial = TrialFactory(conditions=[mg], eligibility_text=TEXT, min_age=None, max_age=None)
    patient = PatientFactory(primary_condition=mg)

    assert trial_criteria_propose(trial=trial) == 6  # no therapy named Rituximab here
    assert trial_criteria_propose(trial=trial) == 0  # the same sentences are not proposed twice
    assert not trial.criteria.filter(confirmed=True).exists()

    def typed_criteria() -> list[str]:
        patient_row = selectors.patient_for_eligibility(patient.pk)
        [evaluation] = [
            e for e in selectors.patient_evaluations(patient_row) if e.candidate.id == trial.pk
        ]
        return [c.name for c in evaluation.criteria if c.source]

    assert typed_criteria() == []
    trial.criteria.filter(kind="threshold").update(confirmed=True)
    assert typed_criteria() == ["MG-ADL ≥ 6", "Excludes eGFR < 30"]


@pytest.mark.django_db
def test_it_proposes_criteria_from_the_trial_page_for_an_admin_to_confirm(admin_client_):
    from django.urls import reverse

    from tests.factories import TrialFactory

    trial = TrialFactory(eligibility_text=TEXT)
    url = reverse("admin:trials_trial_propose_criteria", args=[trial.pk])

    asked = admin_client_.get(url)
    assert "Propose criteria" in asked.text
    assert not trial.criteria.exists()  # a link followed writes nothing
    response = admin_client_.post(
        reverse("admin:trials_trial_propose_criteria", args=[trial.pk]), follow=True
    )

    assert "6 criteria proposed from the eligibility text, unconfirmed" in response.text
    assert trial.criteria.count() == 6
    assert not trial.criteria.filter(confirmed=True).exists()
    assert "MGFA class II to IV at screening" in response.text
