"""Hand-off to the hospital: the referral packet (page and PDF) and the FHIR export.

Everything here carries identifiable health data, so each view checks access through
`_get_referral_for_staff` and appends an access-log line; files are sent privately.
"""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from carecrm.client import client_ip
from referrals import fhir, packet, selectors, services
from referrals.forms import PacketSendForm
from referrals.models import Referral
from referrals.views.common import _get_referral_for_staff, page_context, staff_page
from referrals.vocabulary import AccessAction


def _log(request: HttpRequest, referral: Referral, detail: str) -> None:
    services.access_log_record(
        user=request.user,
        action=AccessAction.EXPORT,
        referral=referral,
        detail=detail,
        ip_address=client_ip(request),
    )


def _private(response: HttpResponse) -> HttpResponse:
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


def _packet_context(referral: Referral) -> dict | None:
    data = selectors.referral_packet(referral.pk)
    if data.target is None:
        return None
    return {"packet": data, "referral": data.referral, "patient": data.patient}


def _no_target(request: HttpRequest, referral: Referral) -> HttpResponse:
    messages.error(request, "Choose the target program or trial before preparing the packet.")
    return redirect(reverse("referrals:lead", args=[referral.pk]))


def _render_packet_page(
    request: HttpRequest, context: dict, form: PacketSendForm | None = None
) -> HttpResponse:
    program = context["referral"].target_program
    contact = (
        ", ".join(filter(None, [program.contact_name, program.contact_email])) if program else ""
    )
    context = {
        **context,
        "send_form": form or PacketSendForm(initial={"sent_to": contact}),
        "can_change": request.user.has_perm("referrals.change_referral"),
    }
    title = f"Referral packet · lead #{context['referral'].pk}"
    html = packet.render_html(page_context(request, title, **context), request)
    return _private(HttpResponse(html))


@require_GET
@staff_page("referrals.view_referral")
def lead_packet(request: HttpRequest, pk: int) -> HttpResponse:
    """The print-ready referral letter, with the PDF download and "record as sent"."""
    referral = _get_referral_for_staff(request, pk)
    context = _packet_context(referral)
    if context is None:
        return _no_target(request, referral)
    response = _render_packet_page(request, context)
    _log(request, referral, f"Referral packet page for lead #{referral.pk}")
    return response


def _pdf_filename(referral: Referral) -> str:
    return f"{packet.PACKET_FILENAME_PREFIX}{referral.pk}.pdf"


@require_GET
@staff_page("referrals.view_referral")
def lead_packet_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    referral = _get_referral_for_staff(request, pk)
    context = _packet_context(referral)
    if context is None:
        return _no_target(request, referral)
    pdf = packet.render_pdf(context)
    _log(request, referral, f"Referral packet PDF for lead #{referral.pk}")
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{_pdf_filename(referral)}"'
    return _private(response)


@staff_page("referrals.view_referral")
@require_POST
def lead_packet_send(request: HttpRequest, pk: int) -> HttpResponse:
    """Render the PDF now, keep it with the lead's documents and put the sending on the timeline."""
    referral = _get_referral_for_staff(request, pk)
    context = _packet_context(referral)
    if context is None:
        return _no_target(request, referral)
    form = PacketSendForm(request.POST)
    if form.is_valid():
        try:
            document = services.referral_packet_send(
                referral=referral,
                pdf=packet.render_pdf(context),
                sent_to=form.cleaned_data["sent_to"],
                by=request.user,
            )
        except services.ReferralError as error:
            messages.error(request, str(error))
        else:
            messages.success(
                request,
                f"Packet recorded as sent; the PDF is kept as {document.original_filename}.",
            )
            return redirect(reverse("referrals:lead", args=[referral.pk]))
    else:
        messages.error(request, "Please correct the errors below.")
    return _render_packet_page(request, context, form)


@require_GET
@staff_page("referrals.view_referral")
def lead_fhir(request: HttpRequest, pk: int) -> HttpResponse:
    """The referral as a FHIR R4 Bundle (JSON), downloaded."""
    referral = _get_referral_for_staff(request, pk)
    body = fhir.referral_bundle_json(selectors.referral_for_handoff(referral.pk))
    _log(request, referral, f"FHIR bundle for lead #{referral.pk}")
    response = HttpResponse(body, content_type="application/fhir+json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="lead-{referral.pk}-fhir.json"'
    return _private(response)
