"""After treatment: the infusion and its outcome, the follow-up visits and their tasks.

Bad input (grades outside 0–4, dates in the future or before the infusion, a lead not yet
treated) is refused with a clear message and nothing is written.
"""

import datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from referrals import selectors, services
from referrals.models import (
    EventKind,
    FollowUpVisit,
    ReferralEvent,
    Stage,
    Task,
    TreatmentOutcome,
    add_months,
)
from tests.factories import ReferralFactory

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


def _today() -> datetime.date:
    return timezone.localdate()


@pytest.fixture
def treated(coordinator):
    return ReferralFactory(stage=Stage.TREATED, assigned_to=coordinator)


def _record(referral, by, **changes):
    values = {
        "infusion_date": _today() - 40 * DAY,
        "product": "CD19 CAR-T (point of care)",
        "crs_grade": 1,
        "icans_grade": 0,
        "infections": "",
        "relapse": False,
        "relapse_date": None,
    }
    values.update(changes)
    return services.treatment_outcome_save(referral=referral, by=by, **values)


def _written() -> tuple:
    return (
        TreatmentOutcome.objects.count(),
        FollowUpVisit.objects.count(),
        Task.objects.count(),
        ReferralEvent.objects.count(),
        list(TreatmentOutcome.objects.values_list("crs_grade", "infusion_date", "relapse_date")),
        list(FollowUpVisit.objects.values_list("done_on", "due_on", "sledai_2k")),
    )


def test_it_adds_calendar_months_keeping_the_day_or_the_months_last():
    assert add_months(datetime.date(2026, 1, 31), 1) == datetime.date(2026, 2, 28)
    assert add_months(datetime.date(2025, 11, 30), 3) == datetime.date(2026, 2, 28)
    assert add_months(datetime.date(2024, 2, 29), 12) == datetime.date(2025, 2, 28)
    assert add_months(datetime.date(2026, 5, 15), 6) == datetime.date(2026, 11, 15)


def test_it_records_the_infusion_with_four_visits_and_a_task_for_each(treated, coordinator):
    infusion = _today() - 40 * DAY

    outcome = _record(treated, coordinator, infusion_date=infusion)

    visits = list(outcome.visits.order_by("month"))
    assert [(v.month, v.due_on) for v in visits] == [
        (m, add_months(infusion, m)) for m in (1, 3, 6, 12)
    ]
    tasks = list(Task.objects.filter(referral=treated).order_by("due_on"))
    assert [t.due_on for t in tasks] == [v.due_on for v in visits]
    assert {t.assignee for t in tasks} == {coordinator}
    assert [v.task for v in visits] == tasks
    event = treated.events.get(kind=EventKind.OUTCOME)
    assert "Infusion recorded: CD19 CAR-T (point of care)" in event.body
    assert "CRS grade 1, ICANS grade 0" in event.body


def test_it_gives_the_tasks_to_whoever_records_an_unassigned_lead(coordinator2):
    referral = ReferralFactory(stage=Stage.FOLLOW_UP, assigned_to=None)

    _record(referral, coordinator2)

    assert set(Task.objects.values_list("assignee__username", flat=True)) == {"coordinator2"}


def test_it_puts_the_due_visit_in_the_coordinators_queue(coordinator_client, treated, coordinator):
    _record(treated, coordinator, infusion_date=_today() - 35 * DAY)  # 1-month visit overdue

    response = coordinator_client.get(reverse("referrals:queue"))

    assert "1-month follow-up after CAR-T" in response.text
    assert response.text.count("follow-up after CAR-T") == 4


@pytest.mark.parametrize(
    "stage", [Stage.NEW, Stage.SCREENING, Stage.REFERRED, Stage.SCHEDULED, Stage.CLOSED]
)
def test_it_refuses_an_outcome_before_the_lead_is_treated(coordinator, stage):
    fields = {"close_reason": "other"} if stage == Stage.CLOSED else {}
    referral = ReferralFactory(stage=stage, assigned_to=coordinator, **fields)
    before = _written()

    with pytest.raises(services.ReferralError, match="once the lead is treated"):
        _record(referral, coordinator)

    assert _written() == before


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"crs_grade": 5}, "The CRS grade must be 0 to 4"),
        ({"crs_grade": -1}, "The CRS grade must be 0 to 4"),
        ({"icans_grade": 7}, "The ICANS grade must be 0 to 4"),
        ({"infusion_date": None}, "Give the infusion date."),
        ({"infusion_date": datetime.date.today() + 2 * DAY}, "is in the future"),
        ({"product": "  "}, "Say which CAR-T product was infused."),
        ({"relapse": True}, "Give the date of the relapse."),
        ({"relapse_date": datetime.date.today() - DAY}, "only recorded with a relapse"),
        (
            {"relapse": True, "relapse_date": datetime.date.today() - 60 * DAY},
            "is before the infusion",
        ),
        ({"relapse": True, "relapse_date": datetime.date.today() + DAY}, "is in the future"),
    ],
)
def test_it_refuses_a_bad_outcome_and_writes_nothing(treated, coordinator, changes, message):
    before = _written()

    with pytest.raises(services.ReferralError, match=message):
        _record(treated, coordinator, **changes)

    assert _written() == before


