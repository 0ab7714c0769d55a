"""What every request passes before any view reads it: how large it is, in what charset.

`RequestGuardMiddleware` refuses a body by its declared Content-Length before anything reads it
(CSRF checking parses the body, so a check in the view comes too late): above
`PUBLIC_MAX_BODY_BYTES` for anyone who is not signed-in staff, above `STAFF_MAX_BODY_BYTES` for
staff. Uploads keep their own, lower limits and explain them on their page. A body in any charset
but UTF-8 gets a 400: every form here is served as UTF-8, and Django would otherwise decode it in
whatever the client claims.

No page may be framed (`X-Frame-Options: DENY`, CSP `frame-ancestors 'none'`), the admin's list
and change pages included, which Unfold marks SAMEORIGIN, with one exception: the admin's
pop-up forms (`?_popup=1`), which Unfold opens in a frame of the admin's own page when a user
adds, changes or looks up a related record (the "+" next to a hospital on a program). Those
only our own pages may frame (SAMEORIGIN, `frame-ancestors 'self'`).
"""

from collections.abc import Callable

from django.conf import settings
from django.contrib.admin.options import IS_POPUP_VAR
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.csp import CSP
from django.utils.http import parse_header_parameters
from django.utils.translation import gettext_lazy as _

from referrals.views.intake import refusal

UTF8_CHARSETS = {"utf-8", "utf8", "us-ascii", "ascii"}


def declared_body_bytes(request: HttpRequest) -> int | None:
    """The Content-Length as a number of bytes; None if it is not a plain decimal number."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isascii() or not declared.isdecimal() or len(declared) > 18:
        return None
    return int(declared)


def _declared_charset(request: HttpRequest) -> str | None:
    _content_type, params = parse_header_parameters(request.META.get("CONTENT_TYPE", ""))
    return params.get("charset")


class RequestGuardMiddleware:
    """Sits after authentication so it knows who is asking; runs before any view reads the body."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self._refusal(request) or self.get_response(request)
        if IS_POPUP_VAR in request.GET and request.path.startswith(reverse("admin:index")):
            response["X-Frame-Options"] = "SAMEORIGIN"
            response._csp_config = {**settings.SECURE_CSP, "frame-ancestors": [CSP.SELF]}
        else:
            response["X-Frame-Options"] = "DENY"
        return response

    def _refusal(self, request: HttpRequest) -> HttpResponse | None:
        charset = _declared_charset(request)
        if charset is not None and charset.strip().lower() not in UTF8_CHARSETS:
            return refusal(
                request,
                status=400,
                title=_("Unreadable form"),
                message=_(
                    "The form was sent in a character set we do not accept. Please try again."
                ),
            )
        declared = declared_body_bytes(request)
        if declared is not None and declared <= settings.PUBLIC_MAX_BODY_BYTES:
            return None
        staff = request.user.is_authenticated and request.user.is_staff
        if declared is None or declared > (
            settings.STAFF_MAX_BODY_BYTES if staff else settings.PUBLIC_MAX_BODY_BYTES
        ):
            return refusal(
                request,
                status=413,
                title=_("Too much data"),
                message=_(
                    "The form was too large to accept. Please shorten the message and try again."
                ),
            )
        return None
