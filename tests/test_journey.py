"""A lead the whole way, through the pages as its users see them: the public form, the
coordinator's pages, the hospital liaison's pages."""

import datetime
import html
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from referrals.models import FollowUpVisit, Referral, Stage
from tests import intake, pages
from tests.factories import ProgramFactory

pytestmark = pytest.mark.django_db


def test_it_takes_a_lead_from_new_to_referred(coordinator_client, lead, program):
    def step(response, stage: str) -> str:
        assert response.status_code == 302, html.unescape(pages.text(response))
        assert response["Location"] == pages.url("lead", lead.pk)
        lead.refresh_from_db()
        assert lead.stage == stage
        board = coordinator_client.get(pages.url("board"))
        assert lead.pk in pages.card_ids(pages.column(board, stage))
        return pages.timeline(coordinator_client.get(pages.url("lead", lead.pk)))

    timeline = step(pages.transition(coordinator_client, lead, "contacted"), "contacted")
    assert "New → Contacted" in timeline
    timeline = step(
        pages.transition(coordinator_client, lead, "records_requested"), "records_requested"
    )
    assert "Contacted → Records requested" in timeline
    timeline = step(pages.transition(coordinator_client, lead, "screening"), "screening")
    assert "Records requested → Screening" in timeline
    checked = pages.post(
        coordinator_client, "lead_screening", lead, kind="program", candidate_id=program.pk
    )
    timeline = step(checked, "screening")
    assert "Eligibility check: CD19 CAR-T (Sheba): Eligible" in timeline
    timeline = step(pages.transition(coordinator_client, lead, "eligible"), "eligible")
    assert "Screening → Eligible" in timeline
    targeted = pages.post(
        coordinator_client, "lead_target", lead, kind="program", candidate_id=program.pk
    )
    timeline = step(targeted, "eligible")
    assert "Target: CD19 CAR-T (Sheba)" in timeline
    timeline = step(pages.transition(coordinator_client, lead, "referred"), "referred")

    newest_first = [
        "Eligible → Referred",
        "Target: CD19 CAR-T (Sheba)",
        "Screening → Eligible",
        "Eligibility check: CD19 CAR-T (Sheba): Eligible",
        "Records requested → Screening",
        "Contacted → Records requested",
        "New → Contacted",
    ]
    positions = [timeline.index(entry) for entry in newest_first]
    assert positions == sorted(positions)
    assert pages.stage_changes(lead) == [
        ("new", "contacted"),
        ("contacted", "records_requested"),
        ("records_requested", "screening"),
        ("screening", "eligible"),
        ("eligible", "referred"),
    ]


# --- from the public form to the follow-up visit ----------------------------------------------

MONDAY = datetime.datetime(2025, 6, 2, 9)  # the morning the form comes in
DAY = datetime.timedelta(days=1)


class Clock:
    """The users' clock: `timezone.now` from the morning of `MONDAY`, moved on day by day."""

    def __init__(self, monkeypatch):
        self.now = timezone.make_aware(MONDAY)
        monkeypatch.setattr(timezone, "now", lambda: self.now)

    def day(self, number: int) -> datetime.date:
        self.now = timezone.make_aware(MONDAY + number * DAY)
        return self.now.date()


