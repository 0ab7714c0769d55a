"""Patient search: the same matches as a substring search of names, phone and e-mail, answered
by a text index (pg_trgm on PostgreSQL, FTS5 trigram on SQLite)."""

from unittest.mock import patch

import pytest
from django.db import connection
from django.db.models import Max, Q
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from referrals import search
from referrals.models import Patient, Referral
from referrals.search import SEARCH_COLUMNS, ensure_sqlite_search_index
from referrals.services import patient_erase
from tests.factories import PatientFactory, ReferralFactory

pytestmark = pytest.mark.django_db

PATIENT_LIST = reverse("admin:referrals_patient_changelist")
REFERRAL_LIST = reverse("admin:referrals_referral_changelist")
REFERRAL_PATIENT = '"referrals_referral"."patient_id"'
PATIENT_ID = '"referrals_patient"."id"'


def _found(term: str) -> set[str]:
    return {str(patient) for patient in Patient.objects.matching(term)}


def test_it_finds_a_patient_by_part_of_a_name_phone_or_email():
    PatientFactory(first_name="Miriam", last_name="Katzenelson", phone="+972501112233", email="")
    PatientFactory(first_name="Yossi", last_name="Levi", phone="", email="y.levi@example.org")
    PatientFactory(first_name="Dana", last_name="Cohen", phone="+972549998877", email="")

    assert _found("katz") == {"Miriam Katzenelson"}
    assert _found("ELSON") == {"Miriam Katzenelson"}
    assert _found("0501112233") == set()
    assert _found("5011122") == {"Miriam Katzenelson"}
    assert _found("example.org") == {"Yossi Levi"}
    assert _found("levi yossi") == {"Yossi Levi"}
    assert _found("levi dana") == set()


def test_it_matches_words_shorter_than_a_trigram():
    PatientFactory(first_name="Li", last_name="Wu")
    PatientFactory(first_name="Alon", last_name="Bar")

    assert _found("wu") == {"Li Wu"}
    assert _found("li wu") == {"Li Wu"}
    assert _found("on ba") == {"Alon Bar"}


def test_it_finds_hebrew_and_quoted_phrases():
    PatientFactory(first_name="שרה", last_name="בן דוד")
    PatientFactory(first_name="דוד", last_name="כהן")

    assert _found("דוד") == {"שרה בן דוד", "דוד כהן"}
    assert _found('"בן דוד"') == {"שרה בן דוד"}


def test_it_forgets_an_erased_patients_name(admin_user):
    patient = PatientFactory(first_name="Tamar", last_name="Rosenblum", phone="+972501234567")

    patient_erase(patient=patient, by=admin_user, reason="Request by e-mail")

    assert _found("Rosenblum") == set()
    assert _found("501234567") == set()
    assert _found("Erased") == {f"Erased patient #{patient.pk}"}


def test_it_follows_renames_and_deletions():
    patient = PatientFactory(first_name="Noa", last_name="Shapiro")
    patient.last_name = "Shamir"
    patient.save()
    gone = PatientFactory(first_name="Eli", last_name="Shapiro")
    gone.delete()

    assert _found("Shapiro") == set()
    assert _found("Shamir") == {"Noa Shamir"}


def test_it_searches_the_patient_and_referral_lists_through_the_index(admin_client_):
    wanted = ReferralFactory(patient=PatientFactory(last_name="Katzenelson"))
    ReferralFactory(patient=PatientFactory(last_name="Levi"))

    referrals = admin_client_.get(REFERRAL_LIST, {"q": "katzen"})
    patients = admin_client_.get(PATIENT_LIST, {"q": "katzen"})

    assert list(referrals.context["cl"].result_list) == [wanted]
    assert list(patients.context["cl"].result_list) == [wanted.patient]
    assert "Katzenelson" in patients.text


def test_it_plans_the_search_on_the_index():
    PatientFactory.create_batch(3)
    sql, params = Patient.objects.matching("katz").order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
            assert "VIRTUAL TABLE INDEX" in plan, plan
        else:
            # Three patients are cheaper to scan; the point is that the index fits the query.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = " ".join(row[0] for row in cursor.fetchall())
            for column in SEARCH_COLUMNS:
                assert f"patient_{column}_trgm_idx" in plan, plan


