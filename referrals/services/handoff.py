"""The hand-off: the referral packet sent to the hospital, kept with the lead's documents."""

import hashlib

from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from referrals import documents
from referrals.models import LeadDocument, Referral
from referrals.services.common import ReferralError, _event
from referrals.vocabulary import DocumentKind, EventKind


@transaction.atomic
def referral_packet_send(
    *, referral: Referral, pdf: bytes, sent_to: str, by: AbstractBaseUser | None
) -> LeadDocument:
    """Keep the referral packet's PDF with the lead's documents and record that it was sent.

    The PDF goes to the private storage like an uploaded document (kind "referral letter"); if
    anything fails after the file is written, the file is removed again.
    """
    current = Referral.objects.select_related("target_program__hospital", "target_trial").get(
        pk=referral.pk
    )
    target = current.target_program or current.target_trial
    if target is None:
        raise ReferralError("Choose the target program or trial before sending the packet.")
    if not sent_to.strip():
        raise ReferralError("Say whom the packet was sent to (a name, an address or a fax).")
    if not pdf.startswith(documents.SIGNATURES["application/pdf"]):
        raise ReferralError("The packet could not be rendered as a PDF; nothing was sent.")
    today = timezone.localdate()
    document = LeadDocument(
        referral=current,
        kind=DocumentKind.REFERRAL_LETTER,
        original_filename=f"referral-packet-lead-{current.pk}-{today:%Y-%m-%d}.pdf",
        content_type="application/pdf",
        size=len(pdf),
        sha256=hashlib.sha256(pdf).hexdigest(),
        uploaded_by=by,
    )
    document.file.save("packet", ContentFile(pdf), save=False)
    try:
        document.save()
        _event(
            current,
            EventKind.PACKET_SENT,
            by,
            f"Referral packet for {target} sent to {sent_to.strip()}; "
            f"kept as {document.original_filename} ({documents.describe_size(document.size)}).",
        )
    except BaseException:
        document.file.storage.delete(document.file.name)
        raise
    return document
