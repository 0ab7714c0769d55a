from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.index_title = "Dashboard"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    # Coordinator pages live inside the admin site's chrome, ahead of its catch-all patterns.
    path("admin/work/", include("referrals.urls")),
    path("admin/", admin.site.urls),
    path("check-eligibility/", include("referrals.urls_intake")),
]
