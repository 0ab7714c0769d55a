"""The public "check eligibility" form: no login, four languages, hostile input expected.

Whatever is posted, the answer is a page, never a 500, and nothing is written unless the whole
submission is valid.
"""

import hashlib
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from referrals import services
from referrals.consent import CONSENT_TEXT, CONSENT_VERSION
from referrals.forms import OTHER_CONDITION, IntakeForm, TreatmentsTriedFormSet

SUPPORTED = {code for code, _name in settings.LANGUAGES}


def public_language(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Serve the page in `?lang=`, else the language chosen before, else the browser's.

    Scoped to the public pages on purpose: the staff site stays in English.
    """

    @wraps(view)
    def localized(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        chosen = request.GET.get("lang", "")
        language = (
            chosen
            if chosen in SUPPORTED
            else translation.get_language_from_request(request, check_path=False)
        )
        with translation.override(language):
            request.LANGUAGE_CODE = language
            response = view(request, *args, **kwargs)
            if hasattr(response, "render"):
                response.render()
        if chosen in SUPPORTED:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME, chosen, samesite="Lax", max_age=365 * 86400
            )
        response.headers["Content-Language"] = language
        return response

    return localized


def _client_ip(request: HttpRequest) -> str:
    if settings.TRUSTED_PROXY_COUNT:
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h]
        if len(hops) >= settings.TRUSTED_PROXY_COUNT:
            return hops[-settings.TRUSTED_PROXY_COUNT]
    return request.META.get("REMOTE_ADDR", "unknown")


def _over_rate_limit(request: HttpRequest) -> bool:
    # Hashed: a forwarded address is client text (spaces, control characters, any length),
    # which is no valid cache key.
    key = "intake-rate:" + hashlib.sha256(_client_ip(request).encode()).hexdigest()
    cache.add(key, 0, timeout=settings.INTAKE_RATE_WINDOW_SECONDS)
    try:
        attempts = cache.incr(key)
    except ValueError:  # expired between add and incr: this is the first attempt again
        cache.set(key, 1, timeout=settings.INTAKE_RATE_WINDOW_SECONDS)
        attempts = 1
    return attempts > settings.INTAKE_RATE_LIMIT


def _refuse(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    return render(
        request,
        "intake/refused.html",
        {"title": title, "message": message, "languages": settings.LANGUAGES},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@public_language
def check_eligibility(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _render_form(request, IntakeForm(), TreatmentsTriedFormSet(prefix="treatments"))

    declared = request.META.get("CONTENT_LENGTH") or "0"
    try:
        too_large = not declared.isdecimal() or int(declared) > settings.INTAKE_MAX_BODY_BYTES
    except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
        too_large = True
    if too_large:
        return _refuse(
            request,
            413,
            _("Too much data"),
            _("The form was too large to accept. Please shorten the message and try again."),
        )
    if _over_rate_limit(request):
        return _refuse(
            request,
            429,
            _("Please try again later"),
            _(
                "We received several forms from your connection in a short time. "
                "Please wait a few minutes and try again, or call us."
            ),
        )
    form = IntakeForm(request.POST)
    treatments = TreatmentsTriedFormSet(request.POST, prefix="treatments")
    if form.is_bot:
        # Answer a bot as if it succeeded, so it learns nothing; write nothing.
        return redirect("intake:thanks")
    if not (form.is_valid() and treatments.is_valid()):
        return _render_form(request, form, treatments, status=400)
    data = form.cleaned_data
    services.intake_submit(
        submission=services.IntakeSubmission(
            submitter_role=data["submitter_role"],
            submitter_name=data["submitter_name"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            date_of_birth=data["date_of_birth"],
            stated_age=data["age"],
            phone=data["phone"],
            email=data["email"],
            condition_slug="" if data["condition"] == OTHER_CONDITION else data["condition"],
            condition_other=data["condition_other"],
            diagnosis_year=data["diagnosis_year"],
            treatments=treatments.treatments(),
            message=data["message"],
            preferred_language=data["preferred_language"],
            contact_channel=data["contact_channel"],
            consent_version=CONSENT_VERSION,
            consent_text=str(CONSENT_TEXT),
        )
    )
    return redirect("intake:thanks")


def _render_form(request, form, treatments, status: int = 200) -> HttpResponse:
    return render(
        request,
        "intake/form.html",
        {"form": form, "treatments": treatments, "languages": settings.LANGUAGES},
        status=status,
    )


@require_http_methods(["GET"])
@public_language
def thanks(request: HttpRequest) -> HttpResponse:
    return render(request, "intake/thanks.html", {"languages": settings.LANGUAGES})
