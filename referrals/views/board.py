from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from referrals import selectors, services
from referrals.forms import BoardFilterForm, BoardMoveForm
from referrals.selectors import BoardFilters
from referrals.views.common import _get_referral_for_staff, page_context, staff_page


@staff_page("referrals.view_referral")
def board(request: HttpRequest) -> HttpResponse:
    return _render_board(request, BoardFilterForm(request.GET or None))


@staff_page("referrals.change_referral")
@require_POST
def board_move(request: HttpRequest) -> HttpResponse:
    """A card dropped on another column: move it through the pipeline service or refuse.

    htmx requests get the board partial back (the card lands in its real column either way);
    a plain POST redirects to the board.
    """
    form = BoardMoveForm(request.POST)
    if not form.is_valid():
        messages.error(request, "That move could not be read; reload the board and try again.")
    else:
        referral = _get_referral_for_staff(request, form.cleaned_data["referral"])
        try:
            services.referral_transition(
                referral=referral,
                to_stage=form.cleaned_data["to_stage"],
                by=request.user,
                expected_version=form.cleaned_data["version"],
            )
        except services.ReferralError as error:
            messages.error(request, f"{referral.patient}: {error}")
        else:
            referral.refresh_from_db(fields=["stage"])
            messages.success(
                request, f"{referral.patient} moved to {referral.get_stage_display()}."
            )
    filters = BoardFilterForm(request.GET or None)
    if request.headers.get("HX-Request"):
        return _render_board(request, filters, partial=True)
    return redirect(f"{reverse('referrals:board')}?{request.GET.urlencode()}")


def _render_board(request: HttpRequest, form: BoardFilterForm, partial: bool = False):
    filters = BoardFilters()
    if form.is_valid():
        data = form.cleaned_data
        filters = BoardFilters(
            coordinator_id=data["coordinator"].pk if data["coordinator"] else None,
            condition_id=data["condition"].pk if data["condition"] else None,
            program_id=data["program"].pk if data["program"] else None,
        )
    template = "referrals/board.html#board" if partial else "referrals/board.html"
    return render(
        request,
        template,
        page_context(
            request,
            "Pipeline board",
            form=form,
            columns=selectors.board_columns(filters),
            now=timezone.now(),
            query=request.GET.urlencode(),
            partial=partial,
        ),
    )
