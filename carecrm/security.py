"""Sign-in hardening for the staff site: session lifetimes and two-factor sign-in.

- Idle timeout: a session unused for `SESSION_IDLE_SECONDS` (30 minutes) is ended. The last
  activity is written at most once a minute, not on every request.
- Absolute timeout: a session older than `SESSION_ABSOLUTE_SECONDS` (12 hours) is ended,
  however active it was.
- Two-factor sign-in is django-two-factor-auth's flow, shown in the admin's look. Its sign-in
  page is a wizard: the password step only remembers who passed it, and a user with a device is
  signed in once the code step (or a recovery code) passes. A password alone therefore never
  opens a session, so enrolment cannot be used to skip the code. With `OTP_REQUIRED` (on in
  production) a signed-in staff user without a device is sent to set one up, and a session that
  is not verified although the account has a device (one signed in before this flow) is ended.
"""

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.models import Session
from django.db import transaction
from django.dispatch import receiver
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django_otp import devices_for_user, user_has_device
from two_factor import views as two_factor_views
from unfold.forms import AuthenticationForm
from unfold.widgets import BASE_INPUT_CLASSES

logger = logging.getLogger(__name__)

AUTHENTICATED_AT = "carecrm_authenticated_at"
LAST_SEEN = "carecrm_last_seen"
ACTIVITY_WRITE_SECONDS = 60
WRONG_SETUP_CODE = "That code did not match. Check the time on your phone and try the next code."


@receiver(user_logged_in)
def _remember_sign_in_time(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[AUTHENTICATED_AT] = request.session[LAST_SEEN] = int(time.time())


class SessionLifetimeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = int(time.time())
            started = request.session.get(AUTHENTICATED_AT, now)
            last_seen = request.session.get(LAST_SEEN, now)
            if now - started > settings.SESSION_ABSOLUTE_SECONDS:
                return _sign_out(request, "Your session ended after 12 hours.")
            if now - last_seen > settings.SESSION_IDLE_SECONDS:
                return _sign_out(request, "You were signed out after 30 minutes without activity.")
            if now - last_seen >= ACTIVITY_WRITE_SECONDS or LAST_SEEN not in request.session:
                request.session[LAST_SEEN] = now
                request.session.setdefault(AUTHENTICATED_AT, now)
        return self.get_response(request)


def _sign_out(request: HttpRequest, reason: str) -> HttpResponse:
    logout(request)
    messages.info(request, f"{reason} Please sign in again.")
    return redirect(f"{reverse('admin:login')}?next={request.path}")


def _enrolment_paths() -> set[str]:
    """What a signed-in user without a device may open before setting one up."""
    return {
        reverse("two_factor:setup"),
        reverse("two_factor:qr"),
        reverse("admin:logout"),
        reverse("admin:login"),
    }


class StaffTwoFactorMiddleware:
    """Keeps staff sessions without a verified second factor away from the staff site."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            settings.OTP_REQUIRED
            and user.is_authenticated
            and user.is_staff
            and not user.is_verified()
            and request.path.startswith("/admin/")
        ):
            if user_has_device(user):
                # Only the sign-in page's code step verifies an account that has a device.
                return _sign_out(request, "This session needs two-factor sign-in.")
            if request.path not in _enrolment_paths():
                return redirect(f"{reverse('two_factor:setup')}?next={request.get_full_path()}")
        return self.get_response(request)


# --- django-two-factor-auth's views in the admin's chrome -----------------------------------


def _unfold_inputs(form: Form) -> Form:
    """Give the library's plain inputs the admin's look (the auth form has it already), and
    call its "token" what the user types: a code."""
    for name, field in form.fields.items():
        if field.widget.input_type in {"text", "number", "password"}:
            field.widget.attrs.setdefault("class", " ".join(BASE_INPUT_CLASSES))
        if name in {"token", "otp_token"}:
            field.label = "Code"
    return form


class AdminChrome:
    """The admin site's context (Unfold's layout, sidebar, titles) for a two-factor page."""

    title = "Two-factor sign-in"

    def get_context_data(self, *args, **kwargs) -> dict:
        context = super().get_context_data(*args, **kwargs)
        return {**admin.site.each_context(self.request), "title": self.title, **context}


class LoginView(AdminChrome, two_factor_views.LoginView):
    title = "Sign in"
    redirect_authenticated_user = True
    form_list = (
        (two_factor_views.LoginView.AUTH_STEP, AuthenticationForm),
        *two_factor_views.LoginView.form_list[1:],
    )

    def get_form(self, step=None, **kwargs):
        return _unfold_inputs(super().get_form(step, **kwargs))


class SetupView(AdminChrome, two_factor_views.SetupView):
    """Enrolment for an account without a device. Adding or replacing one needs a verified
    session (remove the old one on the security page first) or an admin's reset."""

    title = "Set up two-factor sign-in"

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.user.is_authenticated and user_has_device(request.user):
            return redirect("two_factor:profile")
        return super().dispatch(request, *args, **kwargs)

    def get_form(self, step=None, **kwargs):
        form = _unfold_inputs(super().get_form(step, **kwargs))
        form.error_messages = {"invalid_token": WRONG_SETUP_CODE}
        return form


class QRGeneratorView(two_factor_views.QRGeneratorView):
    def get_issuer(self) -> str:
        return settings.OTP_TOTP_ISSUER


class SetupCompleteView(AdminChrome, two_factor_views.SetupCompleteView):
    title = "Two-factor sign-in is set up"


class BackupTokensView(AdminChrome, two_factor_views.BackupTokensView):
    title = "Recovery codes"


class ProfileView(AdminChrome, two_factor_views.ProfileView):
    title = "Two-factor sign-in"


class DisableView(AdminChrome, two_factor_views.DisableView):
    title = "Remove two-factor sign-in"

    def get_form(self, form_class=None):
        return _unfold_inputs(super().get_form(form_class))


@transaction.atomic
def user_two_factor_reset(*, user: AbstractBaseUser, by: AbstractBaseUser) -> int:
    """Remove every device and recovery code of `user` (a lost phone), in the admin's log.

    The user's sessions end too: one verified with the lost phone must not outlive it. The next
    sign-in with the password leads to setting up a new device.
    """
    removed = 0
    for device in devices_for_user(user, confirmed=None):
        device.delete()
        removed += 1
    _end_sessions_of(user)
    LogEntry.objects.log_actions(
        user_id=by.pk,
        queryset=[user],
        action_flag=CHANGE,
        change_message=f"Two-factor sign-in reset: {removed} device(s) and recovery codes removed.",
        single_object=True,
    )
    logger.warning("Two-factor sign-in of %s reset by %s", user.get_username(), by.get_username())
    return removed


def _end_sessions_of(user: AbstractBaseUser) -> None:
    # Sessions are stored by key, not by user: read the unexpired ones (a staff site has a few
    # hundred at most) to find the user's.
    theirs = [
        session.pk
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if session.get_decoded().get(SESSION_KEY) == str(user.pk)
    ]
    Session.objects.filter(pk__in=theirs).delete()