def test_it_refuses_a_bad_correction_and_keeps_the_outcome(treated, coordinator):
    _record(treated, coordinator, crs_grade=2)
    before = _written()

    with pytest.raises(services.ReferralError, match="CRS grade must be 0 to 4"):
        _record(treated, coordinator, crs_grade=9)

    assert _written() == before


def test_it_moves_the_open_visits_and_tasks_with_a_corrected_infusion_date(treated, coordinator):
    outcome = _record(treated, coordinator, infusion_date=_today() - 60 * DAY)
    first = outcome.visits.get(month=1)
    services.follow_up_visit_record(visit=first, done_on=_today() - 20 * DAY, by=coordinator)
    corrected = _today() - 50 * DAY

    _record(treated, coordinator, infusion_date=corrected, relapse=False)

    visits = {v.month: v for v in FollowUpVisit.objects.select_related("task")}
    assert visits[1].due_on == add_months(_today() - 60 * DAY, 1)  # done: kept as it was
    for month in (3, 6, 12):
        assert visits[month].due_on == add_months(corrected, month)
        assert visits[month].task.due_on == add_months(corrected, month)


def test_it_refuses_an_infusion_date_after_a_visit_already_done(treated, coordinator):
    outcome = _record(treated, coordinator, infusion_date=_today() - 60 * DAY)
    services.follow_up_visit_record(
        visit=outcome.visits.get(month=1), done_on=_today() - 30 * DAY, by=coordinator
    )
    before = _written()

    with pytest.raises(services.ReferralError, match="1-month visit was done on"):
        _record(treated, coordinator, infusion_date=_today() - 10 * DAY)

    assert _written() == before


def test_it_records_a_visit_and_finishes_its_task(treated, coordinator):
    outcome = _record(treated, coordinator, infusion_date=_today() - 100 * DAY)
    visit = outcome.visits.get(month=3)

    services.follow_up_visit_record(
        visit=visit,
        done_on=_today() - 5 * DAY,
        sledai_2k=2,
        das28=Decimal("2.10"),
        drug_free_remission=True,
        notes="Complement normal.",
        by=coordinator,
    )

    visit.refresh_from_db()
    assert (visit.done_on, visit.sledai_2k, visit.drug_free_remission) == (
        _today() - 5 * DAY,
        2,
        True,
    )
    assert visit.task.is_done
    assert Task.objects.open().count() == 3
    event = treated.events.filter(kind=EventKind.FOLLOW_UP).get()
    assert "3-month follow-up recorded" in event.body
    assert "SLEDAI-2K 2, DAS28 2.10; drug-free remission: yes. Task done." in event.body


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"done_on": None}, "Give the date of the visit."),
        ({"done_on": datetime.date.today() + DAY}, "is in the future"),
        ({"done_on": datetime.date.today() - 200 * DAY}, "is before the infusion"),
        ({"sledai_2k": 106}, "SLEDAI-2K is scored 0 to 105"),
        ({"das28": Decimal("10.5")}, "DAS28 is scored 0 to 10"),
        ({"mrss": 52}, "mRSS is scored 0 to 51"),
        ({"mg_adl": -1}, "MG-ADL is scored 0 to 24"),
    ],
)
def test_it_refuses_a_bad_visit_and_writes_nothing(treated, coordinator, changes, message):
    outcome = _record(treated, coordinator, infusion_date=_today() - 100 * DAY)
    visit = outcome.visits.get(month=3)
    values = {"done_on": _today() - DAY, **changes}
    before = _written()

    with pytest.raises(services.ReferralError, match=message):
        services.follow_up_visit_record(visit=visit, by=coordinator, **values)

    assert _written() == before
    assert not Task.objects.get(pk=visit.task_id).is_done


