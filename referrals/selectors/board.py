"""The pipeline board: a column per open stage, its count and its longest-waiting cards."""

from dataclasses import dataclass

from django.db.models import Count

from referrals.models import Referral
from referrals.selectors.common import PATIENT_NAME, coordinators
from referrals.vocabulary import OPEN_STAGES, Stage
from trials.models import Condition, Program

BOARD_COLUMN_LIMIT = 25

# What a board card shows; the rest of the lead (consent text, intake message…) is not read. A
# template that used another field would cost a query per row, which the flat query-count tests
# catch.
BOARD_CARD = (
    "stage",
    "version",
    "stage_changed_at",
    *PATIENT_NAME,
    "assigned_to__first_name",
    "assigned_to__last_name",
    "assigned_to__username",
)


@dataclass(frozen=True)
class BoardFilters:
    coordinator_id: int | None = None
    condition_id: int | None = None
    program_id: int | None = None


@dataclass
class BoardColumn:
    stage: Stage
    count: int
    cards: list[Referral]

    @property
    def hidden(self) -> int:
        return self.count - len(self.cards)


def board_columns(filters: BoardFilters) -> list[BoardColumn]:
    """A column per open stage with its count and its longest-waiting cards.

    Queries: counts per stage (one aggregate), the ids of each column's first cards (one small
    query per open stage, read in order from the (stage, stage_changed_at, id) index, so a
    column costs the same with 100,000 leads as with 1,000), those cards with their
    failed-line counts: twelve in all.
    """
    leads = Referral.objects.filter(stage__in=OPEN_STAGES)
    if filters.coordinator_id:
        leads = leads.filter(assigned_to_id=filters.coordinator_id)
    if filters.condition_id:
        leads = leads.filter(patient__primary_condition_id=filters.condition_id)
    if filters.program_id:
        leads = leads.filter(target_program_id=filters.program_id)
    counts = dict(leads.values_list("stage").annotate(n=Count("id")).order_by())
    first_cards: list[int] = []
    for stage in OPEN_STAGES:
        column = leads.filter(stage=stage).order_by("stage_changed_at", "id")
        first_cards += column.values_list("pk", flat=True)[:BOARD_COLUMN_LIMIT]
    cards = (
        Referral.objects.filter(pk__in=first_cards)
        .select_related("patient__primary_condition", "assigned_to")
        .only(*BOARD_CARD)
        .with_failed_line_count()
        .order_by("stage_changed_at", "id")
    )
    by_stage: dict[str, list[Referral]] = {stage: [] for stage in OPEN_STAGES}
    for card in cards:
        by_stage[card.stage].append(card)
    return [
        BoardColumn(stage=stage, count=counts.get(stage, 0), cards=by_stage[stage])
        for stage in OPEN_STAGES
    ]


def board_filter_choices() -> dict[str, list]:
    return {
        "coordinators": list(coordinators()),
        "conditions": list(Condition.objects.only("id", "name")),
        "programs": list(Program.objects.select_related("hospital")),
    }
