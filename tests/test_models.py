import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, transaction
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from referrals.models import (
    CloseReason,
    Patient,
    PriorTreatmentLine,
    ReasonStopped,
    Referral,
    Stage,
)
from tests.factories import (
    PatientFactory,
    PriorTreatmentLineFactory,
    ProgramFactory,
    ReferralFactory,
    TherapyFactory,
    TrialFactory,
)
from trials.models import DrugClass, Trial

pytestmark = pytest.mark.django_db


def _line(patient, number, therapies, reason=ReasonStopped.INADEQUATE_RESPONSE):
    return PriorTreatmentLineFactory(
        patient=patient, line_number=number, therapies=therapies, reason_stopped=reason
    )


@pytest.fixture
def prednisone():
    return TherapyFactory(
        name="Prednisone", drug_class=DrugClass.GLUCOCORTICOID, counts_toward_failed_lines=False
    )


@pytest.fixture
def hydroxychloroquine():
    return TherapyFactory(
        name="Hydroxychloroquine",
        drug_class=DrugClass.ANTIMALARIAL,
        counts_toward_failed_lines=False,
    )


@pytest.fixture
def mycophenolate():
    return TherapyFactory(name="Mycophenolate mofetil", drug_class=DrugClass.CSDMARD)


def test_it_counts_lines_that_failed_with_a_counting_therapy(mycophenolate):
    patient = PatientFactory()
    _line(patient, 1, [mycophenolate], ReasonStopped.INADEQUATE_RESPONSE)
    _line(patient, 2, [mycophenolate], ReasonStopped.LOSS_OF_RESPONSE)
    _line(patient, 3, [mycophenolate], ReasonStopped.INTOLERANCE)
    _line(patient, 4, [mycophenolate], ReasonStopped.ADVERSE_EVENT)

    assert patient.failed_line_count == 4


def test_it_does_not_count_steroid_or_antimalarial_only_lines(
    prednisone, hydroxychloroquine, mycophenolate
):
    patient = PatientFactory()
    _line(patient, 1, [prednisone])
    _line(patient, 2, [hydroxychloroquine])
    _line(patient, 3, [prednisone, hydroxychloroquine])
    _line(patient, 4, [prednisone, mycophenolate])

    assert patient.failed_line_count == 1


@pytest.mark.parametrize(
    "reason",
    [
        ReasonStopped.ONGOING,
        ReasonStopped.REMISSION,
        ReasonStopped.PATIENT_CHOICE,
        ReasonStopped.UNKNOWN,
    ],
)
def test_it_does_not_count_lines_that_did_not_fail(reason, mycophenolate):
    patient = PatientFactory()
    _line(patient, 1, [mycophenolate], reason)

    assert patient.failed_line_count == 0


def test_it_refuses_a_line_that_ends_before_it_starts():
    line = PriorTreatmentLine(
        patient=PatientFactory(),
        line_number=1,
        start_date=datetime.date(2022, 5, 1),
        end_date=datetime.date(2022, 4, 1),
    )

    with pytest.raises(ValidationError) as error:
        line.full_clean()
    assert "end_date" in error.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        line.save()


def test_it_refuses_treatment_dates_in_the_future():
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    line = PriorTreatmentLine(patient=PatientFactory(), line_number=1, start_date=tomorrow)

    with pytest.raises(ValidationError) as error:
        line.full_clean()
    assert "start_date" in error.value.message_dict


def test_it_refuses_two_lines_with_the_same_number():
    patient = PatientFactory()
    _line(patient, 1, [])
    with pytest.raises(IntegrityError), transaction.atomic():
        PriorTreatmentLine.objects.create(patient=patient, line_number=1)


def test_it_derives_age_from_date_of_birth():
    today = timezone.localdate()
    born = today.replace(year=today.year - 40) - datetime.timedelta(days=1)
    assert PatientFactory.build(date_of_birth=born).age == 40
    assert PatientFactory.build(date_of_birth=None).age is None


