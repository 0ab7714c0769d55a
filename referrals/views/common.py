"""What every coordinator page shares: access checks and the admin chrome's context."""

from collections.abc import Callable
from functools import wraps

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from referrals.models import Referral


def staff_page(permission: str) -> Callable:
    """Admin login for anonymous or non-staff users, 403 without `permission`."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.has_perm(permission):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return admin.site.admin_view(checked)

    return decorate


def _get_referral_for_staff(request: HttpRequest, pk: int) -> Referral:
    """The one way a coordinator page fetches a lead: 404 if missing, 403 without rights.

    Writes need `change_referral`; reading needs `view_referral` (checked by `staff_page`).
    """
    if request.method == "POST" and not request.user.has_perm("referrals.change_referral"):
        raise PermissionDenied
    return get_object_or_404(
        Referral.objects.select_related(
            "patient", "target_program__hospital", "target_trial", "assigned_to"
        ),
        pk=pk,
    )


def page_context(request: HttpRequest, title: str, **context) -> dict:
    return {**admin.site.each_context(request), "title": title, **context}
