"""Typed criteria, dated facts and the condition hierarchy: each kind's pass, fail and unknown
paths, staleness and boundaries, washouts, line rules and overrides, on the pure engine."""

import datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referrals.eligibility import (
    Candidate,
    ConditionTree,
    Fact,
    Line,
    Override,
    PatientFacts,
    Result,
    TypedCriterion,
    Verdict,
    evaluate,
    verdict_of,
)
from trials.criteria import CriterionError, CriterionRole, parse_rule, role_problem

TODAY = datetime.date(2026, 12, 7)
DAY = datetime.timedelta(days=1)
SLE, LN, RA, MYOSITIS, DM = 1, 2, 3, 4, 5
TREE = ConditionTree(
    parents={SLE: None, LN: SLE, RA: None, MYOSITIS: None, DM: MYOSITIS},
    slugs={
        SLE: "sle",
        LN: "lupus-nephritis",
        RA: "rheumatoid-arthritis",
        MYOSITIS: "idiopathic-inflammatory-myopathy",
        DM: "dermatomyositis",
    },
)
KNOWN = {
    "condition_slugs": frozenset(TREE.slugs.values()),
    "therapy_names": frozenset(
        {"Methotrexate", "Azathioprine", "Mycophenolate mofetil", "Rituximab", "Cyclophosphamide"}
    ),
    "drug_classes": frozenset({"csdmard", "anti_cd20", "alkylating"}),
}
CLASSES = {
    "Methotrexate": "csdmard",
    "Azathioprine": "csdmard",
    "Mycophenolate mofetil": "csdmard",
    "Rituximab": "anti_cd20",
    "Cyclophosphamide": "alkylating",
}


def _line(*therapies, start=None, end=None, reason="inadequate_response") -> Line:
    return Line(
        therapies=frozenset(therapies),
        drug_classes=frozenset(CLASSES[t] for t in therapies),
        counts=True,
        start=start,
        end=end,
        reason_stopped=reason,
    )


def _patient(conditions=(SLE,), lines=(), facts=(), **fields) -> PatientFacts:
    return PatientFacts(
        age=fields.pop("age", 40),
        condition_ids=frozenset(conditions),
        condition_names=tuple(TREE.slugs[c] for c in conditions),
        failed_line_count=fields.pop("failed_line_count", 3),
        line_count=len(lines),
        lines=tuple(lines),
        facts={fact.kind: fact for fact in facts},
        **fields,
    )


def _fact(kind, value, days_ago=10) -> Fact:
    return Fact(kind, value, TODAY - days_ago * DAY)


def _candidate(*criteria, conditions=(SLE,), **fields) -> Candidate:
    typed = tuple(
        TypedCriterion(
            key=f"c{index}",
            role=role,
            rule=parse_rule(kind, params, **KNOWN),
            source=f"Sentence {index}.",
        )
        for index, (role, kind, params) in enumerate(criteria, start=1)
    )
    return Candidate(
        kind=fields.pop("kind", "trial"),
        id=fields.pop("id", 1),
        name="Trial",
        condition_ids=frozenset(conditions),
        condition_names=tuple(TREE.slugs[c] for c in conditions),
        min_age=None,
        max_age=None,
        min_failed_lines=fields.pop("min_failed_lines", 2),
        is_open=True,
        status_label="Recruiting",
        criteria=typed,
        **fields,
    )


def _evaluate(patient, candidate, **kwargs):
    [evaluation] = evaluate(patient, [candidate], today=TODAY, tree=TREE, **kwargs)
    return evaluation


def _typed(evaluation):
    return next(c for c in evaluation.criteria if c.key == "c1")


INCLUDE, EXCLUDE = CriterionRole.INCLUSION, CriterionRole.EXCLUSION


# --- the condition hierarchy -----------------------------------------------------------------


def test_it_takes_a_subtype_for_a_program_of_its_parent():
    evaluation = _evaluate(_patient(conditions=(LN,)), _candidate(conditions=(SLE,)))

    assert evaluation.verdict == Verdict.ELIGIBLE
    assert evaluation.criteria[0].detail == "Diagnosis matches (sle)."


