"""Closed-loop referrals: the hospital liaison's isolation, actions, packet and dashboard.

Two hospitals, a liaison each ("liaison" at Sheba, "liaison_b" at Hadassah). A liaison sees only
the referrals sent to their hospital and answers them through the same pipeline services as the
coordinators; every answer lands on the lead's timeline and tells the coordinator.
"""

import datetime
import itertools

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from referrals import access, pipeline, selectors, services, tasks
from referrals.models import (
    AccessLog,
    CloseReason,
    EventKind,
    HospitalDeclineReason,
    HospitalSide,
    Patient,
    Referral,
    ReferralEvent,
    ReferralSnapshot,
    Stage,
    Task,
)
from referrals.pipeline import LIAISON_MOVES, Role, TransitionFacts, transition_problems
from tests.factories import (
    PriorTreatmentLineFactory,
    ProgramFactory,
    ReferralFactory,
    TherapyFactory,
    TrialFactory,
    UserFactory,
    make_liaison,
    pdf_bytes,
    referred_lead,
)

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
DAY = datetime.timedelta(days=1)
ACTIONS = ["receipt", "request_documents", "accept", "decline", "dates", "treated"]


@pytest.fixture
def program(hospital):
    return ProgramFactory(hospital=hospital, name="Point-of-care CD19")


@pytest.fixture
def program_b(hospital_b):
    return ProgramFactory(hospital=hospital_b, name="BCMA phase 1")


@pytest.fixture
def lead(program, coordinator):
    return referred_lead(program, coordinator=coordinator, first_name="Noa", last_name="Cohen")


@pytest.fixture
def lead_b(program_b, coordinator):
    return referred_lead(
        program_b, coordinator=coordinator, first_name="Eitan", last_name="Mizrahi"
    )


