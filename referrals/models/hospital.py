"""The hospital side: the liaisons who answer for a hospital and the packets sent to it."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from referrals.models.referrals import Referral
from trials.models import Program, Trial


class LiaisonProfile(models.Model):
    """A hospital liaison: a staff user who sees and answers the referrals sent to one hospital.

    With no programs chosen the liaison covers every program of the hospital; otherwise only the
    chosen ones. `access.referrals_visible_to` is the one place this scope is applied.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="liaison_profile"
    )
    hospital = models.ForeignKey(
        "trials.Hospital", on_delete=models.PROTECT, related_name="liaisons"
    )
    programs = models.ManyToManyField(
        Program,
        blank=True,
        related_name="liaisons",
        help_text=_("Leave empty for every program of the hospital."),
    )

    class Meta:
        permissions = [
            ("work_hospital_referrals", "Can work the referrals sent to their hospital"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.hospital}"


class ReferralSnapshot(models.Model):
    """The referral packet as it was sent: taken when the lead moves to "referred".

    Patient summary, treatment lines, failed-line count and the latest eligibility check for
    the target, as plain JSON: the liaison reads this, never the live patient, so later edits
    by the coordinator do not change what the hospital was sent.
    """

    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="snapshots")
    program = models.ForeignKey(
        Program, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    trial = models.ForeignKey(
        Trial, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    data = models.JSONField()
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    taken_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-taken_at", "-id"]
        indexes = [
            models.Index(fields=["referral", "-taken_at"]),
            # The dashboard's screening accuracy: the period's referrals, by when they were sent.
            models.Index(fields=["taken_at"], name="snapshot_taken_idx"),
        ]

    def __str__(self) -> str:
        return f"Lead #{self.referral_id} as sent {self.taken_at:%d %b %Y}"
