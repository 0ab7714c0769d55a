"""The documents received for a lead (consent forms, medical records), kept privately."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from referrals.documents import document_upload_to, private_storage
from referrals.models.display import QuickChoiceDisplay
from referrals.models.referrals import Referral
from referrals.vocabulary import DocumentKind


class LeadDocument(QuickChoiceDisplay, models.Model):
    """A consent form or medical record received for a lead. Append-only for coordinators.

    The file lives in the private storage (`settings.PRIVATE_STORAGE_ROOT`) under a random name
    and has no URL; `referrals:lead_document` streams it after the access check. The content type
    was sniffed from the file's first bytes, never taken from the browser.
    """

    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="documents")
    kind = models.CharField(max_length=24, choices=DocumentKind.choices)
    original_filename = models.CharField(
        max_length=200, help_text=_("The uploader's file name, cleaned for display.")
    )
    file = models.FileField(
        storage=private_storage, upload_to=document_upload_to, max_length=200, blank=True
    )
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField(help_text=_("In bytes."))
    sha256 = models.CharField(max_length=64, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        indexes = [models.Index(fields=["referral", "-uploaded_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(size__gt=0), name="lead_document_not_empty")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.original_filename}"

    @property
    def is_erased(self) -> bool:
        """The patient was erased: the file is gone and only kind, type, size and date remain."""
        return not self.file