@pytest.fixture
def private_root(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path
    return tmp_path


def _url(name: str, referral: Referral, *args) -> str:
    return reverse(f"hospital:{name}", args=[referral.pk, *args])


def _state(referral: Referral) -> tuple:
    referral.refresh_from_db()
    return (
        referral.stage,
        referral.version,
        referral.receipt_confirmed_at,
        referral.consult_date,
        referral.events.count(),
        Task.objects.filter(referral=referral).count(),
    )


def _notifications() -> list[dict]:
    return [
        result.args_kwargs["kwargs"]
        for result in DBTaskResult.objects.filter(
            task_path="referrals.tasks.hospital_update_notify"
        ).order_by("enqueued_at", "id")
    ]


def _listed(response) -> list[int]:
    return [row["lead"].pk for row in response.context["rows"]]


def _accepted(referral: Referral, liaison) -> Referral:
    return services.referral_transition(
        referral=referral, to_stage=Stage.ACCEPTED, by=liaison, expected_version=referral.version
    )


# --- isolation -------------------------------------------------------------------------------


def test_it_lists_only_the_referrals_sent_to_the_liaisons_hospital(
    liaison_client, lead, lead_b, program, coordinator
):
    never_referred = ReferralFactory(
        stage=Stage.ELIGIBLE, target_program=program, assigned_to=coordinator
    )
    withdrawn = referred_lead(program, coordinator=coordinator)
    services.referral_transition(
        referral=withdrawn, to_stage=Stage.ELIGIBLE, by=coordinator, expected_version=2
    )
    trial_lead = ReferralFactory(stage=Stage.REFERRED, target_trial=TrialFactory())

    response = liaison_client.get(reverse("hospital:referrals"), {"show": "all"})

    assert response.status_code == 200
    assert _listed(response) == [lead.pk]
    assert "Noa Cohen" in response.text
    for hidden in (lead_b, never_referred, withdrawn, trial_lead):
        assert f'data-referral="{hidden.pk}"' not in response.text
    assert "Mizrahi" not in response.text


def test_it_answers_404_for_another_hospitals_referral_on_every_page_and_action(
    client, liaison, liaison_b, lead, lead_b, private_root, django_capture_on_commit_callbacks
):
    document = services.document_upload(
        referral=lead_b,
        uploaded_file=SimpleUploadedFile("letter.pdf", pdf_bytes()),
        kind="medical_record",
        by=lead_b.assigned_to,
    )
    client.force_login(liaison)
    before = _state(lead_b)

    assert client.get(_url("referral", lead_b)).status_code == 404
    assert client.get(_url("document", lead_b, document.pk)).status_code == 404
    # Another lead's document through one's own referral's URL is no way round it either.
    assert client.get(_url("document", lead, document.pk)).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        for action in ACTIONS:
            response = client.post(
                _url(action, lead_b),
                {"version": lead_b.version, "message": "x", "reason": "no_capacity"},
            )
            assert response.status_code == 404, action

    assert _state(lead_b) == before
    assert _notifications() == []
    client.force_login(liaison_b)
    assert client.get(_url("referral", lead_b)).status_code == 200


def test_it_answers_404_for_a_lead_that_was_never_referred_or_does_not_exist(
    liaison_client, program, coordinator
):
    targeted = ReferralFactory(
        stage=Stage.ELIGIBLE, target_program=program, assigned_to=coordinator
    )

    assert liaison_client.get(_url("referral", targeted)).status_code == 404
    assert liaison_client.get(reverse("hospital:referral", args=[99_999])).status_code == 404


def test_it_finds_nothing_of_another_hospital_by_searching(liaison_client, lead, lead_b):
    def search(term: str) -> list[int]:
        return _listed(liaison_client.get(reverse("hospital:referrals"), {"q": term}))

    assert search("Cohen") == [lead.pk]
    assert search("Mizrahi") == []
    assert search(f"#{lead_b.pk}") == []
    assert search(lead_b.patient.phone) == []
    # The staff site's own search knows no model the liaison may see.
    response = liaison_client.get(reverse("admin:search"), {"s": "Mizrahi"})
    assert response.status_code == 200
    assert "Mizrahi" not in response.text
    assert "Cohen" not in liaison_client.get(reverse("admin:search"), {"s": "Cohen"}).text


def test_it_refuses_a_liaison_the_admin_lists_exports_and_coordinator_pages(
    liaison_client, lead, lead_b
):
    refused = [
        reverse("admin:referrals_referral_changelist"),
        reverse("admin:referrals_referral_export_csv"),
        reverse("admin:referrals_referral_export_xlsx"),
        reverse("admin:referrals_screeningrecord_export_csv"),
        reverse("admin:referrals_referral_change", args=[lead.pk]),
        reverse("admin:referrals_patient_change", args=[lead.patient_id]),
        reverse("admin:referrals_patient_export_data", args=[lead.patient_id]),
        reverse("admin:trials_trial_changelist"),
        reverse("admin:auth_user_changelist"),
        reverse("referrals:queue"),
        reverse("referrals:board"),
        reverse("referrals:lead", args=[lead.pk]),
        reverse("referrals:lead", args=[lead_b.pk]),
    ]

    assert {url: liaison_client.get(url).status_code for url in refused} == dict.fromkeys(
        refused, 403
    )


def test_it_scopes_the_admin_and_the_lead_helper_to_the_hospital_even_with_extra_rights(
    client, liaison, lead, lead_b
):
    """A liaison wrongly given `view_referral` still sees only their hospital's referrals, and the
    coordinators' pages still refuse them: scope is decided in one place."""
    liaison.user_permissions.add(
        Permission.objects.get(content_type__app_label="referrals", codename="view_referral")
    )
    client.force_login(liaison)

    changelist = client.get(reverse("admin:referrals_referral_changelist"))
    export = client.get(reverse("admin:referrals_referral_export_csv"))

    assert changelist.status_code == 200
    assert [r.pk for r in changelist.context["cl"].result_list] == [lead.pk]
    other = client.get(reverse("admin:referrals_referral_change", args=[lead_b.pk]))
    assert (other.status_code, other["Location"]) == (302, reverse("admin:index"))  # "no such"
    assert b"".join(export.streaming_content).decode("utf-8-sig").count("\n") == 2
    assert client.get(reverse("referrals:lead", args=[lead.pk])).status_code == 403
    assert list(access.referrals_visible_to(liaison)) == [lead]


def test_it_limits_a_liaison_to_the_programs_chosen_for_them(
    client, hospital, program, coordinator, lead
):
    other_program = ProgramFactory(hospital=hospital, name="Second CD19")
    other = referred_lead(other_program, coordinator=coordinator)
    cd19_only = make_liaison("liaison-cd19", hospital, programs=[program])

    assert list(access.referrals_visible_to(cd19_only)) == [lead]
    client.force_login(cd19_only)
    assert client.get(_url("referral", other)).status_code == 404


def test_it_hides_a_lead_whose_target_changed_after_it_was_sent(
    liaison, liaison_b, lead, program_b, coordinator
):
    lead.target_program = program_b
    services.referral_update(
        referral=lead, changed_fields=["target_program"], expected_version=2, by=coordinator
    )

    assert list(access.referrals_visible_to(liaison)) == []
    assert list(access.referrals_visible_to(liaison_b)) == []  # never sent to hospital B


def test_it_shows_nothing_to_users_without_a_role_or_a_profile(client, hospital, lead):
    nobody = UserFactory(username="nobody")
    orphan = UserFactory(username="orphan", role="Hospital liaison")  # no profile yet

    assert list(access.referrals_visible_to(nobody)) == []
    assert list(access.referrals_visible_to(orphan)) == []
    client.force_login(orphan)
    assert client.get(reverse("hospital:referrals")).status_code == 403


def test_it_refuses_the_liaison_pages_to_coordinators_and_admins(
    client, coordinator, admin_user, lead
):
    for user in (coordinator, admin_user):
        client.force_login(user)
        assert client.get(reverse("hospital:referrals")).status_code == 403
        assert client.get(_url("referral", lead)).status_code == 403


# --- the pipeline: who may make which move -----------------------------------------------------

MET = TransitionFacts(
    has_eligible_screening=True,
    target_label="Sheba CD19",
    target_is_open=True,
    infusion_date_set=True,
    close_reason=CloseReason.DECLINED_BY_HOSPITAL,
    hospital_decline_reason=HospitalDeclineReason.NO_CAPACITY,
    infusion_date=TODAY - DAY,
)


@pytest.mark.parametrize(
    ("source", "target"),
    [(a, b) for a, b in itertools.product(Stage, Stage) if a != b],
)
def test_it_lets_a_liaison_make_only_the_hospitals_moves(source, target):
    problems = transition_problems(source, target, MET, Role.LIAISON)

    if (source, target) in LIAISON_MOVES:
        assert problems == []
    else:
        assert problems, f"{source} → {target} should be refused to a liaison"


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        (TransitionFacts(close_reason=CloseReason.OTHER), "only by declining"),
        (TransitionFacts(close_reason=CloseReason.DECLINED_BY_HOSPITAL), "Choose why"),
        (
            TransitionFacts(
                close_reason=CloseReason.DECLINED_BY_HOSPITAL,
                hospital_decline_reason=HospitalDeclineReason.OTHER,
            ),
            "needs a short explanation",
        ),
    ],
)
def test_it_refuses_a_hospital_decline_without_a_reason_from_the_list(facts, message):
    [problem] = transition_problems(Stage.REFERRED, Stage.CLOSED, facts, Role.LIAISON)

    assert message in problem


