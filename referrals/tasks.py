"""Background work: the e-mails around a new lead, run by the django-tasks-db worker.

Each e-mail is its own task, so a failure of one (a bad address, a mail server down) neither
blocks the other nor touches the lead, which was committed before either was queued.
"""

from django.core.mail import send_mail
from django.tasks import task
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from referrals.models import Referral, ReferralEvent


@task()
def coordinator_notify(*, referral_id: int) -> bool:
    """Tell the assigned coordinator a lead arrived; staff mail is in English."""
    referral = Referral.objects.select_related("patient__primary_condition", "assigned_to").get(
        pk=referral_id
    )
    coordinator = referral.assigned_to
    if coordinator is None or not coordinator.email:
        return False
    with translation.override("en"):
        body = render_to_string(
            "intake/email/coordinator_notify.txt",
            {"referral": referral, "lead_path": reverse("referrals:lead", args=[referral.pk])},
        )
        send_mail(f"New lead #{referral.pk} from the web form", body, None, [coordinator.email])
    return True


@task()
def submitter_acknowledge(*, referral_id: int) -> bool:
    """Thank the submitter, in the language they chose, without repeating health details."""
    referral = Referral.objects.select_related("patient").get(pk=referral_id)
    if not referral.patient.email:
        return False
    with translation.override(referral.patient.preferred_language):
        subject = translation.gettext("We received your request")
        body = render_to_string("intake/email/acknowledge.txt", {"referral": referral})
        send_mail(subject, body, None, [referral.patient.email])
    return True


@task()
def hospital_update_notify(*, referral_id: int, event_ids: list[int]) -> bool:
    """Tell the assigned coordinator what the hospital did on a referral (no health details)."""
    referral = Referral.objects.select_related("assigned_to", "target_program__hospital").get(
        pk=referral_id
    )
    coordinator = referral.assigned_to
    if coordinator is None or not coordinator.email:
        return False
    events = list(
        ReferralEvent.objects.filter(pk__in=event_ids, referral=referral)
        .select_related("author")
        .order_by("created_at", "id")
    )
    hospital = referral.target_program.hospital if referral.target_program_id else None
    with translation.override("en"):
        body = render_to_string(
            "referrals/email/hospital_update.txt",
            {
                "referral": referral,
                "hospital": hospital,
                "events": events,
                "lead_path": reverse("referrals:lead", args=[referral.pk]),
            },
        )
        send_mail(
            f"Lead #{referral.pk}: update from {hospital or 'the hospital'}",
            body,
            None,
            [coordinator.email],
        )
    return True
