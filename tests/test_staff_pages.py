"""The coordinator pages together: who may open them, what every list shows of a lead,
how they link, and the look they share with the admin."""

import datetime
import re

import pytest
from django.urls import reverse, set_script_prefix
from django.utils import timezone

from referrals.models import (
    ReasonStopped,
    Stage,
)
from tests import pages
from tests.factories import (
    PriorTreatmentLineFactory,
    ReferralFactory,
    TaskFactory,
    TherapyFactory,
)
from trials.models import DrugClass

pytestmark = pytest.mark.django_db


PAGES = ["queue", "board", "lead"]


# --- who may see what ----------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_it_sends_anonymous_visitors_to_the_login_page(client, lead, page):
    response = client.get(pages.page_url(page, lead))

    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


@pytest.mark.parametrize("page", PAGES)
def test_it_sends_inactive_staff_to_the_login_page(client, inactive_user, lead, page):
    client.force_login(inactive_user)

    response = client.get(pages.page_url(page, lead))

    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


@pytest.mark.parametrize("page", PAGES)
def test_it_shows_every_page_to_coordinators_and_admins(
    coordinator_client, admin_client, lead, page
):
    assert coordinator_client.get(pages.page_url(page, lead)).status_code == 200
    assert admin_client.get(pages.page_url(page, lead)).status_code == 200


@pytest.mark.parametrize("page", PAGES)
def test_it_forbids_staff_without_a_role(client, staff_without_role, lead, page):
    client.force_login(staff_without_role)

    assert client.get(pages.page_url(page, lead)).status_code == 403


def test_it_shows_a_viewer_the_lead_without_the_action_forms(
    client, viewer, coordinator_client, lead
):
    coordinator_page = coordinator_client.get(pages.url("lead", lead.pk))
    client.force_login(viewer)

    viewer_page = client.get(pages.url("lead", lead.pk))

    assert viewer_page.status_code == 200
    assert "Dana Levi" in pages.text(viewer_page)
    for form_action in ("lead_transition", "lead_task", "lead_note", "lead_line"):
        assert pages.url(form_action, lead.pk) in pages.text(coordinator_page)
        assert pages.url(form_action, lead.pk) not in pages.text(viewer_page)


def test_it_answers_404_for_an_unknown_lead(coordinator_client):
    assert coordinator_client.get(pages.url("lead", 999_999)).status_code == 404


# --- across the pages ----------------------------------------------------------------------------


def test_it_shows_each_leads_failed_lines_on_the_queue_the_board_and_the_patient_list(
    coordinator_client, lead
):
    """The lists count in SQL what the lead page counts in Python: two here, not four."""
    prednisone = TherapyFactory(
        drug_class=DrugClass.GLUCOCORTICOID, counts_toward_failed_lines=False
    )
    PriorTreatmentLineFactory(patient=lead.patient, line_number=3, therapies=[prednisone])
    PriorTreatmentLineFactory(
        patient=lead.patient, line_number=4, reason_stopped=ReasonStopped.ONGOING
    )
    untreated = ReferralFactory(assigned_to=lead.assigned_to, stage=Stage.NEW)

    queue = pages.queue_rows(coordinator_client.get(pages.url("queue")))
    board = coordinator_client.get(pages.url("board"))
    patients = pages.text(coordinator_client.get(reverse("admin:referrals_patient_changelist")))

    assert pages.failed_lines_shown(coordinator_client.get(pages.url("lead", lead.pk))) == 2
    assert '<td data-label="Failed lines">2</td>' in queue["Dana Levi"]
    assert '<td data-label="Failed lines">0</td>' in queue[str(untreated.patient)]
    card = re.search(rf'data-referral="{lead.pk}".*?</article>', pages.text(board), re.S).group(0)
    assert "2 failed lines" in card
    row = re.search(r"<tr[^>]*>(?:(?!</tr>).)*Levi(?:(?!</tr>).)*</tr>", patients, re.S).group(0)
    assert re.search(r"field-failed_lines[^>]*>\s*2\s*<", row)


def test_it_links_each_queue_row_task_and_board_card_to_its_lead_and_counts_days_in_stage(
    coordinator_client, coordinator
):
    lead = ReferralFactory(
        assigned_to=coordinator,
        stage=Stage.SCREENING,
        stage_changed_at=timezone.now() - datetime.timedelta(days=12, hours=3),
    )
    TaskFactory(referral=lead, assignee=coordinator)
    lead_page = pages.url("lead", lead.pk)

    queue = pages.text(coordinator_client.get(pages.url("queue")))
    board = pages.text(coordinator_client.get(pages.url("board")))
    # Deployed below a sub-path, the links carry its prefix (which the test client never sets).
    board_path = pages.url("board")
    set_script_prefix("/crm/")
    try:
        prefixed = pages.text(coordinator_client.get(board_path))
    finally:
        set_script_prefix("/")

    assert queue.count(f'href="{lead_page}"') == 2  # the lead's row and its task
    card = re.search(rf'data-referral="{lead.pk}".*?</article>', board, re.S).group(0)
    assert f'href="{lead_page}"' in card
    assert "12 d in stage" in card
    assert f'href="/crm{lead_page}"' in prefixed
    assert coordinator_client.get(lead_page).status_code == 200


@pytest.mark.parametrize("value", ["", "sle", ["sle", "ra"]])
def test_it_renders_its_selects_exactly_as_unfolds(value):
    from unfold.widgets import UnfoldAdminSelectWidget

    from referrals.forms import SelectWidget

    choices = [
        ("", "—"),
        ("Connective tissue", [("sle", "Lupus & nephritis"), ("ssc", 'Systemic "sclerosis"')]),
        ("ra", "Rheumatoid arthritis"),
    ]

    def rendered(widget_class) -> str:
        widget = widget_class(attrs={"data-testid": "condition"}, choices=choices)
        widget.allow_multiple_selected = isinstance(value, list)
        html = widget.render("condition", value, attrs={"id": "id_condition"})
        return re.sub(r">\s+<", "><", html.strip())

    ours = rendered(SelectWidget)
    assert ours == rendered(UnfoldAdminSelectWidget)
    assert 'value="sle" selected' in ours or value == ""