@pytest.mark.parametrize(
    ("stage", "dates", "message"),
    [
        (Stage.REFERRED, {"consult": TODAY, "apheresis": TODAY}, "once the referral is accepted"),
        (Stage.ACCEPTED, {"infusion": TODAY}, "consult date before the infusion"),
        (Stage.ACCEPTED, {"apheresis": TODAY}, "consult date before the apheresis"),
        (Stage.ACCEPTED, {"consult": TODAY, "infusion": TODAY - DAY}, "before the consult"),
        (Stage.ACCEPTED, {"consult": TODAY, "apheresis": TODAY - DAY}, "before the consult"),
        (
            Stage.ACCEPTED,
            {"consult": TODAY, "apheresis": TODAY + 9 * DAY, "infusion": TODAY + 2 * DAY},
            "before apheresis",
        ),
        (Stage.ACCEPTED, {"consult": TODAY - 30 * DAY}, "before the referral"),
        (Stage.TREATED, {"consult": TODAY}, "cannot be changed"),
    ],
)
def test_it_refuses_dates_out_of_order(stage, dates, message):
    problems = pipeline.hospital_date_problems(
        stage=stage,
        referred_on=TODAY - 10 * DAY,
        consult_date=dates.get("consult"),
        apheresis_date=dates.get("apheresis"),
        infusion_date=dates.get("infusion"),
    )

    assert any(message in problem for problem in problems), problems


def test_it_lets_coordinators_still_record_a_hospitals_answer(coordinator, lead):
    moved = services.referral_transition(
        referral=lead, to_stage=Stage.ACCEPTED, by=coordinator, expected_version=2
    )

    assert moved.stage == Stage.ACCEPTED
    assert moved.hospital_decision_at is not None
    assert moved.hospital_update_at is None  # not the hospital's own move: no badge


def test_it_refuses_a_liaison_the_coordinators_moves(liaison, lead):
    with pytest.raises(services.ReferralError, match="cannot move a referral"):
        services.referral_transition(
            referral=lead, to_stage=Stage.ELIGIBLE, by=liaison, expected_version=2
        )


# --- the liaison's actions ---------------------------------------------------------------------


