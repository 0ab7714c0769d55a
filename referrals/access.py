"""Who may see or change what: the one home of every access decision on referrals.

Staff pages (`views.common.staff_page`, `liaison_page`, `_get_referral_for_staff`), the
services that act for a hospital, and the referral admin's `get_queryset` all ask here. A
hospital liaison is a user holding `LIAISON_PERMISSION`; they see only the referrals sent to
their hospital (or the programs chosen in their profile) and make only the hospital's moves.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef, Q, QuerySet

from referrals import pipeline
from referrals.models import LiaisonProfile, Referral, ReferralSnapshot
from referrals.vocabulary import PRE_REFERRAL_STAGES

# The one permission the Hospital liaison role holds (`roles.ROLES`).
LIAISON_PERMISSION = "referrals.work_hospital_referrals"


def is_liaison(user: AbstractBaseUser) -> bool:
    """A hospital liaison: holds the liaison permission (superusers hold every permission, so
    they are never taken for one). Reads the permission cache, so it costs no query."""
    return (
        user.is_authenticated
        and user.is_active
        and not user.is_superuser
        and user.has_perm(LIAISON_PERMISSION)
    )


def liaison_profile_of(user: AbstractBaseUser) -> LiaisonProfile | None:
    """The user's liaison profile with its programs, cached on the user for the request."""
    if not hasattr(user, "_liaison_profile_cache"):
        user._liaison_profile_cache = (
            LiaisonProfile.objects.select_related("hospital")
            .prefetch_related("programs")
            .filter(user_id=user.pk)
            .first()
        )
    return user._liaison_profile_cache


def may_open_staff_page(user: AbstractBaseUser, permission: str) -> bool:
    """A staff page needing `permission`; a liaison opens only their own pages, whatever other
    permissions they were given by mistake."""
    if not user.has_perm(permission):
        return False
    return permission == LIAISON_PERMISSION or not is_liaison(user)


def may_open_liaison_pages(user: AbstractBaseUser) -> bool:
    return is_liaison(user) and liaison_profile_of(user) is not None


def may_change_referrals(user: AbstractBaseUser) -> bool:
    """Writes on a lead: `change_referral`, or being a liaison (their scope is checked with the
    lead: `referrals_visible_to`)."""
    return user.has_perm("referrals.change_referral") or is_liaison(user)


def role_of(user: AbstractBaseUser | None) -> pipeline.Role:
    """Who is moving a lead: a liaison always moves as one."""
    if user is not None and is_liaison(user):
        return pipeline.Role.LIAISON
    return pipeline.Role.COORDINATOR


def _liaison_scope(profile: LiaisonProfile) -> Q:
    """Referrals sent to the liaison's hospital (or chosen programs) and not withdrawn.

    Sent means: referred at some point (`referred_at`, cleared if the coordinator withdraws the
    referral), past the pre-referral stages, and a snapshot exists for the very program it now
    targets, so a lead whose target was changed after referral is not shown to the new hospital.
    """
    sent_to_target = ReferralSnapshot.objects.filter(
        referral=OuterRef("pk"), program=OuterRef("target_program")
    )
    scope = Q(target_program__hospital_id=profile.hospital_id)
    program_ids = [program.pk for program in profile.programs.all()]
    if program_ids:
        scope &= Q(target_program_id__in=program_ids)
    return (
        scope
        & Q(referred_at__isnull=False)
        & ~Q(stage__in=PRE_REFERRAL_STAGES)
        & Q(Exists(sent_to_target))
    )


def referrals_visible_to(
    user: AbstractBaseUser, queryset: QuerySet[Referral] | None = None
) -> QuerySet[Referral]:
    """The referrals `user` may see: a liaison only those sent to their hospital, anyone who may
    view referrals all of them, everybody else none."""
    leads = Referral.objects.all() if queryset is None else queryset
    if not user.is_authenticated or not user.is_active:
        return leads.none()
    if is_liaison(user):
        profile = liaison_profile_of(user)
        return leads.none() if profile is None else leads.filter(_liaison_scope(profile))
    if user.has_perm("referrals.view_referral"):
        return leads
    return leads.none()


def may_see_referral(user: AbstractBaseUser | None, referral: Referral) -> bool:
    return user is not None and referrals_visible_to(user).filter(pk=referral.pk).exists()
