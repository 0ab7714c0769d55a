import os

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.test import Client
from django_tasks_db.management.commands.db_worker import Worker

from tests import pages
from tests.factories import (
    ConditionFactory,
    HospitalFactory,
    ProgramFactory,
    ReferralFactory,
    TherapyFactory,
    UserFactory,
    make_liaison,
)
from trials.models import DrugClass

# Playwright's sync API runs an event loop in the test thread; Django refuses ORM calls from a
# thread with a running loop unless told this is deliberate.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Hashing strength is not under test; PBKDF2 would dominate the suite's run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def dashboard_figures_per_request(settings):
    # The dashboard keeps its figures for DASHBOARD_CACHE_SECONDS; a test reads what it just
    # wrote. tests/test_dashboard.py turns the cache on where the cache is under test.
    settings.DASHBOARD_CACHE_SECONDS = 0


@pytest.fixture
def task_worker():
    """The django-tasks-db worker as `manage.py db_worker` runs it, driven task by task."""
    return Worker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    )


@pytest.fixture
def coordinator(db):
    return UserFactory(username="coordinator", role="Coordinator")


@pytest.fixture
def coordinator2(db):
    return UserFactory(username="coordinator2", role="Coordinator")


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", role="Admin")


@pytest.fixture
def inactive_user(db):
    return UserFactory(username="inactive", role="Coordinator", is_active=False)


@pytest.fixture
def staff_without_role(db):
    return UserFactory(username="staff-no-role")


@pytest.fixture
def viewer(db):
    """Staff who may read leads but change nothing."""
    user = UserFactory(username="viewer")
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="referrals", codename="view_referral")
    )
    return user


@pytest.fixture
def coordinator_client(client, coordinator):
    client.force_login(coordinator)
    return client


@pytest.fixture
def coordinator2_client(coordinator2):
    client = Client()
    client.force_login(coordinator2)
    return client


@pytest.fixture
def admin_client_(client, admin_user):
    client.force_login(admin_user)
    return client


# --- the hospital side: two hospitals, a liaison each ----------------------------------------


@pytest.fixture
def hospital(db):
    return HospitalFactory(name="Sheba Medical Center")


@pytest.fixture
def hospital_b(db):
    return HospitalFactory(name="Hadassah Medical Center")


@pytest.fixture
def liaison(hospital):
    return make_liaison("liaison", hospital)


@pytest.fixture
def liaison_b(hospital_b):
    return make_liaison("liaison_b", hospital_b)


@pytest.fixture
def liaison_client(client, liaison):
    client.force_login(liaison)
    return client


# --- a coordinator's lead, for the coordinator pages (tests/pages.py) ------------------------


@pytest.fixture
def condition(db):
    return ConditionFactory(name="Systemic lupus erythematosus", slug="sle")


@pytest.fixture
def program(condition):
    """Accepting, SLE, 18–70, at least two failed lines."""
    return ProgramFactory(
        name="CD19 CAR-T", hospital=HospitalFactory(name="Sheba"), conditions=[condition]
    )


@pytest.fixture
def lead(coordinator, condition):
    """A new lead of a 40-ish SLE patient with two failed lines, assigned to the coordinator."""
    patient = pages.refractory_patient(
        condition, first_name="Dana", last_name="Levi", phone="+972501112233"
    )
    return ReferralFactory(patient=patient, assigned_to=coordinator)


# --- the public intake form (tests/intake.py) ------------------------------------------------


@pytest.fixture
def empty_cache():
    """The intake's rate limit lives in the cache: a clean slate before and after."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def lupus(db):
    return ConditionFactory(
        slug="sle",
        name="Systemic lupus erythematosus",
        name_translations={"he": "זאבת אדמנתית מערכתית", "ru": "Системная красная волчанка"},
    )


@pytest.fixture
def rituximab(db):
    return TherapyFactory(name="Rituximab", drug_class=DrugClass.ANTI_CD20)


@pytest.fixture
def mycophenolate(db):
    return TherapyFactory(name="Mycophenolate mofetil")