def test_it_confirms_receipt_and_tells_the_coordinator(
    liaison_client, liaison, lead, coordinator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = liaison_client.post(_url("receipt", lead), {"version": 2})

    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.receipt_confirmed_at is not None
    assert lead.stage == Stage.REFERRED
    assert lead.version == 3
    event = lead.events.get(kind=EventKind.RECEIPT_CONFIRMED)
    assert (event.author, event.body) == (liaison, "Sheba Medical Center received the referral.")
    assert _notifications() == [{"referral_id": lead.pk, "event_ids": [event.pk]}]
    assert lead.has_unread_hospital_update

    again = liaison_client.post(_url("receipt", lead), {"version": 3}, follow=True)
    assert "Receipt was already confirmed" in again.text
    assert lead.events.filter(kind=EventKind.RECEIPT_CONFIRMED).count() == 1


def test_it_refuses_a_stale_answer(liaison_client, lead):
    response = liaison_client.post(_url("accept", lead), {"version": 1}, follow=True)

    assert "Someone else saved this referral" in response.text
    lead.refresh_from_db()
    assert lead.stage == Stage.REFERRED


def test_it_mails_the_coordinator_without_health_details(liaison, lead, coordinator):
    lead = services.hospital_confirm_receipt(referral=lead, by=liaison, expected_version=2)
    event = lead.events.get(kind=EventKind.RECEIPT_CONFIRMED)

    assert tasks.hospital_update_notify.call(referral_id=lead.pk, event_ids=[event.pk]) is True

    [message] = mail.outbox
    assert message.to == [coordinator.email]
    assert message.subject == f"Lead #{lead.pk}: update from Sheba Medical Center"
    assert "Receipt confirmed by the hospital" in message.body
    assert f"/admin/work/leads/{lead.pk}/" in message.body
    assert "Cohen" not in message.body


def test_it_badges_the_lead_in_the_queue_until_its_coordinator_opens_it(
    client, coordinator, admin_user, liaison, lead
):
    services.hospital_confirm_receipt(referral=lead, by=liaison, expected_version=2)
    client.force_login(coordinator)

    assert 'data-testid="hospital-update"' in client.get(reverse("referrals:queue")).text
    client.force_login(admin_user)
    client.get(reverse("referrals:lead", args=[lead.pk]))  # not the lead's coordinator
    client.force_login(coordinator)
    assert 'data-testid="hospital-update"' in client.get(reverse("referrals:queue")).text

    page = client.get(reverse("referrals:lead", args=[lead.pk]))

    assert 'data-testid="hospital-side"' in page.text
    assert 'data-testid="hospital-update"' not in client.get(reverse("referrals:queue")).text
    lead.refresh_from_db()
    assert lead.version == 3  # seeing it is not an edit: no conflict for anyone


def test_it_requests_documents_with_a_message_and_a_task_for_the_coordinator(
    liaison_client, lead, coordinator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = liaison_client.post(
            _url("request_documents", lead), {"message": "Latest renal biopsy report, please."}
        )

    assert response.status_code == 302
    event = lead.events.get(kind=EventKind.DOCUMENTS_REQUESTED)
    assert event.body == "Latest renal biopsy report, please."
    task = Task.objects.get(referral=lead)
    assert (task.assignee, task.title) == (
        coordinator,
        "Send the documents Sheba Medical Center asked for",
    )
    assert _notifications() == [{"referral_id": lead.pk, "event_ids": [event.pk]}]


def test_it_refuses_an_empty_documents_request(liaison_client, lead):
    before = _state(lead)

    response = liaison_client.post(_url("request_documents", lead), {"message": "  "})

    assert response.status_code == 200
    assert "Please correct the errors below." in response.text
    assert _state(lead) == before


def test_it_accepts_a_referral_onto_the_coordinators_timeline(
    liaison_client, client, liaison, lead, coordinator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = liaison_client.post(
            _url("accept", lead), {"version": 2, "note": "Consult next week."}
        )

    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.stage == Stage.ACCEPTED
    assert lead.hospital_decision_at is not None
    assert lead.receipt_confirmed_at == lead.hospital_decision_at  # a decision implies receipt
    event = lead.events.get(kind=EventKind.STAGE_CHANGE, to_stage=Stage.ACCEPTED)
    assert (event.from_stage, event.author) == (Stage.REFERRED, liaison)
    assert event.body == "By Sheba Medical Center. Consult next week."
    assert _notifications() == [{"referral_id": lead.pk, "event_ids": [event.pk]}]
    client.force_login(coordinator)
    timeline = client.get(reverse("referrals:lead", args=[lead.pk])).text
    assert "Referred → Accepted" in timeline
    assert "By Sheba Medical Center. Consult next week." in timeline


def test_it_refuses_to_accept_a_lead_not_referred_to_the_liaison(
    liaison, lead_b, program, coordinator
):
    never_referred = ReferralFactory(
        stage=Stage.REFERRED, target_program=program, assigned_to=coordinator
    )
    for referral in (lead_b, never_referred):
        with pytest.raises(services.ReferralError, match="was not referred to your hospital"):
            services.referral_transition(
                referral=referral,
                to_stage=Stage.ACCEPTED,
                by=liaison,
                expected_version=referral.version,
            )
        referral.refresh_from_db()
        assert referral.stage == Stage.REFERRED
    with pytest.raises(services.ReferralError, match="was not referred to your hospital"):
        services.hospital_confirm_receipt(referral=lead_b, by=liaison, expected_version=2)


def test_it_refuses_to_accept_twice(liaison_client, liaison, lead):
    lead = _accepted(lead, liaison)

    response = liaison_client.post(_url("accept", lead), {"version": lead.version}, follow=True)

    assert "The lead is already in “Accepted”." in response.text


def test_it_declines_with_a_reason_from_the_list(
    liaison_client, liaison, lead, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = liaison_client.post(
            _url("decline", lead),
            {"version": 2, "reason": HospitalDeclineReason.NOT_FIT, "detail": "eGFR 18"},
        )

    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.stage, lead.close_reason, lead.hospital_decline_reason) == (
        Stage.CLOSED,
        CloseReason.DECLINED_BY_HOSPITAL,
        HospitalDeclineReason.NOT_FIT,
    )
    assert lead.hospital_decision_at is not None
    event = lead.events.get(kind=EventKind.STAGE_CHANGE, to_stage=Stage.CLOSED)
    assert event.body == (
        "By Sheba Medical Center. Declined by hospital — "
        "Not fit for apheresis or lymphodepletion — eGFR 18"
    )
    assert len(_notifications()) == 1
    # The liaison still sees the referral they declined, with the reason.
    page = liaison_client.get(_url("referral", lead))
    assert "Not fit for apheresis or lymphodepletion" in page.text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Please correct the errors below."),
        ({"reason": "bored"}, "Please correct the errors below."),
        ({"reason": HospitalDeclineReason.OTHER}, "needs a short explanation"),
    ],
)
def test_it_refuses_a_decline_without_a_valid_reason(liaison_client, lead, data, message):
    before = _state(lead)

    response = liaison_client.post(_url("decline", lead), {"version": 2, **data}, follow=True)

    assert message in response.text
    assert _state(lead) == before


def test_it_proposes_a_consult_but_no_treatment_dates_before_accepting(
    liaison_client, liaison, lead
):
    consult, later = TODAY + 3 * DAY, TODAY + 10 * DAY

    liaison_client.post(
        _url("dates", lead),
        {"version": 2, "consult_date": consult, "apheresis_date": later, "infusion_date": later},
    )

    lead.refresh_from_db()
    assert (lead.consult_date, lead.apheresis_date, lead.infusion_date) == (consult, None, None)
    assert lead.stage == Stage.REFERRED
    with pytest.raises(services.ReferralError, match="once the referral is accepted"):
        services.hospital_set_dates(
            referral=lead,
            by=liaison,
            expected_version=lead.version,
            consult_date=consult,
            apheresis_date=later,
            infusion_date=None,
        )


def test_it_refuses_an_infusion_before_the_consult(liaison_client, liaison, lead):
    lead = _accepted(lead, liaison)
    before = _state(lead)

    response = liaison_client.post(
        _url("dates", lead),
        {
            "version": lead.version,
            "consult_date": TODAY + 10 * DAY,
            "infusion_date": TODAY + 5 * DAY,
        },
        follow=True,
    )

    assert "The infusion cannot be before the consult." in response.text
    assert _state(lead) == before


def test_it_schedules_an_accepted_referral_when_the_infusion_date_is_set(
    liaison_client, liaison, lead, django_capture_on_commit_callbacks
):
    lead = _accepted(lead, liaison)
    consult, apheresis, infusion = TODAY + 2 * DAY, TODAY + 9 * DAY, TODAY + 30 * DAY

    with django_capture_on_commit_callbacks(execute=True):
        response = liaison_client.post(
            _url("dates", lead),
            {
                "version": lead.version,
                "consult_date": consult,
                "apheresis_date": apheresis,
                "infusion_date": infusion,
            },
        )

    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.stage == Stage.SCHEDULED
    assert (lead.consult_date, lead.apheresis_date, lead.infusion_date) == (
        consult,
        apheresis,
        infusion,
    )
    dates = lead.events.get(kind=EventKind.HOSPITAL_DATES)
    assert dates.body == (
        f"Consult {consult:%d %b %Y} · apheresis {apheresis:%d %b %Y} · "
        f"infusion {infusion:%d %b %Y}"
    )
    moved = lead.events.get(kind=EventKind.STAGE_CHANGE, to_stage=Stage.SCHEDULED)
    # One e-mail for the two events.
    assert _notifications()[-1] == {"referral_id": lead.pk, "event_ids": [dates.pk, moved.pk]}


def test_it_reports_the_treatment_only_once_the_infusion_was_given(liaison_client, liaison, lead):
    lead = _accepted(lead, liaison)
    lead = services.hospital_set_dates(
        referral=lead,
        by=liaison,
        expected_version=lead.version,
        consult_date=TODAY,
        apheresis_date=TODAY + DAY,
        infusion_date=TODAY + 20 * DAY,
    )

    early = liaison_client.post(
        _url("treated", lead), {"version": lead.version, "infusion_date": TODAY + 20 * DAY}
    )
    assert "the infusion date is in the future" in early.text.lower()
    before_apheresis = liaison_client.post(
        _url("treated", lead), {"version": lead.version, "infusion_date": TODAY}, follow=True
    )
    assert "The infusion cannot be before apheresis." in before_apheresis.text

    Referral.objects.filter(pk=lead.pk).update(
        referred_at=timezone.now() - 30 * DAY,
        consult_date=TODAY - 20 * DAY,
        apheresis_date=TODAY - 10 * DAY,
    )
    response = liaison_client.post(
        _url("treated", lead), {"version": lead.version, "infusion_date": TODAY - DAY}
    )

    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.stage, lead.infusion_date) == (Stage.TREATED, TODAY - DAY)