def test_it_refuses_a_birth_date_in_the_future():
    patient = PatientFactory.build(
        primary_condition=None, date_of_birth=timezone.localdate() + datetime.timedelta(days=3)
    )
    with pytest.raises(ValidationError) as error:
        patient.full_clean()
    assert "date_of_birth" in error.value.message_dict


@pytest.mark.parametrize("nct_id", ["NCT1234567", "NCT123456789", "nct12345678", "ABC12345678"])
def test_it_refuses_malformed_nct_ids(nct_id):
    trial = TrialFactory.build(nct_id=nct_id)
    with pytest.raises(ValidationError) as error:
        trial.full_clean()
    assert "nct_id" in error.value.message_dict
    # PostgreSQL refuses an over-long value before the check constraint runs (DataError).
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        trial.save()
    assert not Trial.objects.filter(nct_id=nct_id).exists()


def test_it_accepts_a_well_formed_nct_id():
    trial = TrialFactory(nct_id="NCT05869955")
    trial.full_clean()


def test_it_refuses_an_age_range_upside_down():
    with pytest.raises(IntegrityError), transaction.atomic():
        ProgramFactory(min_age=70, max_age=18)


def test_it_requires_a_close_reason_exactly_when_closed():
    referral = ReferralFactory()
    referral.stage = Stage.CLOSED
    with pytest.raises(IntegrityError), transaction.atomic():
        referral.save()

    referral.refresh_from_db()
    referral.close_reason = CloseReason.DUPLICATE
    with pytest.raises(IntegrityError), transaction.atomic():
        referral.save()

    referral.stage = Stage.CLOSED
    referral.save()
    assert Referral.objects.get(pk=referral.pk).stage == Stage.CLOSED


def test_it_filters_open_referrals_for_a_coordinator(coordinator, coordinator2):
    mine = ReferralFactory(assigned_to=coordinator)
    ReferralFactory(assigned_to=coordinator, stage=Stage.CLOSED, close_reason=CloseReason.OTHER)
    ReferralFactory(assigned_to=coordinator2)

    assert list(Referral.objects.open().for_coordinator(coordinator)) == [mine]


def test_it_protects_clinical_history_from_cascading_deletes():
    line = PriorTreatmentLineFactory()
    ReferralFactory(patient=line.patient)
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        Patient.objects.filter(pk=line.patient.pk).delete()


class FailedLineCountInSql(HypothesisTestCase):
    """Lists count failed lines in SQL (`with_failed_line_count()`) by `counts_as_failed`."""

    @settings(max_examples=40, deadline=None)
    @given(
        patients=st.lists(
            st.lists(
                st.tuples(
                    st.sampled_from(ReasonStopped.values),
                    st.sets(st.sampled_from(["prednisone", "hydroxychloroquine", "rituximab"])),
                ),
                max_size=5,
            ),
            min_size=1,
            max_size=4,
        )
    )
    def test_it_counts_the_lines_the_rule_counts(self, patients):
        therapies = {
            "prednisone": TherapyFactory(
                drug_class=DrugClass.GLUCOCORTICOID, counts_toward_failed_lines=False
            ),
            "hydroxychloroquine": TherapyFactory(
                drug_class=DrugClass.ANTIMALARIAL, counts_toward_failed_lines=False
            ),
            "rituximab": TherapyFactory(drug_class=DrugClass.ANTI_CD20),
        }
        for lines in patients:
            referral = ReferralFactory()
            for number, (reason, names) in enumerate(lines, start=1):
                _line(referral.patient, number, [therapies[n] for n in names], reason)

        by_rule = {
            p.pk: p.failed_line_count
            for p in Patient.objects.prefetch_related("treatment_lines__therapies")
        }
        in_sql = Patient.objects.with_failed_line_count()
        leads = Referral.objects.with_failed_line_count()

        with self.assertNumQueries(2):  # the patients, the leads: nothing counted line by line
            assert {p.pk: p.failed_line_count for p in in_sql} == by_rule
            assert {r.patient_id: r.failed_line_count for r in leads} == by_rule
