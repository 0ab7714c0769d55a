from django.contrib import admin
from django.templatetags.static import static
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


class FaviconView(RedirectView):
    """Browsers ask every site for /favicon.ico; ours is an SVG among the static files. Its URL
    is looked up per request: in production it carries the hash `collectstatic` gives it."""

    permanent = True

    def get_redirect_url(self, *args, **kwargs) -> str:
        return static("carecrm/favicon.svg")


def _admin_urls() -> tuple[list, str, str]:
    """The admin site's URLs without Django's "view on site" shortcut (`admin/r/<type>/<id>/`).

    The shortcut redirects any staff user, hospital liaisons included, to any object with a URL,
    and answers 404 for an id that does not exist, so it tells whoever asks which referral ids
    exist. No page needs it: a referral's "View on site" links straight to its lead page, which
    applies the user's scope. (A model given `get_absolute_url` must likewise set its admin's
    `view_on_site`; the permission matrix opens every change page and would fail otherwise.)
    """
    patterns, app_name, namespace = admin.site.urls
    kept = [p for p in patterns if getattr(p, "name", None) != "view_on_site"]
    return kept, app_name, namespace


urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("favicon.ico", FaviconView.as_view(), name="favicon"),
    path("admin/login/", security.LoginView.as_view()),
    # Coordinator pages live inside the admin site's chrome, ahead of its catch-all patterns.
    path("admin/work/", include("referrals.urls")),
    path("admin/hospital/", include("referrals.urls_hospital")),
    path("admin/two-factor/", include(two_factor_patterns)),
    path("admin/", _admin_urls()),
    path("check-eligibility/", include("referrals.urls_intake")),
]