def pages_plain(page: str) -> str:
    from tests import pages

    start = page.index('data-testid="hospital-side"')
    return pages.plain(page[start : page.index("</dl>", start)])


def test_it_says_where_the_referral_stands_with_the_hospital_at_every_step(
    liaison_client, liaison, lead, coordinator, client
):
    def step(response_or_lead) -> tuple[str, str]:
        lead.refresh_from_db()
        listed = liaison_client.get(reverse("hospital:referrals")).text
        return lead.hospital_side, listed

    side, listed = step(lead)
    assert side == HospitalSide.SENT
    assert "Confirm receipt" in listed
    liaison_client.post(_url("receipt", lead), {"version": lead.version})
    side, listed = step(lead)
    assert side == HospitalSide.RECEIVED
    assert "Confirm receipt" not in listed and "Decide" in listed
    liaison_client.post(_url("dates", lead), {"version": lead.version, "consult_date": TODAY})
    assert step(lead)[0] == HospitalSide.CONSULT_BOOKED
    liaison_client.post(_url("accept", lead), {"version": lead.version})
    side, listed = step(lead)
    assert side == HospitalSide.ACCEPTED
    assert "Set the dates" in listed
    liaison_client.post(
        _url("dates", lead),
        {"version": lead.version, "consult_date": TODAY, "infusion_date": TODAY + 20 * DAY},
    )
    assert step(lead)[0] == HospitalSide.SCHEDULED
    Referral.objects.filter(pk=lead.pk).update(
        referred_at=timezone.now() - 30 * DAY, consult_date=TODAY - 20 * DAY
    )
    liaison_client.post(_url("treated", lead), {"version": lead.version, "infusion_date": TODAY})
    assert step(lead)[0] == HospitalSide.TREATED

    client.force_login(coordinator)
    page = client.get(reverse("referrals:lead", args=[lead.pk])).text
    card = pages_plain(page)
    assert "Now Treated Referred" in card


