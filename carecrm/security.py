"""Sign-in hardening for the staff site: session lifetimes and required two-factor sign-in.

- Idle timeout: a session unused for `SESSION_IDLE_SECONDS` (30 minutes) is ended. The last
  activity is written at most once a minute, not on every request.
- Absolute timeout: a session older than `SESSION_ABSOLUTE_SECONDS` (12 hours) is ended,
  however active it was.
- Two-factor: with `OTP_REQUIRED` (on in production) a staff user who has not confirmed a TOTP
  token in this session is sent to verify one, or to set up a device first.
"""

import base64
import io
import time
from collections.abc import Callable

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django_otp import login as otp_login
from django_otp import user_has_device
from django_otp.forms import OTPTokenForm
from django_otp.plugins.otp_totp.models import TOTPDevice

AUTHENTICATED_AT = "carecrm_authenticated_at"
LAST_SEEN = "carecrm_last_seen"
ACTIVITY_WRITE_SECONDS = 60


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
                return self._end(request, "Your session ended after 12 hours.")
            if now - last_seen > settings.SESSION_IDLE_SECONDS:
                return self._end(request, "You were signed out after 30 minutes without activity.")
            if now - last_seen >= ACTIVITY_WRITE_SECONDS or LAST_SEEN not in request.session:
                request.session[LAST_SEEN] = now
                request.session.setdefault(AUTHENTICATED_AT, now)
        return self.get_response(request)

    @staticmethod
    def _end(request: HttpRequest, reason: str) -> HttpResponse:
        logout(request)
        messages.info(request, f"{reason} Please sign in again.")
        return redirect(f"{reverse('admin:login')}?next={request.path}")


def _exempt(path: str) -> bool:
    exempt = [reverse("twofactor:verify"), reverse("twofactor:setup"), reverse("admin:logout")]
    return path in exempt or path.startswith(settings.STATIC_URL) or not path.startswith("/admin/")


class StaffTwoFactorMiddleware:
    """Sends staff without a verified second factor to verify or set one up."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        needs_factor = (
            settings.OTP_REQUIRED
            and user.is_authenticated
            and user.is_staff
            and not user.is_verified()
            and not _exempt(request.path)
        )
        if needs_factor:
            target = "twofactor:verify" if user_has_device(user) else "twofactor:setup"
            return redirect(f"{reverse(target)}?next={request.get_full_path()}")
        return self.get_response(request)


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    return candidate if candidate.startswith("/") and not candidate.startswith("//") else "/admin/"


@login_required(login_url="admin:login")
def verify(request: HttpRequest) -> HttpResponse:
    form = OTPTokenForm(request.user, request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        otp_login(request, form.get_user().otp_device)
        return redirect(_next_url(request))
    return render(
        request,
        "twofactor/verify.html",
        {"form": form, "next": _next_url(request), "title": "Two-factor sign-in"},
    )


@login_required(login_url="admin:login")
def setup(request: HttpRequest) -> HttpResponse:
    """Add a TOTP device: scan the QR code in an authenticator app, confirm one code."""
    device, _created = TOTPDevice.objects.get_or_create(
        user=request.user, confirmed=False, defaults={"name": "Authenticator app"}
    )
    error = ""
    if request.method == "POST":
        token = request.POST.get("token", "").strip()
        if token.isdecimal() and device.verify_token(token):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            otp_login(request, device)
            messages.success(request, "Two-factor sign-in is set up.")
            return redirect(_next_url(request))
        error = "That code did not match. Check the time on your phone and try the next code."
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage)
    buffer = io.BytesIO()
    image.save(buffer)
    return render(
        request,
        "twofactor/setup.html",
        {
            "qr_data_uri": "data:image/svg+xml;base64,"
            + base64.b64encode(buffer.getvalue()).decode(),
            "secret": base64.b32encode(device.bin_key).decode(),
            "error": error,
            "next": _next_url(request),
            "title": "Set up two-factor sign-in",
        },
    )