def test_it_asks_for_the_subtype_when_a_candidate_takes_only_the_subtype():
    evaluation = _evaluate(_patient(conditions=(SLE,)), _candidate(conditions=(LN,)))

    assert evaluation.verdict == Verdict.NEEDS_INFO
    assert evaluation.missing == ("diagnosis_subtype",)


def test_it_refuses_an_unrelated_condition():
    evaluation = _evaluate(_patient(conditions=(RA,)), _candidate(conditions=(SLE,)))

    assert evaluation.verdict == Verdict.INELIGIBLE


@pytest.mark.parametrize(
    ("conditions", "result"),
    [((LN,), Result.PASS), ((SLE,), Result.UNKNOWN), ((RA,), Result.FAIL)],
)
def test_it_requires_a_subtype_by_criterion(conditions, result):
    candidate = _candidate(
        (INCLUDE, "condition", {"conditions": ["lupus-nephritis"]}), conditions=(SLE, RA)
    )

    assert _typed(_evaluate(_patient(conditions=conditions), candidate)).result == result


# --- thresholds, freshness and boundaries ------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "result", "detail"),
    [
        ([_fact("sledai_2k", Decimal(8))], Result.PASS, "SLEDAI-2K 8 on"),
        ([_fact("sledai_2k", Decimal(7))], Result.FAIL, "SLEDAI-2K 7 on"),
        ([], Result.UNKNOWN, "SLEDAI-2K not recorded."),
        ([_fact("sledai_2k", Decimal(12), days_ago=91)], Result.UNKNOWN, "older than 90 days"),
        ([_fact("sledai_2k", Decimal(12), days_ago=90)], Result.PASS, "SLEDAI-2K 12"),
    ],
)
def test_it_compares_a_score_only_while_it_is_current(facts, result, detail):
    candidate = _candidate((INCLUDE, "threshold", {"fact": "sledai_2k", "op": ">=", "value": 8}))

    criterion = _typed(_evaluate(_patient(facts=facts), candidate))

    assert (criterion.result, criterion.source) == (result, "Sentence 1.")
    assert detail in criterion.detail
    assert criterion.missing == (("sledai_2k",) if result == Result.UNKNOWN else ())


@pytest.mark.parametrize(
    ("egfr", "result"), [(Decimal(25), Result.FAIL), (Decimal(30), Result.PASS), (None, None)]
)
def test_it_excludes_on_a_lab_threshold(egfr, result):
    candidate = _candidate((EXCLUDE, "threshold", {"fact": "egfr", "op": "<", "value": 30}))
    facts = [_fact("egfr", egfr)] if egfr is not None else []

    criterion = _typed(_evaluate(_patient(facts=facts), candidate))

    assert criterion.result == (result or Result.UNKNOWN)
    assert criterion.name == "Excludes eGFR < 30"


def test_it_uses_the_criterions_shorter_freshness_window():
    candidate = _candidate(
        (INCLUDE, "threshold", {"fact": "egfr", "op": ">=", "value": 30, "fresh_days": 28})
    )
    patient = _patient(facts=[_fact("egfr", Decimal(60), days_ago=29)])

    assert _typed(_evaluate(patient, candidate)).result == Result.UNKNOWN


# --- recorded values: serology, classes, hard exclusions --------------------------------------


@pytest.mark.parametrize(
    ("achr", "musk", "verdict"),
    [
        ("positive", "negative", Verdict.ELIGIBLE),
        ("negative", "positive", Verdict.INELIGIBLE),
        ("positive", None, Verdict.NEEDS_INFO),
    ],
)
def test_it_keeps_musk_patients_out_of_an_achr_trial(achr, musk, verdict):
    candidate = _candidate(
        (INCLUDE, "fact_value", {"fact": "achr_ab", "values": ["positive"]}),
        (EXCLUDE, "fact_value", {"fact": "musk_ab", "values": ["positive"]}),
    )
    facts = [_fact("achr_ab", achr)] + ([_fact("musk_ab", musk)] if musk else [])

    assert _evaluate(_patient(facts=facts), candidate).verdict == verdict


