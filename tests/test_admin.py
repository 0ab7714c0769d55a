"""The staff site: every model's list and form, for each role, with flat query counts."""

import datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from referrals.admin import ReferralAdmin
from referrals.models import Referral, ScreeningRecord, Task
from tests.factories import (
    ConditionFactory,
    HospitalFactory,
    PatientFactory,
    PriorTreatmentLineFactory,
    ProgramFactory,
    ReferralEventFactory,
    ReferralFactory,
    TherapyFactory,
    TrialFactory,
    UserFactory,
    referred_lead,
)
from trials import admin as trials_admin
from trials.admin import SEARCH_COUNT_CAP
from trials.models import Program

pytestmark = pytest.mark.django_db


def _screening_record():
    referral = ReferralFactory()
    return ScreeningRecord.objects.create(
        referral=referral,
        program=ProgramFactory(),
        candidate_name="Sheba CD19",
        verdict="eligible",
        criteria=[{"name": "Age", "result": "pass", "detail": "Age 40"}],
    )


def _task():
    return Task.objects.create(
        referral=ReferralFactory(),
        title="Call the rheumatologist",
        due_on=datetime.date(2026, 12, 1),
        assignee=UserFactory(),
    )


class _Batch:
    """Gives a plain function the `create_batch` of a factory."""

    def __init__(self, make):
        self.make = make

    def __call__(self):
        return self.make()

    def create_batch(self, count):
        return [self.make() for _ in range(count)]


# model: (factory making one row, may a coordinator add/change it)
MODELS = {
    "referrals.referral": (ReferralFactory, True),
    "referrals.patient": (PatientFactory, True),
    "referrals.priortreatmentline": (PriorTreatmentLineFactory, True),
    "referrals.referralevent": (ReferralEventFactory, False),
    "referrals.screeningrecord": (_Batch(_screening_record), False),
    "referrals.task": (_Batch(_task), True),
    "trials.condition": (ConditionFactory, False),
    "trials.therapy": (TherapyFactory, False),
    "trials.hospital": (HospitalFactory, False),
    "trials.program": (ProgramFactory, False),
    "trials.trial": (TrialFactory, False),
}


def _url(model: str, view: str, *args) -> str:
    app_label, model_name = model.split(".")
    return reverse(f"admin:{app_label}_{model_name}_{view}", args=args)


@pytest.mark.parametrize("model", MODELS)
def test_it_sends_anonymous_visitors_to_the_login_page(client, model):
    response = client.get(_url(model, "changelist"))

    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_it_refuses_inactive_staff(client, inactive_user):
    client.force_login(inactive_user)

    response = client.get(_url("referrals.referral", "changelist"))

    assert response.status_code == 302


@pytest.mark.parametrize("model", MODELS)
def test_it_shows_every_list_and_record_to_admins(admin_client, model):
    factory, _ = MODELS[model]
    obj = factory()

    assert admin_client.get(_url(model, "changelist")).status_code == 200
    assert admin_client.get(_url(model, "change", obj.pk)).status_code == 200
    add_status = admin_client.get(_url(model, "add")).status_code
    written_by_services_only = {"referrals.referralevent", "referrals.screeningrecord"}
    assert add_status == (403 if model in written_by_services_only else 200)


@pytest.mark.parametrize("model", MODELS)
def test_it_lets_coordinators_work_referrals_and_only_view_reference_data(
    coordinator_client, model
):
    factory, coordinator_edits = MODELS[model]
    obj = factory()

    assert coordinator_client.get(_url(model, "changelist")).status_code == 200
    change_page = coordinator_client.get(_url(model, "change", obj.pk))
    assert change_page.status_code == 200
    assert (b'name="_save"' in change_page.content) is coordinator_edits
    assert coordinator_client.get(_url(model, "add")).status_code == (
        200 if coordinator_edits else 403
    )


def test_it_refuses_coordinators_the_user_admin(coordinator_client, admin_client):
    assert coordinator_client.get(reverse("admin:auth_user_changelist")).status_code == 403
    assert admin_client.get(reverse("admin:auth_user_changelist")).status_code == 200


def test_it_refuses_a_coordinator_posting_a_program_change(coordinator_client):
    program = ProgramFactory(name="Original")

    response = coordinator_client.post(_url("trials.program", "change", program.pk), {"name": "X"})

    assert response.status_code == 403
    program.refresh_from_db()
    assert program.name == "Original"


