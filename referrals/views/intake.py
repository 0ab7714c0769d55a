"""The public "check eligibility" form: no login, four languages, hostile input expected.

Whatever is posted, the answer is a page, never a 500, and nothing is written unless the whole
submission is valid.
"""

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from carecrm.client import client_ip
from carecrm.rate_limit import rate_count_add
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


def _over_rate_limit(request: HttpRequest) -> bool:
    """Whether this address has used up its submissions for the current window, counted in the
    database every server process shares (`carecrm.rate_limit`)."""
    count = rate_count_add(
        client=client_ip(request), window_seconds=settings.INTAKE_RATE_WINDOW_SECONDS
    )
    return count > settings.INTAKE_RATE_LIMIT


@public_language
def refusal(request: HttpRequest, *, status: int, title: str, message: str) -> HttpResponse:
    """A short page in the visitor's language saying why the request was refused."""
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

    if _over_rate_limit(request):
        return refusal(
            request,
            status=429,
            title=_("Please try again later"),
            message=_(
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
