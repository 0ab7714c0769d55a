import datetime

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from referrals import pipeline, selectors
from referrals.forms import QueueFilterForm
from referrals.selectors import QUEUE_PAGE_SIZE, QUEUE_TASK_LIMIT, QueueFilters
from referrals.views.common import page_context, staff_page


@staff_page("referrals.view_referral")
def queue(request: HttpRequest) -> HttpResponse:
    form = QueueFilterForm(request.GET or None)
    filters, page = QueueFilters(), 1
    if form.is_valid():
        data = form.cleaned_data
        filters = QueueFilters(search=data["q"], stage=data["stage"], only_overdue=data["overdue"])
        page = data["page"] or 1
    leads = selectors.queue_for(request.user, filters, page=page)
    now = timezone.now()
    today = timezone.localdate(now)
    rows = [{"lead": lead, "sla": _sla(lead, today)} for lead in leads[:QUEUE_PAGE_SIZE]]
    query = request.GET.copy()
    query.pop("page", None)
    tasks = selectors.open_tasks_for(request.user)
    return render(
        request,
        "referrals/queue.html",
        page_context(
            request,
            "My queue",
            form=form,
            rows=rows,
            tasks=tasks[:QUEUE_TASK_LIMIT],
            all_tasks_url=_open_tasks_url(request.user) if len(tasks) > QUEUE_TASK_LIMIT else "",
            today=today,
            now=now,
            page=page,
            has_next=len(leads) > QUEUE_PAGE_SIZE,
            query=query.urlencode(),
        ),
    )


def _open_tasks_url(user) -> str:
    """The task list, filtered to the coordinator's open tasks (earliest due first)."""
    query = urlencode({"assignee__id__exact": user.pk, "done_at__isempty": "1"})
    return f"{reverse('admin:referrals_task_changelist')}?{query}"


def _sla(lead, today: datetime.date) -> str:
    if pipeline.is_contact_overdue(lead.stage, timezone.localdate(lead.created_at), today):
        return "not contacted"
    if lead.next_action_due and lead.next_action_due < today:
        return "overdue"
    if lead.next_action_due == today:
        return "due today"
    return ""