def test_it_takes_a_booked_consult_as_the_hospitals_receipt(liaison_client, liaison, lead):
    lead = services.hospital_set_dates(
        referral=lead,
        by=liaison,
        expected_version=lead.version,
        consult_date=TODAY + 3 * DAY,
        apheresis_date=None,
        infusion_date=None,
    )

    assert lead.receipt_confirmed_at is not None
    assert lead.hospital_side == HospitalSide.CONSULT_BOOKED
    refused = liaison_client.post(_url("receipt", lead), {"version": lead.version}, follow=True)
    assert "Receipt was already confirmed" in refused.text


@pytest.mark.parametrize(
    ("stage", "close_reason", "referred", "side"),
    [
        (Stage.SCREENING, "", False, None),
        (Stage.CLOSED, CloseReason.SCREEN_FAILED, False, None),
        (Stage.CLOSED, CloseReason.DECLINED_BY_HOSPITAL, True, HospitalSide.DECLINED),
        (Stage.CLOSED, CloseReason.DECLINED_BY_PATIENT, True, HospitalSide.CLOSED),
        (Stage.FOLLOW_UP, "", True, HospitalSide.TREATED),
    ],
)
def test_it_computes_the_hospital_side_in_the_database_whatever_writes_the_lead(
    lead, stage, close_reason, referred, side
):
    criterion = "other" if close_reason == CloseReason.SCREEN_FAILED else ""
    Referral.objects.filter(pk=lead.pk).update(
        stage=stage,
        close_reason=close_reason,
        screen_failure_criterion=criterion,
        referred_at=lead.referred_at if referred else None,
    )

    assert Referral.objects.get(pk=lead.pk).hospital_side == side


def test_it_refuses_to_report_a_treatment_before_scheduling(liaison, lead):
    lead = _accepted(lead, liaison)

    with pytest.raises(services.ReferralError, match="cannot move a referral"):
        services.referral_transition(
            referral=lead,
            to_stage=Stage.TREATED,
            by=liaison,
            expected_version=lead.version,
            infusion_date=TODAY - DAY,
        )


# --- the packet as sent --------------------------------------------------------------------------


