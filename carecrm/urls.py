from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from carecrm import security

twofactor_patterns = (
    [
        path("verify/", security.verify, name="verify"),
        path("setup/", security.setup, name="setup"),
    ],
    "twofactor",
)

admin.site.index_title = "Dashboard"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    # Coordinator pages live inside the admin site's chrome, ahead of its catch-all patterns.
    path("admin/work/", include("referrals.urls")),
    path("admin/hospital/", include("referrals.urls_hospital")),
    path("admin/two-factor/", include(twofactor_patterns)),
    path("admin/", admin.site.urls),
    path("check-eligibility/", include("referrals.urls_intake")),
]