def test_it_walks_the_list_for_a_common_word_and_sorts_the_matches_of_a_rare_one(monkeypatch):
    avis = PatientFactory.create_batch(40, first_name="Avi")
    danas = PatientFactory.create_batch(60, first_name="Dana")
    PatientFactory(first_name="Zohar")
    for patient in (*avis[:3], *danas[:3]):
        ReferralFactory(patient=patient)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE referrals_patient")
    # The number of patients is read as the highest id, which earlier tests' rolled-back rows
    # have moved on: set the threshold at 10 matches whatever it is.
    highest = Patient.objects.aggregate(highest=Max("pk"))["highest"]
    monkeypatch.setattr(search, "PAGE_ROWS", 1)
    monkeypatch.setattr(search, "WALK_FACTOR", 10 * 10 / highest)

    def walks(queryset, column: str) -> bool:
        sql = str(queryset.query)
        if connection.vendor == "sqlite":
            # Kept off the patient column's index (`+column`).
            return f"+{column}" in sql
        # The sorted plan fences the matches' subquery with a LIMIT; the walked one has none.
        return "LIMIT" not in sql

    # About 40 matches walk (40² ≥ 10²); about 1 is sorted.
    assert walks(Referral.objects.matching("avi"), REFERRAL_PATIENT)
    assert not walks(Referral.objects.matching("zohar"), REFERRAL_PATIENT)
    assert walks(Patient.objects.matching("avi"), PATIENT_ID)
    if connection.vendor == "postgresql":
        # Walking the patient list itself, the words filter its rows: no subquery of patients.
        assert "IN (SELECT" not in str(Patient.objects.matching("avi").query)
    substring = Q()
    for column in SEARCH_COLUMNS:
        substring |= Q(**{f"{column}__icontains": "avi"})
    assert (
        set(Patient.objects.matching("avi")) == set(Patient.objects.filter(substring)) >= set(avis)
    )
    assert set(Referral.objects.matching("avi")) == set(
        Referral.objects.filter(patient__in=Patient.objects.filter(substring))
    )


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the FTS5 index is SQLite's")
def test_it_rebuilds_the_sqlite_index_when_its_triggers_are_gone():
    PatientFactory(first_name="Avi", last_name="Peretz")
    with connection.cursor() as cursor:
        # What Django's SQLite schema editor does to a table it alters.
        cursor.execute("DROP TRIGGER referrals_patient_search_insert")
    PatientFactory(first_name="Rina", last_name="Peretz")
    assert _found("Peretz") == {"Avi Peretz"}

    assert ensure_sqlite_search_index(connection) is True

    assert _found("Peretz") == {"Avi Peretz", "Rina Peretz"}
    assert ensure_sqlite_search_index(connection) is False


def test_it_searches_the_queue_through_the_index(coordinator_client, coordinator):
    mine = ReferralFactory(assigned_to=coordinator, patient=PatientFactory(last_name="Abergel"))
    # Not "Levi": Faker's surnames for the coordinator include "Levine".
    ReferralFactory(assigned_to=coordinator, patient=PatientFactory(last_name="Zanzuri"))

    assert list(Referral.objects.matching("aberg")) == [mine]
    response = coordinator_client.get(reverse("referrals:queue"), {"q": "aberg"})
    assert "Abergel" in response.text
    assert "Zanzuri" not in response.text


_letters = st.text(alphabet="abkAtzé1 5@.", min_size=0, max_size=8)


class PropertyTests(HypothesisTestCase):
    @settings(max_examples=60, deadline=None)
    @given(
        names=st.lists(st.tuples(_letters, _letters, _letters, _letters), min_size=1, max_size=5),
        term=_letters,
    )
    def test_it_finds_exactly_what_a_substring_search_finds(self, names, term):
        for first, last, phone, email in names:
            Patient.objects.create(first_name=first, last_name=last, phone=phone, email=email)
        words = [word.casefold() for word in term.split()]

        expected = {
            patient.pk
            for patient in Patient.objects.all()
            if all(
                any(word in getattr(patient, column).casefold() for column in SEARCH_COLUMNS)
                for word in words
            )
        }

        # Both ways to a page of matches: walking the list (every word common) and sorting them.
        for page_rows in (0, 10**9):
            with patch.object(search, "PAGE_ROWS", page_rows):
                found = set(Patient.objects.matching(term).values_list("pk", flat=True))
            assert found == expected