def _rows_for(model: str, count: int) -> None:
    factory, _ = MODELS[model]
    if model == "referrals.referral":
        program = ProgramFactory()
        for _ in range(count):
            line = PriorTreatmentLineFactory()
            ReferralFactory(patient=line.patient, target_program=program)
        return
    if model == "referrals.patient":
        for _ in range(count):
            PriorTreatmentLineFactory(patient=PatientFactory())
        return
    if model == "trials.program":
        condition = ConditionFactory()
        for _ in range(count):
            ProgramFactory(conditions=[condition])
        return
    factory.create_batch(count)


def _words(response) -> str:
    return " ".join(response.text.split())


def _changelist_queries(client, model: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(_url(model, "changelist"))
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("model", MODELS)
def test_it_keeps_changelist_queries_flat_from_5_to_50_rows(admin_client, model):
    _rows_for(model, 5)
    with_5 = _changelist_queries(admin_client, model)
    _rows_for(model, 45)

    assert _changelist_queries(admin_client, model) == with_5


def test_it_lists_referrals_without_an_unbounded_full_count(admin_client):
    ReferralFactory.create_batch(3)

    with CaptureQueriesContext(connection) as queries:
        admin_client.get(_url("referrals.referral", "changelist"), {"q": "zzz-no-match"})

    counts = [
        q["sql"].upper()
        for q in queries
        if "COUNT(" in q["sql"].upper() and '"REFERRALS_REFERRAL"' in q["sql"].upper()
    ]
    # Only the search's own count, stopped at its cap, never one of the whole table.
    assert len(counts) == 1, counts
    assert " WHERE " in counts[0]
    assert f"LIMIT {SEARCH_COUNT_CAP + 1}" in counts[0]


def test_it_counts_a_search_up_to_its_cap_and_pages_through_it(admin_client, monkeypatch):
    monkeypatch.setattr(trials_admin, "SEARCH_COUNT_CAP", 4)
    monkeypatch.setattr(ReferralAdmin, "list_per_page", 2)
    for _ in range(5):
        ReferralFactory(patient=PatientFactory(last_name="Abergel"))
    ReferralFactory(patient=PatientFactory(last_name="Levi"))
    url = _url("referrals.referral", "changelist")

    first = admin_client.get(url, {"q": "Abergel"})
    last = admin_client.get(url, {"q": "Abergel", "p": 2})
    beyond = admin_client.get(url, {"q": "Abergel", "p": 3})
    unsearched = admin_client.get(url)

    assert "4+ results" in _words(first)  # the header
    assert "4+ referrals" in _words(first)  # beside the page links
    assert [len(page.context["cl"].result_list) for page in (first, last)] == [2, 2]
    assert beyond.status_code == 302 and "e=1" in beyond.url  # Django's "no such page"
    assert "6 referrals" in _words(unsearched)  # an unsearched list counts every row


def test_it_shows_an_exact_count_for_a_search_below_its_cap(admin_client):
    ReferralFactory.create_batch(3, patient__last_name="Abergel")

    response = admin_client.get(_url("referrals.referral", "changelist"), {"q": "Abergel"})

    assert "3 results" in _words(response)
    assert "3 referrals" in _words(response)


def test_it_keeps_the_search_and_filters_in_every_row_link(admin_client):
    wanted = ReferralFactory(patient=PatientFactory(last_name="Levinson"), source="phone")

    response = admin_client.get(
        _url("referrals.referral", "changelist"), {"q": "Levin", "source__exact": "phone"}
    )

    change = _url("referrals.referral", "change", wanted.pk)
    link = f'href="{change}?_changelist_filters=q%3DLevin%26source__exact%3Dphone"'
    assert response.text.count(link) == 2  # the id and the patient column


def test_it_finds_a_referral_by_patient_phone(admin_client):
    wanted = ReferralFactory(patient=PatientFactory(phone="+972501112233"))
    ReferralFactory.create_batch(3)

    response = admin_client.get(_url("referrals.referral", "changelist"), {"q": "501112233"})

    assert list(response.context["cl"].result_list) == [wanted]


def test_it_finds_a_trial_by_nct_id(admin_client):
    wanted = TrialFactory(nct_id="NCT05869955")
    TrialFactory.create_batch(3)

    response = admin_client.get(_url("trials.trial", "changelist"), {"q": "NCT05869955"})

    assert list(response.context["cl"].result_list) == [wanted]


def test_it_records_who_changed_a_referral_in_its_history(admin_client, admin_user):
    referral = ReferralFactory()

    response = admin_client.post(
        _url("referrals.referral", "change", referral.pk),
        _referral_form(referral, next_action="Call the rheumatologist"),
    )

    assert response.status_code == 302, response.content
    referral.refresh_from_db()
    assert referral.next_action == "Call the rheumatologist"
    assert referral.version == 2
    assert referral.history.first().history_user == admin_user


def test_it_keeps_each_referrals_history_its_own_with_one_manager_class():
    first, second = ReferralFactory(), ReferralFactory()
    second.next_action = "Ask for the biopsy report"
    second.save()

    # The manager's class is built once (carecrm.history), not on every `.history`.
    assert type(first.history) is type(second.history)
    assert [h.next_action for h in second.history.all()] == ["Ask for the biopsy report", ""]
    assert first.history.count() == 1
    assert Referral.history.count() == 3


def test_it_refuses_a_stale_save_and_keeps_the_other_coordinators_change(admin_client):
    referral = ReferralFactory()
    stale_form = _referral_form(referral, next_action="Mine")
    Referral.objects.filter(pk=referral.pk).update(next_action="Theirs", version=2)

    response = admin_client.post(_url("referrals.referral", "change", referral.pk), stale_form)

    assert response.status_code == 200
    assert b"Someone else saved this referral" in response.content
    referral.refresh_from_db()
    assert referral.next_action == "Theirs"


def test_it_writes_an_assignment_event_when_a_lead_is_reassigned(admin_client, coordinator):
    referral = ReferralFactory()

    admin_client.post(
        _url("referrals.referral", "change", referral.pk),
        _referral_form(referral, assigned_to=coordinator.pk),
    )

    event = referral.events.get(kind="assignment")
    assert coordinator.get_full_name() in event.body


def _referral_form(referral: Referral, **changes) -> dict:
    data = {
        "patient": referral.patient_id,
        "source": referral.source,
        "priority": referral.priority,
        "referring_physician_name": "",
        "referring_physician_contact": "",
        "assigned_to": referral.assigned_to_id or "",
        "next_action": referral.next_action,
        "next_action_due": "",
        "target_program": "",
        "target_trial": "",
        "version": referral.version,
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
        "events-MIN_NUM_FORMS": "0",
        "events-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return data


# -- "View on site": no way to probe for referral ids ------------------------------------------


def test_it_links_view_on_site_of_a_referral_to_its_lead_page(coordinator_client):
    referral = ReferralFactory()

    response = coordinator_client.get(_url("referrals.referral", "change", referral.pk))

    lead_url = reverse("referrals:lead", args=[referral.pk])
    assert f'<a href="{lead_url}"' in response.content.decode()
    assert b"View on site" in response.content
    assert b"/admin/r/" not in response.content


@pytest.mark.parametrize("role", ["liaison", "liaison_b", "coordinator", "admin_user"])
def test_it_answers_the_same_for_a_missing_referral_and_one_out_of_sight(
    client, request, role, hospital, coordinator
):
    """A lead the user may not see and an id that does not exist (999999) get the same answer
    from the admin's old shortcut and from the lead page. Hospital B's liaison may not see the
    lead referred to hospital A; no liaison may see the lead never referred."""
    sent_to_a = referred_lead(ProgramFactory(hospital=hospital), coordinator=coordinator)
    not_sent = ReferralFactory()
    client.force_login(request.getfixturevalue(role))
    content_type = ContentType.objects.get_for_model(Referral).pk

    shortcut = {
        pk: client.get(f"/admin/r/{content_type}/{pk}/").status_code
        for pk in (sent_to_a.pk, not_sent.pk, 999999)
    }
    lead_page = {
        pk: client.get(reverse("referrals:lead", args=[pk])).status_code
        for pk in (sent_to_a.pk, not_sent.pk, 999999)
    }

    assert set(shortcut.values()) == {404}
    if role.startswith("liaison"):  # the coordinators' lead page refuses liaisons, whatever id
        assert set(lead_page.values()) == {403}
    else:
        assert lead_page == {sent_to_a.pk: 200, not_sent.pk: 200, 999999: 404}


@pytest.mark.parametrize("key", ["\x00", "lupus", "12abc", "9" * 30])
def test_it_answers_a_nonsense_autocomplete_key_with_a_form_error(admin_client, key):
    response = admin_client.post(
        reverse("admin:trials_program_add"),
        {"name": "Anything", "hospital": key, "conditions": [key], "min_failed_lines": "2"},
    )

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Program.objects.exists()