def test_it_refuses_a_visit_once_the_lead_is_no_longer_treated(treated, coordinator):
    outcome = _record(treated, coordinator)
    treated.stage, treated.close_reason = Stage.CLOSED, "deceased"
    treated.save()

    with pytest.raises(services.ReferralError, match="once the lead is treated"):
        services.follow_up_visit_record(
            visit=outcome.visits.get(month=1), done_on=_today(), by=coordinator
        )


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"crs_grade": 5}, "crs_grade_0_to_4"),
        ({"icans_grade": 5}, "icans_grade_0_to_4"),
        ({"relapse": True}, "relapse_has_date"),
        ({"relapse": True, "relapse_date": datetime.date(2020, 1, 1)}, "relapse_after_infusion"),
    ],
)
def test_it_keeps_the_rules_in_the_database_too(treated, fields, constraint):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        TreatmentOutcome.objects.create(
            referral=treated, infusion_date=datetime.date(2026, 1, 1), product="X", **fields
        )


def test_it_allows_only_the_four_follow_up_months_in_the_database(treated, coordinator):
    outcome = _record(treated, coordinator)

    with pytest.raises(IntegrityError, match="month_1_3_6_12"), transaction.atomic():
        FollowUpVisit.objects.create(outcome=outcome, month=2, due_on=_today())


# --- on the lead page --------------------------------------------------------------------


def _post_outcome(client, referral, **changes):
    data = {
        "infusion_date": str(_today() - 40 * DAY),
        "product": "CD19 CAR-T",
        "crs_grade": "2",
        "icans_grade": "0",
        "infections": "",
        "relapse_date": "",
        **changes,
    }
    return client.post(reverse("referrals:lead_outcome", args=[referral.pk]), data)


def test_it_offers_the_infusion_form_only_once_the_lead_is_treated(coordinator_client, coordinator):
    screening = ReferralFactory(stage=Stage.SCREENING, assigned_to=coordinator)
    treated = ReferralFactory(stage=Stage.TREATED, assigned_to=coordinator)

    before = coordinator_client.get(reverse("referrals:lead", args=[screening.pk]))
    after = coordinator_client.get(reverse("referrals:lead", args=[treated.pk]))

    assert 'data-testid="outcome-form"' not in before.text
    assert 'data-testid="outcome-form"' in after.text
    assert "Record infusion" in after.text


def test_it_records_the_infusion_and_a_visit_from_the_lead_page(
    coordinator_client, treated, coordinator
):
    response = _post_outcome(coordinator_client, treated)

    assert response.status_code == 302
    outcome = TreatmentOutcome.objects.get(referral=treated)
    assert outcome.crs_grade == 2
    visit = outcome.visits.get(month=1)
    page = coordinator_client.get(reverse("referrals:lead", args=[treated.pk]), {"visit": visit.pk})
    assert 'data-testid="visits"' in page.text
    assert 'data-testid="visit-form"' in page.text

    response = coordinator_client.post(
        reverse("referrals:lead_visit", args=[treated.pk, visit.pk]),
        {
            "done_on": str(_today() - 8 * DAY),
            "sledai_2k": "4",
            "das28": "",
            "mrss": "",
            "mg_adl": "",
            "drug_free_remission": "yes",
            "notes": "Off all immunosuppression.",
        },
    )

    assert response.status_code == 302
    visit.refresh_from_db()
    assert (visit.sledai_2k, visit.drug_free_remission) == (4, True)
    page = coordinator_client.get(reverse("referrals:lead", args=[treated.pk]))
    assert "SLEDAI-2K 4" in page.text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"crs_grade": "5"}, "The CRS grade must be 0 to 4 (ASTCT grading); 5 is not a grade."),
        ({"icans_grade": "-1"}, "The ICANS grade must be 0 to 4"),
        ({"infusion_date": str(datetime.date.today() + DAY)}, "is in the future"),
        (
            {"relapse": "on", "relapse_date": str(datetime.date.today() - 90 * DAY)},
            "is before the infusion",
        ),
    ],
)
def test_it_explains_a_refused_outcome_on_the_page_and_writes_nothing(
    coordinator_client, treated, changes, message
):
    before = _written()

    response = _post_outcome(coordinator_client, treated, **changes)

    assert response.status_code == 200
    assert message in response.text
    assert _written() == before


def test_it_explains_a_refused_visit_on_the_page_and_writes_nothing(
    coordinator_client, treated, coordinator
):
    outcome = _record(treated, coordinator, infusion_date=_today() - 40 * DAY)
    visit = outcome.visits.get(month=1)
    before = _written()

    response = coordinator_client.post(
        reverse("referrals:lead_visit", args=[treated.pk, visit.pk]),
        {"done_on": str(_today() - 50 * DAY), "sledai_2k": "3"},
    )

    assert response.status_code == 200
    assert "is before the infusion" in response.text
    assert 'data-testid="visit-form"' in response.text
    assert _written() == before