@pytest.mark.usefixtures("empty_cache")
def test_it_takes_a_lead_from_the_public_form_to_a_follow_up_visit(
    monkeypatch, lupus, rituximab, mycophenolate, coordinator, hospital, liaison
):
    """A visitor's submission, the coordinator's work up to the referral, the hospital's answer,
    dates and treatment, the infusion's outcome and the one-month visit: each user on their own
    pages, each step checked where that user sees it."""
    clock = Clock(monkeypatch)
    program = ProgramFactory(name="CD19 CAR-T", hospital=hospital, conditions=[lupus])
    visitor, desk, ward = Client(), Client(), Client()  # the public, the coordinator, the liaison

    def sign_in() -> None:  # each morning: yesterday's 12-hour sessions have ended
        desk.force_login(coordinator)
        ward.force_login(liaison)

    def coordinator_sees(stage: str) -> str:
        """The lead's stage on its page and on the board; its timeline, newest first."""
        page = desk.get(pages.url("lead", lead.pk))
        assert page.status_code == 200
        assert pages.plain(pages.testid(page, "stage", "span")) == Stage(stage).label
        board = desk.get(pages.url("board"))
        assert lead.pk in pages.card_ids(pages.column(board, stage))
        return pages.timeline(page)

    def coordinator_does(response, stage: str) -> str:
        assert response.status_code == 302, pages.unescaped(response)
        assert response["Location"] == pages.url("lead", lead.pk)
        return coordinator_sees(stage)

    def liaison_does(action: str, **data) -> str:
        """Post one of the liaison's forms; the stage their referral page shows afterwards."""
        lead.refresh_from_db()
        url = reverse(f"hospital:{action}", args=[lead.pk])
        response = ward.post(url, {"version": lead.version, **data})
        assert response.status_code == 302, pages.unescaped(response)
        page = ward.get(response["Location"])
        assert page.status_code == 200
        return pages.plain(pages.testid(page, "stage", "span"))

    # Monday: the form comes in and is worked up to the referral.
    sign_in()
    form = visitor.get(intake.form_url("en"))
    assert intake.ENGLISH_HEADING in form.text
    submitted = intake.submit(
        visitor,
        intake.valid_post(
            lupus,
            treatments=[(rituximab, "did_not_help"), (mycophenolate, "stopped_working")],
            preferred_language="en",
        ),
    )
    assert submitted.status_code == 302
    assert intake.ENGLISH_THANKS in visitor.get(submitted["Location"]).text

    queue = desk.get(pages.url("queue"))
    row = pages.queue_rows(queue)["Dana Levi"]
    assert "First call to the patient" in row
    assert "on track" in row
    lead = Referral.objects.get()
    timeline = coordinator_sees("new")
    assert "Created: Lead received from the public form." in timeline
    assert f"Assignment: Assigned to {coordinator.get_full_name()}" in timeline
    assert pages.failed_lines_shown(desk.get(pages.url("lead", lead.pk))) == 2

    contacted = pages.transition(desk, lead, "contacted", note="Reached her daughter.")
    assert "New → Contacted: Reached her daughter." in coordinator_does(contacted, "contacted")
    assert "Contacted → Screening" in coordinator_does(
        pages.transition(desk, lead, "screening"), "screening"
    )
    checked = pages.post(desk, "lead_screening", lead, kind="program", candidate_id=program.pk)
    timeline = coordinator_does(checked, "screening")
    assert "Eligibility check: CD19 CAR-T (Sheba Medical Center): Eligible" in timeline
    assert "Screening → Eligible" in coordinator_does(
        pages.transition(desk, lead, "eligible"), "eligible"
    )
    targeted = pages.post(desk, "lead_target", lead, kind="program", candidate_id=program.pk)
    assert "Target: CD19 CAR-T (Sheba Medical Center)" in coordinator_does(targeted, "eligible")
    assert "Eligible → Referred" in coordinator_does(
        pages.transition(desk, lead, "referred"), "referred"
    )

    # Wednesday: the hospital's liaison finds the referral and accepts it.
    clock.day(2)
    sign_in()
    listed = ward.get(reverse("hospital:referrals"))
    assert [row["lead"].pk for row in listed.context["rows"]] == [lead.pk]
    assert "Dana Levi" in listed.text
    sent = ward.get(reverse("hospital:referral", args=[lead.pk]))
    assert pages.plain(pages.testid(sent, "stage", "span")) == "Referred"
    assert 'data-testid="packet-failed-lines">2<' in sent.text
    assert liaison_does("accept", note="Consult on Monday.") == "Accepted"

    assert 'data-testid="hospital-update"' in desk.get(pages.url("queue")).text
    timeline = coordinator_sees("accepted")
    assert "Referred → Accepted: By Sheba Medical Center. Consult on Monday." in timeline
    assert 'data-testid="hospital-update"' not in desk.get(pages.url("queue")).text

    # The next Monday: the consult; apheresis in a week, the infusion three weeks on.
    consult = clock.day(7)
    apheresis, infusion = consult + 7 * DAY, consult + 21 * DAY
    sign_in()
    dates = {"consult_date": consult, "apheresis_date": apheresis, "infusion_date": infusion}
    assert liaison_does("dates", **dates) == "Scheduled"
    timeline = coordinator_sees("scheduled")
    assert (
        "Hospital dates: Consult 09 Jun 2025 · apheresis 16 Jun 2025 · infusion 30 Jun 2025"
        in timeline
    )
    assert "Accepted → Scheduled" in timeline

    # The day after the infusion: the hospital reports the treatment.
    clock.day(29)
    sign_in()
    reported = liaison_does("treated", infusion_date=infusion, note="Infused without incident.")
    assert reported == "Treated"
    timeline = coordinator_sees("treated")
    assert "Scheduled → Treated: By Sheba Medical Center. Infused without incident." in timeline

    # The coordinator records the infusion and its outcome, and the lead enters follow-up.
    clock.day(30)
    sign_in()
    recorded = desk.post(
        pages.url("lead_outcome", lead.pk),
        {
            "infusion_date": infusion,
            "product": "CD19 CAR-T (Sheba Medical Center)",
            "crs_grade": "1",
            "icans_grade": "0",
            "infections": "",
            "relapse_date": "",
        },
    )
    timeline = coordinator_does(recorded, "treated")
    assert "Treatment outcome: Infusion recorded: CD19 CAR-T (Sheba Medical Center)" in timeline
    assert "Follow-up visits due 30 Jul 2025, 30 Sep 2025, 30 Dec 2025, 30 Jun 2026" in timeline
    assert "Treated → Follow-up" in coordinator_does(
        pages.transition(desk, lead, "follow_up"), "follow_up"
    )
    assert (
        pages.testid(desk.get(pages.url("queue")), "tasks", "table").count("follow-up after CAR-T")
        == 4
    )

    # A month on, the one-month visit: recorded, its task done.
    visit_day = clock.day(60)
    sign_in()
    visit = FollowUpVisit.objects.get(outcome__referral=lead, month=1)
    form = desk.get(pages.url("lead", lead.pk), {"visit": visit.pk})
    assert "1-month follow-up" in pages.plain(pages.testid(form, "visit-form", "form"))
    done = desk.post(
        pages.url("lead_visit", lead.pk, visit.pk),
        {
            "done_on": visit_day - DAY,
            "sledai_2k": "4",
            "das28": "",
            "mrss": "",
            "mg_adl": "",
            "drug_free_remission": "yes",
            "notes": "Off all immunosuppression.",
        },
    )
    timeline = coordinator_does(done, "follow_up")
    assert (
        "Follow-up visit: 1-month follow-up recorded (31 Jul 2025): SLEDAI-2K 4; "
        "drug-free remission: yes. Task done." in timeline
    )
    page = desk.get(pages.url("lead", lead.pk))
    one_month = re.search(r'<tr data-month="1">.*?</tr>', pages.text(page), re.S).group(0)
    assert "31 Jul 2025" in one_month
    assert "SLEDAI-2K 4" in one_month
    tasks = pages.testid(desk.get(pages.url("queue")), "tasks", "table")
    assert tasks.count("follow-up after CAR-T") == 3
    assert "1-month follow-up" not in tasks

    assert pages.stage_changes(lead) == [
        ("new", "contacted"),
        ("contacted", "screening"),
        ("screening", "eligible"),
        ("eligible", "referred"),
        ("referred", "accepted"),
        ("accepted", "scheduled"),
        ("scheduled", "treated"),
        ("treated", "follow_up"),
    ]
