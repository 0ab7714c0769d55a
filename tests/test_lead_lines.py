"""The patient's prior treatment lines on the lead page: added, refused, edited."""

import datetime

import pytest

from referrals.models import ReasonStopped
from tests import pages
from tests.factories import (
    PriorTreatmentLineFactory,
    TherapyFactory,
)

pytestmark = pytest.mark.django_db


def test_it_adds_a_treatment_line_and_counts_it_as_failed(coordinator_client, lead):
    rituximab = TherapyFactory(name="Rituximab")
    assert pages.failed_lines_shown(coordinator_client.get(pages.url("lead", lead.pk))) == 2

    response = coordinator_client.post(pages.url("lead_line", lead.pk), pages.line_data(rituximab))

    assert response.status_code == 302
    line = lead.patient.treatment_lines.get(line_number=3)
    assert list(line.therapies.all()) == [rituximab]
    page = coordinator_client.get(pages.url("lead", lead.pk))
    assert pages.failed_lines_shown(page) == 3
    assert "Rituximab" in pages.testid(page, "lines", "table")
    assert "Line 3 added: Rituximab (Inadequate response)" in pages.timeline(page)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"start_date": "2023-06-30", "end_date": "2023-01-01"},
            "A line cannot end before it starts.",
        ),
        ({"start_date": "FUTURE", "end_date": ""}, "The start date is in the future."),
        ({"end_date": "FUTURE"}, "The end date is in the future."),
        ({"line_number": 1}, "The patient already has a line 1."),
        ({"therapies": []}, "This field is required."),
    ],
)
def test_it_refuses_an_impossible_treatment_line(coordinator_client, lead, changes, message):
    future = (pages.today() + datetime.timedelta(days=10)).isoformat()
    changes = {key: future if value == "FUTURE" else value for key, value in changes.items()}
    before = pages.written(lead)

    response = coordinator_client.post(
        pages.url("lead_line", lead.pk), pages.line_data(TherapyFactory(), **changes)
    )

    assert response.status_code == 200
    assert message in pages.unescaped(response)
    assert pages.failed_lines_shown(response) == 2
    assert pages.written(lead) == before


def test_it_edits_a_treatment_line(coordinator_client, lead):
    line = lead.patient.treatment_lines.get(line_number=1)
    therapy = line.therapies.get()

    form = coordinator_client.get(pages.url("lead", lead.pk), {"edit_line": line.pk})

    assert "Edit line 1" in pages.text(form)
    assert f'name="line_id" value="{line.pk}"' in pages.text(form)
    assert f'<option value="{therapy.pk}" selected>' in pages.text(form)

    response = coordinator_client.post(
        pages.url("lead_line", lead.pk),
        pages.line_data(
            therapy,
            line_id=line.pk,
            line_number=1,
            reason_stopped=ReasonStopped.REMISSION,
            notes="Stopped in remission",
        ),
    )

    assert response.status_code == 302
    line.refresh_from_db()
    assert (line.reason_stopped, line.notes) == (ReasonStopped.REMISSION, "Stopped in remission")
    assert lead.patient.treatment_lines.count() == 2
    page = coordinator_client.get(pages.url("lead", lead.pk))
    assert pages.failed_lines_shown(page) == 1
    assert f"Line 1 updated: {therapy.name} (Remission)" in pages.timeline(page)


@pytest.mark.parametrize(
    ("line_id", "status"),
    [
        # Not an id: the post is a new line, refused for its empty fields.
        pytest.param("abc", 200, id="abc"),
        pytest.param("²", 200, id="²"),
        # An id, of no line of this patient's: like another patient's line.
        pytest.param("9" * 23, 404, id="9" * 23),
    ],
)
def test_it_offers_a_new_line_when_the_line_to_edit_is_unreadable(
    coordinator_client, lead, line_id, status
):
    # "²".isdigit() is true but int("²") fails: both used to answer 500.
    before = pages.written(lead)

    form = coordinator_client.get(pages.url("lead", lead.pk), {"edit_line": line_id})
    response = coordinator_client.post(pages.url("lead_line", lead.pk), {"line_id": line_id})

    assert form.status_code == 200
    assert "Add a line" in pages.text(form)
    assert response.status_code == status
    if status == 200:
        assert "Please correct the errors below." in pages.unescaped(response)
        assert "Add a line" in pages.text(response)
    assert pages.written(lead) == before


def test_it_never_edits_another_patients_line(coordinator_client, lead):
    other_line = PriorTreatmentLineFactory(notes="Someone else's line")
    before = pages.written(lead)

    form = coordinator_client.get(pages.url("lead", lead.pk), {"edit_line": other_line.pk})
    response = coordinator_client.post(
        pages.url("lead_line", lead.pk), pages.line_data(TherapyFactory(), line_id=other_line.pk)
    )

    assert "Add a line" in pages.text(form)
    assert f'name="line_id" value="{other_line.pk}"' not in pages.text(form)
    assert response.status_code == 404
    assert pages.written(lead) == before
    other_line.refresh_from_db()
    assert other_line.notes == "Someone else's line"