def test_it_answers_404_for_a_visit_of_another_lead(coordinator_client, treated, coordinator):
    other = ReferralFactory(stage=Stage.TREATED, assigned_to=coordinator)
    visit = _record(other, coordinator).visits.get(month=1)

    response = coordinator_client.post(
        reverse("referrals:lead_visit", args=[treated.pk, visit.pk]), {"done_on": str(_today())}
    )

    assert response.status_code == 404


def test_it_exports_and_erases_the_follow_up_with_the_patient(treated, coordinator, admin_user):
    outcome = _record(treated, coordinator, infections="CMV reactivation day 20")
    services.follow_up_visit_record(
        visit=outcome.visits.get(month=1),
        done_on=_today() - DAY,
        notes="Lives with her sister in Haifa.",
        by=coordinator,
    )

    data = selectors.patient_data_export(treated.patient_id)
    exported = data["referrals"][0]["treatment_outcome"]
    assert exported["infections"] == "CMV reactivation day 20"
    assert exported["follow_up_visits"][0]["notes"] == "Lives with her sister in Haifa."

    services.patient_erase(patient=treated.patient, by=admin_user, reason="Request")

    visit = FollowUpVisit.objects.get(month=1)
    assert visit.notes == ""
    assert TreatmentOutcome.objects.get().crs_grade == 1  # kept for the statistics


# --- the dashboard's outcomes panel ------------------------------------------------------


def _treated_patient(coordinator, *, crs, six_months=None, patient=None, one_month=None):
    """An infusion 200 days ago with `crs`; `six_months` / `one_month`: remission at that visit
    (True/False, "unknown" for a visit done without assessing it, None for not done)."""
    fields = {"patient": patient} if patient else {}
    referral = ReferralFactory(stage=Stage.FOLLOW_UP, assigned_to=coordinator, **fields)
    outcome = _record(referral, coordinator, infusion_date=_today() - 200 * DAY, crs_grade=crs)
    for month, remission in ((6, six_months), (1, one_month)):
        if remission is not None:
            services.follow_up_visit_record(
                visit=outcome.visits.get(month=month),
                done_on=_today() - (200 - 30 * month) * DAY,
                drug_free_remission=None if remission == "unknown" else remission,
                by=coordinator,
            )
    return referral


def test_it_counts_the_outcomes_on_a_known_data_set(coordinator):
    first = _treated_patient(coordinator, crs=0, six_months=True)
    _treated_patient(coordinator, crs=2, six_months=False)
    _treated_patient(coordinator, crs=3)  # 6-month visit not done yet
    _treated_patient(coordinator, crs=None, six_months="unknown")  # neither assessed
    _treated_patient(coordinator, crs=1, six_months=True, one_month=False)
    _treated_patient(coordinator, crs=1, patient=first.patient)  # treated a second time
    ReferralFactory(stage=Stage.TREATED)  # treated, infusion not recorded yet

    figures = selectors.dashboard_outcomes()

    assert figures.patients_treated == 5
    assert figures.infusions == 6
    assert (figures.crs_grade_2_plus, figures.crs_assessed) == (2, 5)
    assert figures.crs_grade_2_plus_rate == pytest.approx(0.4)
    assert (figures.six_month_remission, figures.six_month_assessed) == (2, 3)
    assert figures.six_month_remission_rate == pytest.approx(2 / 3)


def test_it_has_no_rates_before_anything_is_assessed(coordinator):
    _treated_patient(coordinator, crs=None)

    figures = selectors.dashboard_outcomes()

    assert figures.patients_treated == 1
    assert figures.crs_grade_2_plus_rate is None
    assert figures.six_month_remission_rate is None


def test_it_shows_the_outcomes_panel_on_the_dashboard(admin_client, coordinator):
    _treated_patient(coordinator, crs=2, six_months=True)
    _treated_patient(coordinator, crs=0, six_months=True)
    _treated_patient(coordinator, crs=1, six_months=False)
    _treated_patient(coordinator, crs=0)

    response = admin_client.get(reverse("admin:index"))

    text = response.text
    assert 'data-testid="outcome-patients_treated">4<' in text
    assert 'data-testid="outcome-remission">67 %<' in text
    assert "2 of 3 assessed" in text
    assert 'data-testid="outcome-crs">25 %<' in text
    assert "1 of 4 graded" in text