@pytest.mark.parametrize(
    ("biopsy", "result"), [("IV", Result.PASS), ("V", Result.FAIL), ("IV+V", Result.FAIL)]
)
def test_it_reads_the_lupus_nephritis_class(biopsy, result):
    candidate = _candidate(
        (INCLUDE, "fact_value", {"fact": "ln_biopsy_class", "values": ["III", "IV"]})
    )
    patient = _patient(facts=[_fact("ln_biopsy_class", biopsy, days_ago=400)])

    assert _typed(_evaluate(patient, candidate)).result == result


def test_it_excludes_prior_car_t_and_asks_when_it_is_not_recorded():
    candidate = _candidate((EXCLUDE, "fact_value", {"fact": "prior_car_t", "values": ["yes"]}))

    treated = _evaluate(_patient(facts=[_fact("prior_car_t", "yes")]), candidate)
    unknown = _evaluate(_patient(), candidate)
    never = _evaluate(_patient(facts=[_fact("prior_car_t", "no")]), candidate)

    assert treated.verdict == Verdict.INELIGIBLE
    assert (unknown.verdict, unknown.missing) == (Verdict.NEEDS_INFO, ("prior_car_t",))
    assert never.verdict == Verdict.ELIGIBLE


def test_it_asks_for_a_pregnancy_status_older_than_30_days():
    candidate = _candidate((EXCLUDE, "fact_value", {"fact": "pregnant", "values": ["yes"]}))

    stale = _evaluate(_patient(facts=[_fact("pregnant", "no", days_ago=31)]), candidate)

    assert stale.verdict == Verdict.NEEDS_INFO
    assert stale.missing == ("pregnant",)


# --- disease duration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("onset", "result"),
    [
        (TODAY.replace(year=2019), Result.PASS),  # 7 years to the day... 7.0 ≤ 7
        (TODAY.replace(year=2015), Result.FAIL),  # 11 years
    ],
)
def test_it_counts_systemic_sclerosis_from_the_first_non_raynaud_symptom(onset, result):
    params = {"fact": "first_non_raynaud_symptom", "max_years": 7}
    candidate = _candidate((INCLUDE, "disease_duration", params))
    patient = _patient(facts=[_fact("first_non_raynaud_symptom", onset, days_ago=30)])

    assert _typed(_evaluate(patient, candidate)).result == result


@pytest.mark.parametrize(
    ("year", "result"), [(2021, Result.PASS), (2019, Result.UNKNOWN), (2015, Result.FAIL)]
)
def test_it_decides_from_the_diagnosis_year_only_when_the_whole_year_agrees(year, result):
    candidate = _candidate((INCLUDE, "disease_duration", {"max_years": 7}))

    assert _typed(_evaluate(_patient(diagnosis_year=year), candidate)).result == result


# --- failed lines ------------------------------------------------------------------------------

BREAKFREE = {
    "count": 2,
    "min_weeks": 12,
    "stop_reasons": ["inadequate_response", "loss_of_response"],
    "count_as_one": [["Methotrexate", "Azathioprine"]],
}
LONG = {"start": TODAY - 400 * DAY, "end": TODAY - 200 * DAY}


def test_it_counts_methotrexate_and_azathioprine_as_one_line():
    candidate = _candidate((INCLUDE, "failed_lines", BREAKFREE))
    patient = _patient(lines=[_line("Methotrexate", **LONG), _line("Azathioprine", **LONG)])

    criterion = _typed(_evaluate(patient, candidate))

    assert criterion.result == Result.FAIL
    assert criterion.detail.startswith("1 counted")


