"""My queue: a coordinator's open leads, most urgent first, and their next tasks."""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Case, F, IntegerField, Q, Value, When
from django.utils import timezone

from referrals.models import Referral, Task
from referrals.selectors.common import PATIENT_NAME, _contact_overdue_before
from referrals.vocabulary import Stage

QUEUE_PAGE_SIZE = settings.LIST_PAGE_ROWS
# The queue shows a coordinator's next tasks; the task list, a link away, holds all of them.
QUEUE_TASK_LIMIT = 10

# What a queue row shows; the rest of the lead (consent text, intake message…) is not read. A
# template that used another field would cost a query per row, which the flat query-count tests
# catch.
QUEUE_ROW = (
    "stage",
    "created_at",
    "next_action",
    "next_action_due",
    "priority",
    "hospital_update_at",
    "coordinator_seen_at",
    *PATIENT_NAME,
)


@dataclass(frozen=True)
class QueueFilters:
    search: str = ""
    stage: str = ""
    only_overdue: bool = False


def _urgency(today: datetime.date) -> Case:
    """0 overdue, 1 due today, 2 later: a new lead not contacted in time is overdue too."""
    contact_overdue = Q(stage=Stage.NEW, created_at__lt=_contact_overdue_before(today))
    return Case(
        When(contact_overdue | Q(next_action_due__lt=today), then=Value(0)),
        When(next_action_due=today, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )


def queue_for(user: AbstractBaseUser, filters: QueueFilters, page: int = 1) -> list[Referral]:
    """The coordinator's open leads, overdue first, then due today, then by due date.

    Queries: the ids of the page, sorted within the (assigned_to, stage, next_action_due,
    priority, created_at) index without reading the leads; the page of leads (patient and
    condition joined, each with its failed-line count): two, for any number of leads.
    """
    now = timezone.now()
    today = timezone.localdate(now)
    leads = Referral.objects.open().for_coordinator(user).annotate(urgency=_urgency(today))
    if filters.stage:
        leads = leads.filter(stage=filters.stage)
    if filters.only_overdue:
        leads = leads.filter(urgency=0)
    if filters.search:
        leads = leads.matching(filters.search)
    order = ("urgency", F("next_action_due").asc(nulls_last=True), "-priority", "created_at", "id")
    offset = (page - 1) * QUEUE_PAGE_SIZE
    ids = list(
        leads.order_by(*order).values_list("pk", flat=True)[offset : offset + QUEUE_PAGE_SIZE + 1]
    )
    rows = (
        Referral.objects.filter(pk__in=ids)
        .select_related("patient__primary_condition")
        .only(*QUEUE_ROW)
        .with_failed_line_count()
    )
    by_id = {row.pk: row for row in rows}
    return [by_id[pk] for pk in ids]


def open_tasks_for(user: AbstractBaseUser) -> list[Task]:
    """The coordinator's next open tasks, earliest due first, one more than the queue shows
    (QUEUE_TASK_LIMIT) so it knows to link the rest: one query."""
    return list(
        Task.objects.open()
        .filter(assignee=user)
        .select_related("referral__patient")
        .only("title", "due_on", "referral__patient__first_name", "referral__patient__last_name")
        .order_by("due_on", "id")[: QUEUE_TASK_LIMIT + 1]
    )
