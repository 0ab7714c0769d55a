"""The e-mails a submission sends through the task worker: the coordinator's (English) and
the submitter's acknowledgement (their language, no health details); a failing mail server
never loses the lead.

Tests that need the project's own Hebrew, Russian and Arabic catalogues
(`locale/*/LC_MESSAGES/django.mo`) say so in their docstring.
"""

import smtplib

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import translation
from django_tasks_db.models import DBTaskResult

from referrals.models import (
    Referral,
    Source,
    Stage,
)
from referrals.tasks import coordinator_notify, submitter_acknowledge
from tests.intake import (
    ENGLISH_ACK_BODY,
    ENGLISH_ACK_SUBJECT,
    submit,
    valid_post,
    written,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


def _submitted_lead(client, condition, /, **fields):
    response = submit(client, valid_post(condition, **fields))
    assert response.status_code == 302
    return Referral.objects.select_related("patient").get(source=Source.WEB_FORM)


def test_it_mails_the_coordinator_in_english(client, lupus, coordinator):
    referral = _submitted_lead(client, lupus)

    with translation.override("he"):  # whatever language the worker happens to be in
        assert coordinator_notify.call(referral_id=referral.pk) is True

    [message] = mail.outbox
    assert message.to == [coordinator.email]
    assert message.subject == f"New lead #{referral.pk} from the web form"
    assert f"Lead #{referral.pk}: Dana Levi" in message.body
    assert "Diagnosis: Systemic lupus erythematosus" in message.body
    assert "Filled in by: A relative or carer (Yossi Levi)" in message.body
    assert "Contact by: WhatsApp, language Hebrew" in message.body
    assert reverse("referrals:lead", args=[referral.pk]) in message.body
    assert "Possible duplicate" not in message.body


@pytest.mark.parametrize("lang", ["he", "ru", "ar"])
def test_it_acknowledges_in_the_submitters_language_without_health_details(
    client, lupus, rituximab, coordinator, lang
):
    referral = _submitted_lead(
        client,
        lupus,
        preferred_language=lang,
        **{"treatments-0-therapy": str(rituximab.pk), "treatments-0-outcome": "did_not_help"},
    )

    assert submitter_acknowledge.call(referral_id=referral.pk) is True

    [message] = mail.outbox
    assert message.to == ["dana.levi@example.org"]
    with translation.override(lang):
        assert message.subject == translation.gettext(ENGLISH_ACK_SUBJECT)
    text = f"{message.subject}\n{message.body}"
    assert "Dana" in message.body
    for private in [
        "lupus",
        "волчанка",
        "זאבת",
        "Rituximab",
        "nephritis",
        "+972547654321",
        "054-765-4321",
        "7654321",
        "Levi",
    ]:
        assert private.lower() not in text.lower()


@pytest.mark.parametrize("lang", ["he", "ru", "ar"])
def test_it_translates_the_acknowledgement_once_the_catalogues_exist(client, lupus, lang):
    """Needs locale/<lang>/LC_MESSAGES/django.mo."""
    referral = _submitted_lead(client, lupus, preferred_language=lang)

    submitter_acknowledge.call(referral_id=referral.pk)

    [message] = mail.outbox
    with translation.override(lang):
        subject = translation.gettext(ENGLISH_ACK_SUBJECT)
        thanks = translation.gettext(ENGLISH_ACK_BODY)
    assert (subject, thanks) != (ENGLISH_ACK_SUBJECT, ENGLISH_ACK_BODY)  # the catalogue has them
    assert message.subject == subject
    assert thanks in message.body
    assert "Thank you for contacting us" not in message.body


def test_it_does_not_acknowledge_without_an_email_address(client, lupus, coordinator):
    referral = _submitted_lead(client, lupus, email="")

    assert submitter_acknowledge.call(referral_id=referral.pk) is False
    assert coordinator_notify.call(referral_id=referral.pk) is True
    assert [m.to for m in mail.outbox] == [[coordinator.email]]


# --- a failing mail server -----------------------------------------------------------------------


def test_it_never_loses_the_lead_when_the_mail_server_fails(
    client, lupus, coordinator, monkeypatch, task_worker
):
    def refuse(*args, **kwargs):
        raise smtplib.SMTPException("421 mail server unavailable")

    monkeypatch.setattr("referrals.tasks.send_mail", refuse)

    response = submit(client, valid_post(lupus))

    assert response.status_code == 302
    referral = Referral.objects.get()
    with pytest.raises(smtplib.SMTPException):
        coordinator_notify.call(referral_id=referral.pk)
    with pytest.raises(smtplib.SMTPException):
        submitter_acknowledge.call(referral_id=referral.pk)

    # The worker records each e-mail task as failed; the lead is untouched.
    for result in DBTaskResult.objects.all():
        task_worker.run_task(result)
    results = DBTaskResult.objects.all()
    assert len(results) == 2
    assert {(r.status, r.exception_class_path) for r in results} == {
        ("FAILED", "smtplib.SMTPException")
    }
    assert mail.outbox == []
    assert written() == (1, 1, 0)
    referral.refresh_from_db()
    assert (referral.stage, referral.assigned_to) == (Stage.NEW, coordinator)
    assert referral.events.count() == 2
