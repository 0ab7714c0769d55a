"""The coordinator pages as a user meets them, for the page tests (queue, board, lead page,
journey): reading what a page shows, and posting the lead page's forms the way the page does."""

import datetime
import html
import re

from django.urls import reverse
from django.utils import timezone

from referrals.models import (
    ClinicalFact,
    CriterionOverride,
    EventKind,
    FollowUpVisit,
    LeadDocument,
    PriorTreatmentLine,
    Referral,
    ReferralEvent,
    ScreeningRecord,
    Stage,
    Task,
    TreatmentOutcome,
)
from tests.factories import (
    ConditionFactory,
    PatientFactory,
    PriorTreatmentLineFactory,
    ScreeningRecordFactory,
)

HTMX = {"HX-Request": "true"}


def today() -> datetime.date:
    return timezone.localdate()


def url(name: str, *args) -> str:
    return reverse(f"referrals:{name}", args=args)


def page_url(page: str, referral: Referral) -> str:
    return url(page, referral.pk) if page == "lead" else url(page)


# --- the data behind the pages -----------------------------------------------------------


def refractory_patient(condition=None, **fields):
    """A patient with two failed lines (numbers 1 and 2)."""
    patient = PatientFactory(primary_condition=condition or ConditionFactory(), **fields)
    for number in (1, 2):
        PriorTreatmentLineFactory(patient=patient, line_number=number)
    return patient


def eligible_lead(lead: Referral, program) -> Referral:
    """`lead` moved to "eligible" with an eligible check against `program`."""
    Referral.objects.filter(pk=lead.pk).update(stage=Stage.ELIGIBLE)
    ScreeningRecordFactory(referral=lead, program=program)
    lead.refresh_from_db()
    return lead


def written(referral: Referral) -> tuple:
    """Everything an action could write, to compare before and after a refused request."""
    referral.refresh_from_db()
    return (
        referral.stage,
        referral.version,
        referral.assigned_to_id,
        referral.target_program_id,
        referral.next_action,
        ReferralEvent.objects.count(),
        Task.objects.count(),
        Task.objects.open().count(),
        ScreeningRecord.objects.count(),
        PriorTreatmentLine.objects.count(),
        LeadDocument.objects.count(),
        TreatmentOutcome.objects.count(),
        FollowUpVisit.objects.filter(done_on__isnull=False).count(),
        ClinicalFact.objects.count(),
        CriterionOverride.objects.count(),
    )


def stage_changes(referral: Referral) -> list[tuple[str, str]]:
    return list(
        referral.events.filter(kind=EventKind.STAGE_CHANGE)
        .order_by("created_at", "id")
        .values_list("from_stage", "to_stage")
    )


# --- reading the pages -------------------------------------------------------------------


def text(response) -> str:
    return response.content.decode()


def unescaped(response) -> str:
    return html.unescape(text(response))


def testid(response, testid: str, tag: str) -> str:
    """The element with `data-testid` (elements of the same tag nested inside included), or ""
    when the page does not show it."""
    markup = text(response)
    start = re.search(rf'<{tag}[^>]*data-testid="{testid}"', markup)
    if start is None:
        return ""
    depth = 0
    for tag_match in re.finditer(rf"<(/?){tag}\b[^>]*>", markup[start.start() :]):
        depth += -1 if tag_match.group(1) else 1
        if depth == 0:
            return markup[start.start() : start.start() + tag_match.end()]
    return ""


def plain(markup: str) -> str:
    """What a reader sees: tags dropped, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split()).replace(" :", ":")


def timeline(response) -> str:
    return plain(testid(response, "timeline", "ol"))


def column(response, stage: str) -> str:
    found = re.search(
        rf'<section class="crm-column" data-stage="{stage}".*?</section>', text(response), re.S
    )
    assert found, f"no {stage} column"
    return found.group(0)


def card_ids(column_html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-referral="(\d+)"', column_html)]


def board_count(response, stage: str) -> int:
    found = re.search(rf'data-testid="count-{stage}">(\d+)<', text(response))
    assert found, f"no count for {stage}"
    return int(found.group(1))


def queue_rows(response) -> dict[str, str]:
    """Patient name → the row's HTML, in the order the queue lists them."""
    table = testid(response, "queue", "table")
    rows = re.findall(r"<tr>.*?</tr>", table.split("<tbody>", 1)[-1], re.S)
    return {
        html.unescape(re.search(r'href="/[^"]+/leads/\d+/">([^<]+)</a>', row).group(1)): row
        for row in rows
    }


def failed_lines_shown(response) -> int:
    found = re.search(r'data-testid="failed-lines">(\d+)<', text(response))
    assert found, "no failed-line count"
    return int(found.group(1))


# --- posting the lead page's forms -------------------------------------------------------


def post(client, name: str, referral: Referral, **data):
    """Post one of the lead page's forms with the lead's current version, as the page does."""
    if "version" not in data and name not in {"lead_note", "lead_task"}:
        referral.refresh_from_db()
        data["version"] = referral.version
    return client.post(url(name, referral.pk), data)


def transition(client, referral: Referral, to_stage: str, **data):
    return post(client, "lead_transition", referral, to_stage=to_stage, **data)


def line_data(therapy, **changes) -> dict:
    """The treatment-line form's fields: line 3, one therapy, stopped for inadequate response."""
    data = {
        "line_number": 3,
        "therapies": [therapy.pk],
        "start_date": "2023-01-01",
        "end_date": "2023-06-30",
        "best_response": "partial",
        "reason_stopped": "inadequate_response",
        "notes": "",
    }
    data.update(changes)
    return data