def test_it_shows_the_packet_as_sent_not_as_edited_later(liaison_client, lead, coordinator):
    snapshot = ReferralSnapshot.objects.get(referral=lead)
    assert snapshot.program == lead.target_program
    assert snapshot.data["patient"]["name"] == "Noa Cohen"
    assert snapshot.data["failed_line_count"] == 1
    assert snapshot.data["eligibility"]["verdict"] == "eligible"

    Patient.objects.filter(pk=lead.patient_id).update(first_name="Renamed", city="Eilat")
    PriorTreatmentLineFactory(patient=lead.patient, line_number=2, therapies=[TherapyFactory()])

    page = liaison_client.get(_url("referral", lead))

    assert 'data-testid="packet-failed-lines">1<' in page.text
    assert "Noa Cohen" in page.text
    assert "Renamed" not in page.text
    assert "Eilat" not in page.text
    assert "Condition</strong>: Diagnosis matches." in page.text


def test_it_takes_a_new_snapshot_when_the_lead_is_referred_again(liaison, lead, coordinator):
    services.referral_transition(
        referral=lead, to_stage=Stage.ELIGIBLE, by=coordinator, expected_version=2
    )
    assert list(access.referrals_visible_to(liaison)) == []  # withdrawn

    again = services.referral_transition(
        referral=lead, to_stage=Stage.REFERRED, by=coordinator, expected_version=3
    )

    assert again.snapshots.count() == 2
    assert list(access.referrals_visible_to(liaison)) == [again]


def test_it_erases_the_snapshot_with_the_patient(liaison_client, liaison, lead, admin_user):
    services.hospital_request_documents(referral=lead, by=liaison, message="Biopsy of Noa Cohen")

    services.patient_erase(patient=lead.patient, by=admin_user, reason="Patient's request")

    data = ReferralSnapshot.objects.get(referral=lead).data
    assert data["patient"]["name"] == services.ERASED
    assert (data["patient"]["phone"], data["patient"]["date_of_birth"]) == ("", None)
    assert data["treatment_lines"][0]["regimen"]  # the clinical summary stays
    assert lead.events.get(kind=EventKind.DOCUMENTS_REQUESTED).body == services.ERASED
    page = liaison_client.get(_url("referral", lead)).text
    assert "Noa" not in page
    assert "Cohen" not in page


def test_it_exports_what_each_hospital_was_sent_with_the_patients_data(liaison, lead):
    lead = services.hospital_confirm_receipt(referral=lead, by=liaison, expected_version=2)

    [exported] = selectors.patient_data_export(lead.patient_id)["referrals"]

    assert exported["receipt_confirmed_at"] == lead.receipt_confirmed_at.isoformat()
    [sent] = exported["sent_to_hospital"]
    assert sent["packet"]["patient"]["name"] == "Noa Cohen"
    assert sent["packet"]["target"]["hospital"] == "Sheba Medical Center"


def test_it_logs_the_liaisons_reads(liaison_client, liaison, lead, private_root):
    document = services.document_upload(
        referral=lead,
        uploaded_file=SimpleUploadedFile("letter.pdf", pdf_bytes()),
        kind="medical_record",
        by=lead.assigned_to,
    )

    liaison_client.get(_url("referral", lead))
    download = liaison_client.get(_url("document", lead, document.pk))

    assert download.status_code == 200
    assert b"".join(download.streaming_content).startswith(b"%PDF")
    assert list(AccessLog.objects.filter(user=liaison).values_list("action", flat=True)) == [
        "view_document",
        "view_lead",
    ]


# --- the list and its query counts ---------------------------------------------------------------


def test_it_lists_referrals_awaiting_a_decision_first_with_the_days_waiting(
    liaison_client, liaison, program, coordinator
):
    old = referred_lead(program, coordinator=coordinator, last_name="Older")
    new = referred_lead(program, coordinator=coordinator, last_name="Newer")
    decided = referred_lead(program, coordinator=coordinator, last_name="Decided")
    Referral.objects.filter(pk=old.pk).update(referred_at=timezone.now() - 9 * DAY)
    Referral.objects.filter(pk=new.pk).update(referred_at=timezone.now() - 2 * DAY)
    _accepted(decided, liaison)

    response = liaison_client.get(reverse("hospital:referrals"))

    assert _listed(response) == [old.pk, new.pk, decided.pk]
    waiting = [row["waiting"] for row in response.context["rows"]]
    assert waiting == [9, 2, 0]
    assert "<strong>9 d</strong>" in response.text


