"""The baseline: Django's stock admin changelist for referrals, used only by the benchmark.

A separate admin site whose ModelAdmin keeps every Django default for counting and paging:
Django's Paginator, `show_full_result_count = True` (a full COUNT of the table on every page
besides the filtered one), OFFSET pagination, ordering by the model's Meta. It shows the same
columns, search and filters as our referral list, and as many rows a page, so what differs is
how the list counts and pages. The site and ModelAdmin are Unfold's only because Unfold's
templates replace the admin's (`admin/change_list.html` resolves to Unfold's), and those need
Unfold's site context; Unfold changes neither the count nor the pagination. The real admin is
untouched; this module is the benchmark process's ROOT_URLCONF (the real URLs plus
/bench-stock-admin/).
"""

from django.urls import path
from unfold.admin import ModelAdmin
from unfold.sites import UnfoldAdminSite

from carecrm.urls import urlpatterns as real_urlpatterns
from referrals.admin import ReferralAdmin
from referrals.models import Referral

stock_site = UnfoldAdminSite(name="stock_admin")


class StockReferralAdmin(ModelAdmin):
    list_display = [
        "id",
        "patient",
        "stage",
        "assigned_to",
        "priority",
        "next_action_due",
        "source",
        "created_at",
    ]
    list_filter = ["stage", "source", "priority", "assigned_to"]
    list_select_related = ["patient", "assigned_to"]
    search_fields = [
        "patient__first_name",
        "patient__last_name",
        "patient__phone",
        "patient__email",
    ]
    show_full_result_count = True
    list_sections = ()  # as on our admins: Unfold's template reads it per row (see trials.admin)
    list_per_page = ReferralAdmin.list_per_page  # as many rows as our list draws


stock_site.register(Referral, StockReferralAdmin)

urlpatterns = [path("bench-stock-admin/", stock_site.urls), *real_urlpatterns]