def test_it_does_not_count_intolerance_when_the_trial_does_not():
    candidate = _candidate((INCLUDE, "failed_lines", BREAKFREE))
    patient = _patient(
        lines=[
            _line("Mycophenolate mofetil", **LONG),
            _line("Cyclophosphamide", **LONG, reason="intolerance"),
        ]
    )

    assert _typed(_evaluate(patient, candidate)).result == Result.FAIL


def test_it_requires_each_line_to_have_run_long_enough():
    candidate = _candidate((INCLUDE, "failed_lines", BREAKFREE))
    short = {"start": TODAY - 100 * DAY, "end": TODAY - 58 * DAY}  # six weeks
    patient = _patient(
        lines=[_line("Mycophenolate mofetil", **short), _line("Cyclophosphamide", **short)]
    )

    assert _typed(_evaluate(patient, candidate)).result == Result.FAIL


def test_it_asks_for_line_dates_when_they_would_decide():
    candidate = _candidate((INCLUDE, "failed_lines", BREAKFREE))
    patient = _patient(lines=[_line("Mycophenolate mofetil", **LONG), _line("Cyclophosphamide")])

    evaluation = _evaluate(patient, candidate)

    assert _typed(evaluation).result == Result.UNKNOWN
    assert evaluation.missing == ("line_dates",)


def test_it_passes_two_long_distinct_failures_and_replaces_the_plain_count():
    candidate = _candidate((INCLUDE, "failed_lines", BREAKFREE), min_failed_lines=5)
    patient = _patient(
        lines=[_line("Mycophenolate mofetil", **LONG), _line("Cyclophosphamide", **LONG)],
        failed_line_count=2,
    )

    evaluation = _evaluate(patient, candidate)

    assert evaluation.verdict == Verdict.ELIGIBLE
    assert "Failed lines" not in [c.name for c in evaluation.criteria]


def test_it_requires_a_line_of_the_named_classes():
    params = {"count": 2, "required_classes": ["anti_cd20", "alkylating"]}
    candidate = _candidate((INCLUDE, "failed_lines", params))
    without = _patient(lines=[_line("Methotrexate"), _line("Mycophenolate mofetil")])
    with_biologic = _patient(lines=[_line("Methotrexate"), _line("Rituximab")])

    assert _typed(_evaluate(without, candidate)).result == Result.FAIL
    assert _typed(_evaluate(with_biologic, candidate)).result == Result.PASS


def test_it_counts_only_lines_within_the_recency_window():
    params = {"count": 2, "within_months": 24}
    candidate = _candidate((INCLUDE, "failed_lines", params))
    old = {"start": TODAY - 1200 * DAY, "end": TODAY - 1000 * DAY}
    patient = _patient(lines=[_line("Methotrexate", **LONG), _line("Rituximab", **old)])

    assert _typed(_evaluate(patient, candidate)).result == Result.FAIL


# --- washouts ----------------------------------------------------------------------------------

WASHOUT = (EXCLUDE, "washout", {"therapies": ["Rituximab"], "months": 12})


@pytest.mark.parametrize(
    ("line", "result"),
    [
        (_line("Rituximab", start=TODAY - 200 * DAY, end=TODAY - 60 * DAY), Result.FAIL),
        (_line("Rituximab", start=TODAY - 900 * DAY, end=TODAY - 400 * DAY), Result.PASS),
        (_line("Rituximab", start=TODAY - 30 * DAY, reason="ongoing"), Result.FAIL),
        (_line("Rituximab"), Result.UNKNOWN),
        (_line("Methotrexate", end=TODAY - 10 * DAY), Result.PASS),
    ],
)
def test_it_excludes_rituximab_within_twelve_months(line, result):
    criterion = _typed(_evaluate(_patient(lines=[line]), _candidate(WASHOUT)))

    assert criterion.result == result


def test_it_refuses_a_washout_written_as_an_inclusion():
    assert "exclusion" in role_problem("washout", CriterionRole.INCLUSION)
    assert role_problem("washout", CriterionRole.EXCLUSION) == ""


# --- manual review, exclusion notes, sites -----------------------------------------------------