@pytest.mark.parametrize("count", [5, 50])
def test_it_loads_the_liaison_pages_in_the_same_queries_for_5_or_50_referrals(
    liaison_client, program, coordinator, django_assert_num_queries, count
):
    leads = [referred_lead(program, coordinator=coordinator) for _ in range(count)]
    for lead in leads[:3]:
        for number in range(2, count // 5 + 2):
            PriorTreatmentLineFactory(patient=lead.patient, line_number=number)

    # 1 session, 2 user, 3-4 permissions, 5 the liaison's profile, 6 its programs,
    # 7 the page of referrals, 8 their snapshots.
    with django_assert_num_queries(8):
        listing = liaison_client.get(reverse("hospital:referrals"), {"show": "all"})
    # 1 session, 2 user, 3-4 permissions, 5-6 profile and programs, 7 the scoped referral,
    # 8 access log, 9 the referral, 10 snapshots, 11 documents, 12 timeline.
    with django_assert_num_queries(12):
        page = liaison_client.get(_url("referral", leads[0]))

    assert len(listing.context["rows"]) == count
    assert page.status_code == 200


# --- the dashboard's hospital side ----------------------------------------------------------------

NOW = timezone.now()


def _sent(program, *, days_ago: float, path: dict[str, float] | None = None, **fields):
    """A lead referred `days_ago` whose hospital milestones came `path[...]` days later."""
    path = path or {}
    referred_at = NOW - days_ago * DAY
    on = timezone.localdate(referred_at)
    lead = ReferralFactory(
        target_program=program,
        stage=Stage.TREATED if "infusion" in path else Stage.REFERRED,
        referred_at=referred_at,
        receipt_confirmed_at=referred_at + path["receipt"] * DAY if "receipt" in path else None,
        hospital_decision_at=referred_at + path["decision"] * DAY if "decision" in path else None,
        consult_date=on + path["consult"] * DAY if "consult" in path else None,
        infusion_date=on + path["infusion"] * DAY if "infusion" in path else None,
        **fields,
    )
    if "infusion" in path:
        ReferralEvent.objects.create(
            referral=lead,
            kind=EventKind.STAGE_CHANGE,
            from_stage=Stage.SCHEDULED,
            to_stage=Stage.TREATED,
        )
    return lead


@pytest.fixture
def hospital_data(hospital, hospital_b, program, program_b):
    second = ProgramFactory(hospital=hospital, name="Second CD19")
    _sent(
        program,
        days_ago=60,
        path={"receipt": 1, "decision": 3, "consult": 7, "infusion": 20},
    )
    _sent(
        program,
        days_ago=60,
        path={"receipt": 2, "decision": 4, "consult": 9, "infusion": 25},
    )
    _sent(program, days_ago=60, path={"receipt": 5, "decision": 10, "consult": 90})  # future
    _sent(second, days_ago=10, path={"receipt": 3})
    _sent(program_b, days_ago=30, path={"receipt": 8, "decision": 12})
    _sent(program, days_ago=400, path={"receipt": 1})  # before the period
    return second


def test_it_measures_the_hospital_side_per_hospital_and_program(hospital_data):
    period = selectors.Period(start=NOW - 365 * DAY, end=NOW + DAY)

    rows = {
        (row.hospital, row.program): row for row in selectors.dashboard_hospital_side(period, TODAY)
    }

    sheba = rows[("Sheba Medical Center", "")]
    assert (sheba.referred, sheba.treated) == (4, 2)
    assert sheba.treated_share == 0.5
    # Receipts 1, 2, 3, 5 → 2nd; decisions 3, 4, 10 → 4; consults 7, 9 (90 is ahead) → 7;
    # infusions 20, 25 → 20 (nearest rank).
    assert sheba.median_days == [2, 4, 7, 20]
    cd19 = rows[("Sheba Medical Center", "Point-of-care CD19")]
    assert (cd19.referred, cd19.treated, cd19.median_days) == (3, 2, [2, 4, 7, 20])
    second = rows[("Sheba Medical Center", "Second CD19")]
    assert (second.referred, second.treated, second.median_days) == (1, 0, [3, None, None, None])
    hadassah = rows[("Hadassah Medical Center", "")]
    assert (hadassah.referred, hadassah.treated_share, hadassah.median_days) == (
        1,
        0,
        [8, 12, None, None],
    )
    assert list(rows) == [
        ("Hadassah Medical Center", ""),
        ("Hadassah Medical Center", "BCMA phase 1"),
        ("Sheba Medical Center", ""),
        ("Sheba Medical Center", "Point-of-care CD19"),
        ("Sheba Medical Center", "Second CD19"),
    ]


def test_it_shows_a_liaison_only_their_hospitals_side_on_the_index(liaison_client, hospital_data):
    response = liaison_client.get(reverse("admin:index"))

    assert response.status_code == 200
    assert 'data-testid="hospital-dashboard"' in response.text
    assert 'data-testid="dashboard"' not in response.text  # no coordinator figures
    assert 'data-testid="kpi-open_leads"' not in response.text
    assert "Hadassah" not in response.text
    assert [row.hospital for row in response.context["hospital_side"]] == [
        "Sheba Medical Center"
    ] * 3


def test_it_shows_the_hospital_side_on_the_coordinators_dashboard(
    coordinator_client, hospital_data
):
    response = coordinator_client.get(reverse("admin:index"), {"period": "365"})

    assert 'data-testid="hospital-side-figures"' in response.text
    assert {row.hospital for row in response.context["hospital_side"]} == {
        "Sheba Medical Center",
        "Hadassah Medical Center",
    }
