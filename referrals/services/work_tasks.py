"""The coordinators' tasks on a lead (named apart from `referrals/tasks.py`, the background
tasks).
"""

import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from referrals.models import Referral, Task
from referrals.services.common import ReferralError, _display_name, _event
from referrals.vocabulary import EventKind


@transaction.atomic
def task_create(
    *,
    referral: Referral,
    title: str,
    due_on: datetime.date,
    assignee: AbstractBaseUser,
    by: AbstractBaseUser | None,
) -> Task:
    if not title.strip():
        raise ReferralError("A task needs a title.")
    task = Task.objects.create(
        referral=referral, title=title.strip(), due_on=due_on, assignee=assignee, created_by=by
    )
    _event(
        referral,
        EventKind.TASK,
        by,
        f"Task for {_display_name(assignee)} due {due_on:%d %b %Y}: {task.title}",
    )
    return task


@transaction.atomic
def task_complete(*, task: Task, by: AbstractBaseUser | None) -> Task:
    if task.is_done:
        raise ReferralError("That task is already done.")
    task.done_at = timezone.now()
    task.save(update_fields=["done_at"])
    _event(task.referral, EventKind.TASK, by, f"Done: {task.title}")
    return task