def test_it_leaves_a_sentence_that_cannot_be_typed_to_a_clinician():
    candidate = _candidate((EXCLUDE, "manual", {}))

    evaluation = _evaluate(_patient(), candidate)

    assert evaluation.verdict == Verdict.NEEDS_INFO
    assert evaluation.missing == ("clinician_review",)


def test_it_no_longer_lets_free_text_exclusions_rule_out_every_candidate():
    evaluation = _evaluate(_patient(exclusions=("eGFR 25",)), _candidate())

    assert evaluation.verdict == Verdict.NEEDS_INFO


@pytest.mark.parametrize(
    ("countries", "travel", "result"),
    [
        ({"Israel", "Germany"}, None, Result.PASS),
        ({"China"}, None, Result.UNKNOWN),
        ({"China"}, "no", Result.FAIL),
        ({"China"}, "yes", Result.PASS),
    ],
)
def test_it_says_where_a_trial_treats(countries, travel, result):
    facts = [_fact("travel_abroad", travel)] if travel else []
    evaluation = _evaluate(_patient(facts=facts), _candidate(countries=frozenset(countries)))

    sites = next(c for c in evaluation.criteria if c.key == "sites")
    assert sites.result == result
    assert "China" in sites.detail or "Israel" in sites.detail


# --- overrides ---------------------------------------------------------------------------------


def test_it_applies_an_override_with_its_reason_and_keeps_what_it_replaced():
    candidate = _candidate((EXCLUDE, "manual", {}))
    override = Override(Result.PASS, "No active CNS disease per Dr Levi's letter", "dana", TODAY)

    evaluation = _evaluate(_patient(), candidate, overrides={("trial", 1, "c1"): override})

    criterion = _typed(evaluation)
    assert evaluation.verdict == Verdict.ELIGIBLE
    assert criterion.detail == "Overridden: No active CNS disease per Dr Levi's letter"
    assert criterion.overridden.startswith("needs information — Check against")
    assert "dana" in criterion.overridden


# --- parameters are checked --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("threshold", {"fact": "egfr", "op": "=>", "value": 30}, "op must be one of"),
        ("threshold", {"fact": "egfr", "op": ">=", "value": 900}, "within eGFR's 0–200"),
        ("threshold", {"fact": "achr_ab", "op": ">=", "value": 1}, "cannot be used"),
        ("fact_value", {"fact": "achr_ab", "values": ["weak"]}, "unknown value weak"),
        ("condition", {"conditions": ["lupus"]}, "unknown condition lupus"),
        ("failed_lines", {"count": 0}, "at least 1"),
        ("failed_lines", {"count": 2, "count_as_one": [["Aspirin"]]}, "unknown therapies"),
        ("washout", {"months": 12}, "Name the therapies"),
        ("disease_duration", {"max_years": 3, "min_years": 5}, "above max_years"),
        ("threshold", {"fact": "egfr", "op": ">=", "value": 30, "colour": 1}, "colour"),
        ("nonsense", {}, "Unknown criterion kind"),
    ],
)
def test_it_refuses_malformed_parameters_naming_the_problem(kind, params, message):
    with pytest.raises(CriterionError, match=message):
        parse_rule(kind, params, **KNOWN)


# --- properties --------------------------------------------------------------------------------

results = st.sampled_from(list(Result))


@given(st.lists(results, min_size=1, max_size=12))
def test_it_is_never_eligible_with_a_criterion_that_did_not_pass(found):
    verdict = verdict_of(found)

    assert (verdict == Verdict.ELIGIBLE) == all(r == Result.PASS for r in found)
    assert (verdict == Verdict.INELIGIBLE) == (Result.FAIL in found)


