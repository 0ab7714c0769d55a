"""CareCRM settings: one file, configured from the environment.

Development defaults are safe to run locally; `DJANGO_ENV=production` turns on every
deployment check and refuses to start without a real SECRET_KEY and ALLOWED_HOSTS.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static
from django.urls import reverse_lazy
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DJANGO_ENV = os.environ.get("DJANGO_ENV", "development")
PRODUCTION = DJANGO_ENV == "production"

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when DJANGO_ENV=production")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"

DEBUG = env_bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "unfold.contrib.inlines",
    "unfold.contrib.simple_history",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "crispy_forms",
    "django_filters",
    "simple_history",
    "django_tasks_db",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "formtools",
    "two_factor",
    "trials",
    "referrals",
    "carecrm",
    "django.forms",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "carecrm.http_guards.RequestGuardMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "carecrm.security.SessionLifetimeMiddleware",
    "carecrm.security.StaffTwoFactorMiddleware",
    # Sends DENY; RequestGuardMiddleware also overrides the SAMEORIGIN some admin views ask for.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",
]

if PRODUCTION:
    # Outside production runserver and the live test server serve static files themselves.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "carecrm.urls"
# Widgets render with the site's template engine, so templates/ can hold widget templates too.
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"
WSGI_APPLICATION = "carecrm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
            ],
        },
    },
]

# SQLite is the embedded default: WAL lets readers work while a writer commits, IMMEDIATE
# transactions take the write lock up front so concurrent writers queue on the busy timeout
# instead of failing with "database is locked" halfway through a transaction. Connections
# persist on both databases: a new SQLite connection runs the pragmas, parses the schema and
# starts with an empty page cache, a fifth of a public submission's server time.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # PostgreSQL's default random_page_cost (4) models spinning disks: with it the planner reads
    # all 100,000 patients to join a search's 3,000 matches instead of fetching them by key.
    # On SSDs or a cached database 1.1 is the usual setting; empty keeps the server's own.
    # A cursor (`.iterator()`: the exports) is planned by default for its first tenth of rows,
    # so an export of one coordinator's leads walked the whole list's date index to start soon
    # (63 ms rather than 18 at 100,000 leads); every cursor here is read to the end.
    options = ["-c cursor_tuple_fraction=1"]
    page_cost = os.environ.get("PG_RANDOM_PAGE_COST", "1.1")
    if page_cost:
        options.append(f"-c random_page_cost={float(page_cost)}")
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = " ".join(options)
if os.environ.get("TEST_DATABASE_NAME"):
    # Lets two test runs share one PostgreSQL server without sharing a test database.
    DATABASES["default"]["TEST"] = {"NAME": os.environ["TEST_DATABASE_NAME"]}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL;"
            "PRAGMA synchronous=NORMAL;"
            "PRAGMA foreign_keys=ON;"
            "PRAGMA busy_timeout=20000;"
        ),
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The default cache is per process without Redis: nothing that must hold across server processes
# uses it. What does (the dashboard's figures, the coordinators' workload for auto-assignment)
# uses "shared": Redis, or else a table in the database (made by migration referrals 0017),
# never a per-process cache (`check --deploy` refuses one). The public form's rate limit counts
# in a table of its own (carecrm/rate_limit.py).
REDIS_URL = os.environ.get("REDIS_URL", "")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "shared": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "carecrm_cache"},
}

# The public intake form: at most this many submissions per client address per window.
INTAKE_RATE_LIMIT = int(os.environ.get("INTAKE_RATE_LIMIT", "5"))
INTAKE_RATE_WINDOW_SECONDS = int(os.environ.get("INTAKE_RATE_WINDOW_SECONDS", "600"))
# Request bodies above these sizes are refused before they are read (carecrm/http_guards.py):
# anyone but signed-in staff, then staff, above each upload's own limit (which its page explains).
PUBLIC_MAX_BODY_BYTES = 64 * 1024
STAFF_MAX_BODY_BYTES = 16 * 1024 * 1024
# The dashboard's figures for a period are refreshed by a task once they are this many seconds
# old (referrals/dashboard.py); 0 computes them on every request.
DASHBOARD_CACHE_SECONDS = int(os.environ.get("DASHBOARD_CACHE_SECONDS", "60"))
# Auto-assignment counts the coordinators' open leads afresh this often (selectors says how
# leads in between are counted); 0 counts them for every new lead.
COORDINATOR_LOAD_SECONDS = int(os.environ.get("COORDINATOR_LOAD_SECONDS", "30"))
# Rows a list page shows: the admin lists and the queue. The search chooses its plan by it.
LIST_PAGE_ROWS = 50
# Patients whose leads are all closed are anonymised this long after closing (apply_retention).
RETENTION_DAYS = int(os.environ.get("RETENTION_DAYS", str(2 * 365)))
# Behind a reverse proxy, the client's address is this many hops from the end of
# X-Forwarded-For (carecrm/client.py) and X-Forwarded-Proto says whether it came over HTTPS;
# with 0 both headers are the client's own words and neither is read.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# Lead documents (consent forms, medical records) live under PRIVATE_STORAGE_ROOT: outside
# STATIC_ROOT and MEDIA_ROOT, with no URL; only the permission-checked lead_document view reads
# them. Only PDF, PNG and JPEG files (sniffed from their first bytes, then parsed or decoded whole
# by referrals/documents.py) up to DOCUMENT_MAX_BYTES are accepted; a larger request body is
# refused before it is parsed, and an accepted upload stays in memory, so no medical file passes
# through the shared temporary directory.
PRIVATE_STORAGE_ROOT = Path(os.environ.get("PRIVATE_STORAGE_ROOT", BASE_DIR / "private"))
DOCUMENT_MAX_BYTES = 10 * 1024 * 1024
DOCUMENT_CONTENT_TYPES = ["application/pdf", "image/png", "image/jpeg"]
FILE_UPLOAD_MAX_MEMORY_SIZE = DOCUMENT_MAX_BYTES + 64 * 1024

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

# Lock a username from one address out for an hour after 5 failed sign-ins.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = 1
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_CLIENT_IP_CALLABLE = "carecrm.client.client_ip"

# Idle timeout 30 minutes, absolute timeout 12 hours (carecrm.security); the cookie itself
# lasts no longer than the absolute limit.
SESSION_IDLE_SECONDS = 30 * 60
SESSION_ABSOLUTE_SECONDS = 12 * 60 * 60
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_SECONDS

# Two-factor sign-in (TOTP, with recovery codes) for staff: required in production, optional in
# development. django-two-factor-auth's sign-in page replaces the admin's (carecrm/urls.py), so
# its patch of the admin's login is not needed.
OTP_REQUIRED = env_bool("OTP_REQUIRED", default=PRODUCTION)
OTP_TOTP_ISSUER = "CareCRM"
TWO_FACTOR_PATCH_ADMIN = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGES = [("en", _("English")), ("he", _("Hebrew")), ("ru", _("Russian")), ("ar", _("Arabic"))]
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Jerusalem")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "admin:index"

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

MAILER_BACKEND = os.environ.get(
    "MAILER_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
MAILERS = {"default": {"BACKEND": MAILER_BACKEND, "OPTIONS": {}}}
if MAILER_BACKEND.endswith("smtp.EmailBackend"):
    MAILERS["default"]["OPTIONS"] = {
        "host": os.environ.get("SMTP_HOST", "localhost"),
        "port": int(os.environ.get("SMTP_PORT", "587")),
        "username": os.environ.get("SMTP_USER", ""),
        "password": os.environ.get("SMTP_PASSWORD", ""),
        "use_tls": env_bool("SMTP_USE_TLS", default=True),
        "timeout": 10,
    }
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "CareCRM <noreply@carecrm.local>")

CRISPY_ALLOWED_TEMPLATE_PACKS = ["unfold_crispy"]
CRISPY_TEMPLATE_PACK = "unfold_crispy"

SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

# No inline script without a nonce. Alpine.js, which Unfold's admin is built on, evaluates its
# attribute expressions with Function(), so 'unsafe-eval' stays; Unfold and Chart.js set inline
# style attributes, hence 'unsafe-inline' for styles only.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE, CSP.UNSAFE_EVAL],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

if TRUSTED_PROXY_COUNT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # Only `make serve` on loopback turns these off, to measure the server without TLS.
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DJANGO_ENV=production")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # Axes logs every sign-in at INFO; lockouts are WARNING and still show.
    "loggers": {"axes": {"level": "WARNING"}},
}

UNFOLD = {
    "SITE_TITLE": "CareCRM",
    "SITE_HEADER": "CareCRM",
    "SITE_SUBHEADER": _("CAR-T referrals for autoimmune disease"),
    "SITE_SYMBOL": "diversity_1",
    "SITE_FAVICONS": [
        {
            "rel": "icon",
            "type": "image/svg+xml",
            "href": lambda request: static("carecrm/favicon.svg"),
        }
    ],
    "STYLES": [lambda request: static("carecrm/carecrm.css")],
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": True,
    "DASHBOARD_CALLBACK": "referrals.views.dashboard.dashboard_callback",
    "ACCOUNT": {
        "navigation": [
            {"title": _("Two-factor sign-in"), "link": reverse_lazy("two_factor:profile")},
            {"title": _("Change password"), "link": reverse_lazy("admin:password_change")},
        ],
    },
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": False,
        "navigation": [
            {
                # The hospital liaison's pages; superusers hold every permission but are not one.
                "title": _("Hospital"),
                "items": [
                    {
                        "title": _("Referrals to my hospital"),
                        "icon": "local_hospital",
                        "link": reverse_lazy("hospital:referrals"),
                        "permission": lambda request: (
                            request.user.has_perm("referrals.work_hospital_referrals")
                            and not request.user.is_superuser
                        ),
                    },
                ],
            },
            {
                "title": _("Referrals"),
                "items": [
                    {
                        "title": _("My queue"),
                        "icon": "inbox",
                        "link": reverse_lazy("referrals:queue"),
                        "permission": lambda request: request.user.has_perm(
                            "referrals.view_referral"
                        ),
                    },
                    {
                        "title": _("Pipeline board"),
                        "icon": "view_kanban",
                        "link": reverse_lazy("referrals:board"),
                        "permission": lambda request: request.user.has_perm(
                            "referrals.view_referral"
                        ),
                    },
                    {
                        "title": _("Screen a patient"),
                        "icon": "fact_check",
                        "link": reverse_lazy("referrals:screen"),
                        "permission": lambda request: request.user.has_perm(
                            "referrals.view_referral"
                        ),
                    },
                    {
                        "title": _("Referrals"),
                        "icon": "assignment_ind",
                        "link": reverse_lazy("admin:referrals_referral_changelist"),
                        "permission": lambda request: request.user.has_perm(
                            "referrals.view_referral"
                        ),
                    },
                    {
                        "title": _("Patients"),
                        "icon": "personal_injury",
                        "link": reverse_lazy("admin:referrals_patient_changelist"),
                        "permission": lambda request: request.user.has_perm(
                            "referrals.view_patient"
                        ),
                    },
                ],
            },
            {
                "title": _("Programs and trials"),
                "items": [
                    {
                        "title": _("Hospitals"),
                        "icon": "local_hospital",
                        "link": reverse_lazy("admin:trials_hospital_changelist"),
                        "permission": lambda request: request.user.has_perm("trials.view_hospital"),
                    },
                    {
                        "title": _("Programs"),
                        "icon": "vaccines",
                        "link": reverse_lazy("admin:trials_program_changelist"),
                        "permission": lambda request: request.user.has_perm("trials.view_program"),
                    },
                    {
                        "title": _("Trials"),
                        "icon": "science",
                        "link": reverse_lazy("admin:trials_trial_changelist"),
                        "permission": lambda request: request.user.has_perm("trials.view_trial"),
                    },
                    {
                        "title": _("Conditions"),
                        "icon": "stethoscope",
                        "link": reverse_lazy("admin:trials_condition_changelist"),
                        "permission": lambda request: request.user.has_perm(
                            "trials.view_condition"
                        ),
                    },
                    {
                        "title": _("Therapies"),
                        "icon": "medication",
                        "link": reverse_lazy("admin:trials_therapy_changelist"),
                        "permission": lambda request: request.user.has_perm("trials.view_therapy"),
                    },
                ],
            },
            {
                "title": _("Administration"),
                "items": [
                    {
                        "title": _("Users"),
                        "icon": "person",
                        "link": reverse_lazy("admin:auth_user_changelist"),
                        "permission": lambda request: request.user.has_perm("auth.view_user"),
                    },
                    {
                        "title": _("Groups"),
                        "icon": "group",
                        "link": reverse_lazy("admin:auth_group_changelist"),
                        "permission": lambda request: request.user.has_perm("auth.view_group"),
                    },
                    {
                        "title": _("Hospital liaisons"),
                        "icon": "badge",
                        "link": reverse_lazy("admin:referrals_liaisonprofile_changelist"),
                        "permission": lambda request: request.user.has_perm(
                            "referrals.view_liaisonprofile"
                        ),
                    },
                ],
            },
        ],
    },
}
