"""The read-access log: who looked at or exported which lead or patient."""

from django.contrib.auth.models import AbstractBaseUser

from referrals.models import AccessLog, Patient, Referral


def access_log_record(
    *,
    user: AbstractBaseUser | None,
    action: str,
    referral: Referral | None = None,
    patient: Patient | None = None,
    detail: str = "",
    ip_address: str | None = None,
) -> AccessLog:
    """Append one line to the read-access log (lead and patient views, exports, imports)."""
    return AccessLog.objects.create(
        user=user,
        action=action,
        referral=referral,
        patient=patient or (referral.patient if referral else None),
        detail=detail[:500],
        ip_address=ip_address,
    )
