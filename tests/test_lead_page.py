"""The lead page as it opens: patient, lines, eligibility, timeline, in a fixed number of
queries."""

import datetime
import re

import pytest

from referrals.models import (
    FOLLOW_UP_MONTHS,
    FollowUpVisit,
    ReasonStopped,
    Stage,
    TreatmentOutcome,
)
from tests import pages
from tests.factories import (
    ClinicalFactFactory,
    ConditionFactory,
    EligibilityCriterionFactory,
    LeadDocumentFactory,
    PatientFactory,
    PriorTreatmentLineFactory,
    ProgramFactory,
    ReferralEventFactory,
    ReferralFactory,
    ScreeningRecordFactory,
    TaskFactory,
    TherapyFactory,
    TrialFactory,
)
from trials.models import DrugClass, ProgramStatus

pytestmark = pytest.mark.django_db

# Numeric facts, so the factory's value fits each; the newest of each kind is shown.
FACT_KINDS = ("egfr", "creatinine", "platelets", "sledai_2k", "alt")


@pytest.mark.parametrize("count", [5, 50])
def test_it_loads_the_lead_page_in_the_same_queries_for_5_or_50_lines_events_and_candidates(
    coordinator_client, coordinator, django_assert_num_queries, condition, count
):
    patient = PatientFactory(primary_condition=condition)
    patient.other_conditions.add(ConditionFactory())
    referral = ReferralFactory(patient=patient, assigned_to=coordinator)
    programs = [ProgramFactory(conditions=[condition]) for _ in range(count)]
    for number, program in enumerate(programs, start=1):
        PriorTreatmentLineFactory(patient=patient, line_number=number)
        ReferralEventFactory(referral=referral, author=coordinator)
        trial = TrialFactory(conditions=[condition])
        EligibilityCriterionFactory(trial=trial)
        EligibilityCriterionFactory(trial=None, program=program)
        ClinicalFactFactory(patient=patient, kind=FACT_KINDS[number % len(FACT_KINDS)])
        TaskFactory(referral=referral, assignee=coordinator, due_on=pages.today())
        ScreeningRecordFactory(referral=referral, program=program, recorded_by=coordinator)
        duplicate = ReferralFactory(patient=PatientFactory(), assigned_to=coordinator)
        referral.possible_duplicates.add(duplicate)
        LeadDocumentFactory(referral=referral, uploaded_by=coordinator)
    referral.stage = Stage.FOLLOW_UP
    referral.save()
    outcome = TreatmentOutcome.objects.create(
        referral=referral,
        infusion_date=pages.today() - datetime.timedelta(days=400),
        product="CD19",
    )
    for month in FOLLOW_UP_MONTHS:
        FollowUpVisit.objects.create(outcome=outcome, month=month, due_on=pages.today())

    # 1 session, 2 user, 3 user permissions, 4 group permissions,
    # 5 the lead (access check), 6 the access-log line, 7 the lead with patient, condition,
    # coordinator and target joined, 8 the patient's other conditions, 9 possible duplicates
    # (patients joined), 10 treatment lines, 11 their therapies, 12 tasks (assignee joined),
    # 13 screenings (recorder joined), 14 documents (uploader joined), 15 programs (hospital
    # joined), 16 their conditions, 17 trials, 18 their conditions, 19 the timeline (authors
    # joined), 20 therapies for the line form, 21 coordinators for the assign form,
    # 22 coordinators for the task form, 23 follow-up visits (the lead's CAR-T outcome is
    # joined to the lead in 7), 24 the patient's clinical facts (recorders joined), 25 the
    # lead's criterion overrides (deciders joined), 26 the condition hierarchy, 27 programs'
    # criteria, 28 trials' criteria, 29 trials' sites.
    with django_assert_num_queries(29):
        response = coordinator_client.get(pages.url("lead", referral.pk))

    assert len(re.findall(r"<tr>", pages.testid(response, "lines", "table"))) == count + 1
    assert pages.text(response).count("data-candidate=") == 2 * count
    assert pages.testid(response, "timeline", "ol").count("<li>") == count
    assert pages.testid(response, "duplicates", "table").count("Merge #") == count
    assert pages.testid(response, "documents", "table").count("discharge-letter-") == count
    assert pages.testid(response, "visits", "table").count("<tr data-month=") == 4
    assert pages.testid(response, "facts", "table").count("<tr data-fact=") == len(FACT_KINDS)
    assert len(re.findall(r'data-criterion="c\d', pages.text(response))) == 2 * count


def test_it_shows_the_patient_lines_eligibility_and_timeline(
    coordinator_client, coordinator, condition, program
):
    patient = PatientFactory(
        first_name="Dana",
        last_name="Levi",
        phone="+972501112233",
        primary_condition=condition,
        date_of_birth=datetime.date(1985, 6, 15),
    )
    steroid = TherapyFactory(
        name="Prednisone", drug_class=DrugClass.GLUCOCORTICOID, counts_toward_failed_lines=False
    )
    PriorTreatmentLineFactory(
        patient=patient, line_number=1, therapies=[TherapyFactory(name="Mycophenolate")]
    )
    PriorTreatmentLineFactory(
        patient=patient,
        line_number=2,
        therapies=[TherapyFactory(name="Rituximab")],
        reason_stopped=ReasonStopped.LOSS_OF_RESPONSE,
    )
    PriorTreatmentLineFactory(patient=patient, line_number=3, therapies=[steroid])
    referral = ReferralFactory(patient=patient, assigned_to=coordinator)
    trial = TrialFactory(conditions=[condition], short_name="CASTLE")
    for_ra = ProgramFactory(conditions=[ConditionFactory(name="Rheumatoid arthritis")])
    paused = ProgramFactory(conditions=[condition], status=ProgramStatus.PAUSED)
    ReferralEventFactory(referral=referral, author=coordinator, body="Spoke with her doctor.")

    response = coordinator_client.get(pages.url("lead", referral.pk))

    today = pages.today()
    age = today.year - 1985 - ((today.month, today.day) < (6, 15))
    summary = pages.testid(response, "patient-summary", "dl")
    assert "Dana Levi" in summary
    assert f"<dd>{age}</dd>" in summary
    assert "Systemic lupus erythematosus" in summary
    assert "+972501112233" in summary
    assert '<dd data-testid="failed-lines">2</dd>' in summary
    lines = pages.testid(response, "lines", "table")
    for regimen in ("Mycophenolate", "Rituximab", "Prednisone"):
        assert regimen in lines
    eligible = pages.testid(response, "eligibility", "table")
    ineligible = pages.testid(response, "ineligible", "details")
    assert f'data-candidate="program-{program.pk}"' in eligible
    assert f'data-candidate="trial-{trial.pk}"' in eligible
    assert "2 ineligible programs and trials" in ineligible
    # Their rows are drawn when the list is opened (or inline, without JavaScript).
    opened = coordinator_client.get(pages.url("lead_ineligible", referral.pk)).text
    inline = pages.testid(
        coordinator_client.get(pages.url("lead", referral.pk) + "?ineligible=open"),
        "ineligible",
        "details",
    )
    for candidate in (for_ra, paused):
        assert f'data-candidate="program-{candidate.pk}"' not in eligible
        assert f'data-candidate="program-{candidate.pk}"' in opened
        assert f'data-candidate="program-{candidate.pk}"' in inline
    assert "Condition not covered" not in opened
    assert "other criteria passed." in opened
    assert "Spoke with her doctor." in pages.timeline(response)
