from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from carecrm import security

# django-two-factor-auth's views under its own URL names. Its sign-in wizard answers at the admin's
# login address, ahead of the admin's password-only login, so every `admin:login` leads to it.
two_factor_patterns = (
    [
        path("setup/", security.SetupView.as_view(), name="setup"),
        path("setup/qr/", security.QRGeneratorView.as_view(), name="qr"),
        path("setup/complete/", security.SetupCompleteView.as_view(), name="setup_complete"),
        path("recovery-codes/", security.BackupTokensView.as_view(), name="backup_tokens"),
        path("", security.ProfileView.as_view(), name="profile"),
        path("remove/", security.DisableView.as_view(), name="disable"),
    ],
    "two_factor",
)

admin.site.index_title = "Dashboard"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/login/", security.LoginView.as_view()),
    # Coordinator pages live inside the admin site's chrome, ahead of its catch-all patterns.
    path("admin/work/", include("referrals.urls")),
    path("admin/hospital/", include("referrals.urls_hospital")),
    path("admin/two-factor/", include(two_factor_patterns)),
    path("admin/", admin.site.urls),
    path("check-eligibility/", include("referrals.urls_intake")),
]
