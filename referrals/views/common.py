"""What every coordinator page shares: access checks and the admin chrome's context."""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse

from carecrm.client import client_ip
from referrals import access, selectors, services
from referrals.models import Referral
from referrals.vocabulary import AccessAction


def staff_page(permission: str) -> Callable:
    """Admin login for anonymous or non-staff users, 403 without `permission`.

    A hospital liaison gets 403 on every page but their own (`liaison_page`), whatever other
    permissions they were given by mistake.
    """

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not access.may_open_staff_page(request.user, permission):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return admin.site.admin_view(checked)

    return decorate


def liaison_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A hospital liaison's page: admin login for anonymous users, 403 for anyone who is not a
    liaison with a hospital (coordinators and admins included)."""

    @wraps(view)
    def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not access.may_open_liaison_pages(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return staff_page(access.LIAISON_PERMISSION)(checked)


@dataclass(frozen=True)
class ReferralPage:
    """A page about one referral whose forms post to small action views: the coordinator's
    lead page and the liaison's referral page. `render(request, referral, **context)` draws it,
    bound forms included; `url_name` takes the referral's id."""

    url_name: str
    render: Callable[..., HttpResponse]

    def url(self, referral: Referral) -> str:
        return reverse(self.url_name, args=[referral.pk])

    def act(
        self,
        request: HttpRequest,
        referral: Referral,
        form: forms.Form,
        form_name: str,
        action: Callable[[dict], str],
        **context,
    ) -> HttpResponse:
        """`form_action` on this page; `context` goes to the re-rendered page too (e.g. which
        follow-up visit the form is for)."""
        return form_action(
            request,
            form,
            action,
            success_url=self.url(referral),
            rerender=lambda: self.render(request, referral, **{form_name: form}, **context),
        )


def form_action(
    request: HttpRequest,
    form: forms.Form,
    action: Callable[[dict], str],
    *,
    success_url: str,
    rerender: Callable[[], HttpResponse],
) -> HttpResponse:
    """Run `action` on valid input and go to `success_url` with its message; otherwise, or when
    the service refuses, say why and re-render the page with the form (nothing is written)."""
    if form.is_valid():
        try:
            success = action(form.cleaned_data)
        except services.ReferralError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, success)
            return redirect(success_url)
    else:
        messages.error(request, "Please correct the errors below.")
    return rerender()


def _get_referral_for_staff(request: HttpRequest, pk: int) -> Referral:
    """The one way a staff page fetches a lead: 404 if missing or out of the user's scope, 403
    without rights.

    The lead comes from `access.referrals_visible_to`, so a hospital liaison finds only the
    referrals sent to their hospital and anything else is a 404, exactly like a lead that does
    not exist. Writes need `change_referral`, or being the liaison the lead was sent to;
    reading needs `view_referral` or the liaison permission (checked by the page decorators).
    """
    if request.method == "POST" and not access.may_change_referrals(request.user):
        raise PermissionDenied
    return get_object_or_404(
        access.referrals_visible_to(request.user).select_related(
            "patient", "target_program__hospital", "target_trial", "assigned_to"
        ),
        pk=pk,
    )


def page_context(request: HttpRequest, title: str, **context) -> dict:
    return {**admin.site.each_context(request), "title": title, **context}


def document_download(
    request: HttpRequest, referral: Referral, document_pk: int, *, reader: str = ""
) -> FileResponse:
    """One of the lead's documents as an attachment, logged; 404 if erased or missing."""
    document = selectors.lead_document(referral, document_pk)
    if document is None:
        raise Http404("No such document on this lead.")
    if document.is_erased:
        raise Http404("This document was erased with the patient's data.")
    try:
        handle = document.file.open("rb")
    except FileNotFoundError as error:
        raise Http404("The document's file is missing.") from error
    services.access_log_record(
        user=request.user,
        action=AccessAction.VIEW_DOCUMENT,
        referral=referral,
        detail=f"Document #{document.pk} ({document.get_kind_display()}): "
        f"{document.original_filename}" + (f" ({reader})" if reader else ""),
        ip_address=client_ip(request),
    )
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=document.original_filename,
        content_type=document.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