@given(
    egfr=st.one_of(st.none(), st.integers(0, 200)),
    days_ago=st.integers(0, 400),
    achr=st.sampled_from([None, "positive", "negative"]),
)
def test_it_never_calls_eligible_what_a_criterion_could_not_confirm(egfr, days_ago, achr):
    facts = []
    if egfr is not None:
        facts.append(_fact("egfr", Decimal(egfr), days_ago=days_ago))
    if achr:
        facts.append(_fact("achr_ab", achr))
    candidate = _candidate(
        (EXCLUDE, "threshold", {"fact": "egfr", "op": "<", "value": 30}),
        (INCLUDE, "fact_value", {"fact": "achr_ab", "values": ["positive"]}),
    )

    evaluation = _evaluate(_patient(facts=facts), candidate)

    fresh_egfr = egfr is not None and days_ago <= 90
    if evaluation.verdict == Verdict.ELIGIBLE:
        assert fresh_egfr and egfr >= 30 and achr == "positive"
    assert all(c.result == Result.PASS for c in evaluation.criteria) == (
        evaluation.verdict == Verdict.ELIGIBLE
    )


# --- stored criteria, the hierarchy in the database, the admin ---------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"params": {"fact": "egfr", "op": "<", "value": 300}}, "params", "within eGFR"),
        (
            {"kind": "washout", "role": "inclusion", "params": {"months": 12, "classes": ["jak"]}},
            "role",
            "exclusion",
        ),
        ({"source_text": ""}, "source_text", "This field cannot be blank."),
    ],
)
def test_it_refuses_a_criterion_an_admin_got_wrong(fields, field, message):
    from django.core.exceptions import ValidationError

    from tests.factories import EligibilityCriterionFactory

    criterion = EligibilityCriterionFactory.build(
        trial=EligibilityCriterionFactory().trial, **fields
    )

    with pytest.raises(ValidationError) as refused:
        criterion.full_clean()

    assert message in " ".join(refused.value.message_dict[field])


@pytest.mark.django_db
def test_it_loads_the_condition_hierarchy_from_the_reference_files():
    from trials.models import Condition
    from trials.services.reference_data import reference_data_load

    reference_data_load()

    parents = dict(Condition.objects.values_list("slug", "parent__slug"))
    assert parents["lupus-nephritis"] == "sle"
    assert parents["antisynthetase-syndrome"] == "idiopathic-inflammatory-myopathy"
    assert parents["granulomatosis-with-polyangiitis"] == "anca-associated-vasculitis"
    assert parents["sle"] is None


@pytest.mark.django_db
def test_it_refuses_a_loop_of_subtypes():
    from django.core.exceptions import ValidationError

    from tests.factories import ConditionFactory

    parent = ConditionFactory()
    child = ConditionFactory(parent=parent)
    parent.parent = child

    with pytest.raises(ValidationError, match="loop of subtypes"):
        parent.clean()


@pytest.mark.django_db
def test_it_shows_the_criteria_with_their_parameter_help_on_the_trial_form(admin_client_):
    from django.urls import reverse

    from tests.factories import EligibilityCriterionFactory

    criterion = EligibilityCriterionFactory()

    response = admin_client_.get(reverse("admin:trials_trial_change", args=[criterion.trial_id]))

    assert response.status_code == 200
    text = response.content.decode()
    assert "eGFR &lt; 30 mL/min/1.73 m²." in text
    assert "Score or lab threshold" in text


def test_it_holds_only_the_cohort_a_criterion_is_written_for_to_it():
    # Breakfree-1's lines rule is its SLE cohort's; the trial also takes other conditions.
    params = {"count": 2, "applies_to": ["sle"]}
    candidate = _candidate((INCLUDE, "failed_lines", params), conditions=(SLE, RA))
    one_line = [_line("Methotrexate")]

    lupus = _typed(_evaluate(_patient(conditions=(LN,), lines=one_line), candidate))
    arthritis = _typed(_evaluate(_patient(conditions=(RA,), lines=one_line), candidate))
    undiagnosed = _typed(_evaluate(_patient(conditions=(), lines=one_line), candidate))

    assert lupus.result == Result.FAIL
    assert (arthritis.result, arthritis.detail) == (Result.PASS, "Applies to sle only.")
    assert undiagnosed.result == Result.UNKNOWN
