"""Every URL the project serves × every role: the status each role gets.

The matrix is explicit: a URL pattern without an entry fails `test_it_has_an_entry_for_every_url`,
so nobody can add a page without deciding who may open it.
"""

import re

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from axes.models import AccessLog as AxesAccessLog
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import request_finished
from django.db import close_old_connections
from django.urls import URLResolver, get_resolver, reverse
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tasks_db.models import DBTaskResult

from referrals import imports, services, tasks
from referrals.models import (
    AccessAction,
    AccessLog,
    ReferralEvent,
    ScreeningRecord,
    Stage,
    Task,
)
from tests import pages
from tests.factories import (
    ConditionFactory,
    HospitalFactory,
    PriorTreatmentLineFactory,
    ProgramFactory,
    ReferralFactory,
    TherapyFactory,
    TrialFactory,
    UserFactory,
    pdf_bytes,
    referred_lead,
)
from tests.lead_actions import LEAD_ACTIONS, lead_action

ROLES = ("anonymous", "inactive", "coordinator", "coordinator2", "admin", "liaison", "liaison_b")
LOGIN = "login"  # a redirect to the admin login page
OK, DENIED, MISSING, NOT_ALLOWED, REDIRECT = 200, 403, 404, 405, 302


def staff(coordinator, admin, *, anonymous=LOGIN, inactive=LOGIN, liaison=DENIED, liaison_b=None):
    """The status per role. "liaison" is hospital A's liaison and "liaison_b" hospital B's: the
    URLs name a lead referred to hospital A, so where A's liaison gets 200, B's gets 404.
    Liaisons are refused everything else (403) unless an entry says otherwise."""
    return {
        "anonymous": anonymous,
        "inactive": inactive,
        "coordinator": coordinator,
        "coordinator2": coordinator,
        "admin": admin,
        "liaison": liaison,
        "liaison_b": liaison if liaison_b is None else liaison_b,
    }


def liaisons_only(liaison, liaison_b=None):
    """A hospital liaison's page: coordinators and admins get 403."""
    return staff(DENIED, DENIED, liaison=liaison, liaison_b=liaison_b)


def everyone(status):
    return dict.fromkeys(ROLES, status)


# What each role may do with each model in the admin: "edit" (list, add, change, history),
# "view" (list, change page read-only, history), "read" (list and detail only, nothing can be
# added: the model is written by services), None (403).
ADMIN_MODELS = {
    "referrals.referral": ("edit", "edit"),
    "referrals.patient": ("edit", "edit"),
    "referrals.priortreatmentline": ("edit", "edit"),
    "referrals.task": ("edit", "edit"),
    "referrals.referralevent": ("read", "read"),
    "referrals.screeningrecord": ("read", "read"),
    "referrals.accesslog": (None, "read"),
    "referrals.leaddocument": (None, "read"),
    "referrals.liaisonprofile": (None, "edit"),
    "referrals.referralsnapshot": (None, "read"),
    "trials.condition": ("view", "edit"),
    "trials.therapy": ("view", "edit"),
    "trials.hospital": ("view", "edit"),
    "trials.program": ("view", "edit"),
    "trials.trial": ("view", "edit"),
    "auth.user": (None, "edit"),
    "auth.group": (None, "edit"),
    # Add-on apps: superusers only.
    "django_tasks_database.dbtaskresult": (None, None),
    "axes.accessattempt": (None, None),
    "axes.accesslog": (None, None),
    "axes.accessfailurelog": (None, None),
    "otp_totp.totpdevice": (None, None),
    "otp_static.staticdevice": (None, None),
}


def _model_view_status(right: str | None, view: str) -> int:
    if right is None:
        return DENIED
    if view == "add":
        return OK if right == "edit" else DENIED
    if view == "delete":
        return DENIED  # clinical history is never deleted from the admin
    return OK


def _admin_model_entries() -> dict[str, dict]:
    entries = {}
    for model, (coordinator, admin) in ADMIN_MODELS.items():
        prefix = "admin:" + model.replace(".", "_")
        for view in ("changelist", "add", "change", "history", "delete"):
            entries[f"{prefix}_{view}"] = staff(
                _model_view_status(coordinator, view), _model_view_status(admin, view)
            )
    # Deleting reference data, tasks and users is an admin's job; PROTECT still guards what is
    # in use. Patients, lines and referrals are never deleted: they are erased.
    for model in (
        "referrals.task",
        "referrals.liaisonprofile",
        "trials.condition",
        "trials.therapy",
        "trials.hospital",
        "trials.program",
        "trials.trial",
        "auth.user",
        "auth.group",
    ):
        entries["admin:" + model.replace(".", "_") + "_delete"] = staff(DENIED, OK)
    return entries


MATRIX = {
    # The public intake.
    "favicon": everyone(301),  # a permanent redirect to the static icon
    "intake:form": everyone(OK),
    "intake:thanks": everyone(OK),
    # The admin site itself.
    "admin:login": {
        **everyone(OK),
        "coordinator": REDIRECT,
        "coordinator2": REDIRECT,
        "admin": REDIRECT,
        "liaison": REDIRECT,
        "liaison_b": REDIRECT,
    },
    "admin:logout": staff(
        NOT_ALLOWED, NOT_ALLOWED, anonymous=REDIRECT, inactive=REDIRECT, liaison=NOT_ALLOWED
    ),
    "admin:password_change": staff(OK, OK, liaison=OK),
    "admin:password_change_done": staff(OK, OK, liaison=OK),
    # A liaison's index shows their hospital's side only; the model search finds nothing.
    "admin:index": staff(OK, OK, liaison=OK),
    "admin:search": staff(OK, OK, liaison=OK),
    "admin:autocomplete": staff(DENIED, DENIED),  # refused without a model and field
    "admin:jsi18n": staff(OK, OK, liaison=OK),
    "admin:app_list": staff(OK, OK, liaison=MISSING),  # no app the liaison may see
    "admin:auth_user_password_change": staff(DENIED, OK),
    "admin:otp_totp_totpdevice_config": staff(DENIED, DENIED),
    "admin:otp_totp_totpdevice_qrcode": staff(DENIED, DENIED),
    # History views of simple-history.
    "admin:referrals_patient_simple_history": staff(OK, OK),
    "admin:referrals_priortreatmentline_simple_history": staff(OK, OK),
    "admin:referrals_referral_simple_history": staff(OK, OK),
    "admin:trials_program_simple_history": staff(OK, OK),
    "admin:trials_trial_simple_history": staff(OK, OK),
    # Data exchange.
    "admin:referrals_referral_export_csv": staff(OK, OK),
    "admin:referrals_referral_export_xlsx": staff(OK, OK),
    "admin:referrals_screeningrecord_export_csv": staff(OK, OK),
    "admin:referrals_screeningrecord_export_xlsx": staff(OK, OK),
    # The import: the job is the first coordinator's, so the second gets 404 like anyone
    # who did not upload it (admins see every job).
    "admin:referrals_referral_import_leads": staff(OK, OK),
    "admin:referrals_referral_import_job": {**staff(OK, OK), "coordinator2": MISSING},
    **{
        f"admin:referrals_referral_import_job_{name}": staff(  # POST only, checked first
            NOT_ALLOWED, NOT_ALLOWED, liaison=NOT_ALLOWED
        )
        for name in ("confirm", "resume", "discard")
    },
    "admin:trials_trial_import_from_ctgov": staff(DENIED, OK),
    "admin:trials_trial_propose_criteria": staff(DENIED, OK),
    # Privacy.
    "admin:referrals_patient_export_data": staff(DENIED, OK),
    "admin:referrals_patient_erase": staff(DENIED, OK),
    # Coordinator pages.
    "referrals:queue": staff(OK, OK),
    "referrals:board": staff(OK, OK),
    "referrals:screen": staff(OK, OK),
    "referrals:lead": staff(OK, OK),
    "referrals:lead_ineligible": staff(OK, OK),
    "referrals:lead_document": staff(OK, OK),
    "referrals:lead_packet": staff(OK, OK),
    "referrals:lead_packet_pdf": staff(OK, OK),
    "referrals:lead_fhir": staff(OK, OK),
    # Two-factor sign-in pages: any signed-in user. The admin has a device already, so setup
    # sends them to their security page; the QR code exists only during setup; recovery codes
    # and "setup complete" need a verified session (none is, signed in without the sign-in page).
    "two_factor:setup": staff(OK, REDIRECT, liaison=OK),
    "two_factor:qr": staff(MISSING, MISSING, liaison=MISSING),
    "two_factor:setup_complete": staff(REDIRECT, REDIRECT, liaison=REDIRECT),
    "two_factor:backup_tokens": staff(REDIRECT, REDIRECT, liaison=REDIRECT),
    "two_factor:profile": staff(OK, OK, liaison=OK),
    "two_factor:disable": everyone(REDIRECT),
    # The hospital liaison's pages: hospital A's referral is a 404 for hospital B's liaison.
    "hospital:referrals": liaisons_only(OK),
    "hospital:referral": liaisons_only(OK, MISSING),
    "hospital:document": liaisons_only(OK, MISSING),
    **{
        f"hospital:{name}": liaisons_only(NOT_ALLOWED)  # POST only
        for name in ("receipt", "request_documents", "accept", "decline", "dates", "treated")
    },
    **{
        f"referrals:{name}": staff(NOT_ALLOWED, NOT_ALLOWED)  # POST only
        for name in ("board_move", *LEAD_ACTIONS)
    },
    **_admin_model_entries(),
}
# Unnamed patterns, keyed by their route.
UNNAMED = {
    # The root redirects to the admin index.
    "": everyone(REDIRECT),
    # The two-factor sign-in page, at the admin login's address ahead of it.
    "admin/login/": MATRIX["admin:login"],
    # Old-style admin object URLs redirect to the change page; the catch-all 404s or logs in.
    r"admin/(?P<url>.*)$": staff(MISSING, MISSING, liaison=MISSING),
    **{
        f"admin/{model.replace('.', '/')}/<path:object_id>/": staff(
            REDIRECT, REDIRECT, liaison=REDIRECT
        )
        for model in ADMIN_MODELS
    },
}

# Who may post each of the lead page's forms (tests/lead_actions.py) with a valid body: a write
# goes back to the lead page (302); a liaison is refused every coordinator page.
LEAD_ACTION_POSTS = staff(REDIRECT, REDIRECT, liaison=DENIED)


def _patterns(patterns=None, prefix="", namespace=""):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace + (f"{pattern.namespace}:" if pattern.namespace else "")
            yield from _patterns(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        else:
            route = prefix + str(pattern.pattern)
            yield (namespace + pattern.name if pattern.name else None), route


def _key(name: str | None, route: str) -> str:
    return name or route


def test_it_has_an_entry_for_every_url():
    missing = [
        _key(name, route)
        for name, route in _patterns()
        if (name and name not in MATRIX) or (not name and route not in UNNAMED)
    ]

    assert missing == [], "Add these URLs to the permission matrix"


def test_it_lists_every_post_action_of_the_lead_page():
    """A form the lead page posts belongs in tests/lead_actions.py, not only in the matrix."""
    post_only = {
        name
        for name, statuses in MATRIX.items()
        if name.startswith("referrals:lead") and statuses["coordinator"] == NOT_ALLOWED
    }

    assert post_only == {f"referrals:{name}" for name in LEAD_ACTIONS}


@pytest.fixture
def objects(db, coordinator, admin_user, settings, tmp_path, hospital, hospital_b, liaison):
    """One of everything, for the URL arguments.

    The lead is referred to a program of hospital A; hospital B's liaison has a referral of
    their own (so neither list is empty) but not this one.
    """
    settings.PRIVATE_STORAGE_ROOT = tmp_path
    line = PriorTreatmentLineFactory(therapies=[TherapyFactory()])
    referral = ReferralFactory(patient=line.patient, assigned_to=coordinator)
    program = ProgramFactory(hospital=hospital, conditions=[ConditionFactory()])
    referral.target_program = program  # so the referral packet can be prepared
    referral.save()
    event = ReferralEvent.objects.create(referral=referral, kind="note", body="x")
    task = Task.objects.create(
        referral=referral, title="Call", due_on="2026-12-01", assignee=coordinator
    )
    screening = ScreeningRecord.objects.create(
        referral=referral, program=program, candidate_name="X", verdict="eligible", criteria=[]
    )
    referral.stage = Stage.ELIGIBLE
    referral.save()
    referral = services.referral_transition(
        referral=referral, to_stage=Stage.REFERRED, by=coordinator, expected_version=1
    )
    referred_lead(ProgramFactory(hospital=hospital_b), coordinator=coordinator)
    log = AccessLog.objects.create(user=admin_user, action=AccessAction.EXPORT)
    document = services.document_upload(
        referral=referral,
        uploaded_file=SimpleUploadedFile("records.pdf", pdf_bytes(), "application/pdf"),
        kind="medical_record",
        by=coordinator,
    )
    import_job = imports.import_job_create(
        by=coordinator, file_name="leads.csv", content=b"first_name,last_name,source\n"
    )
    return {
        "referrals.importjob": import_job,
        "django_tasks_database.dbtaskresult": DBTaskResult.objects.get(
            pk=tasks.coordinator_notify.enqueue(referral_id=referral.pk).id
        ),
        "axes.accessattempt": AccessAttempt.objects.create(
            username="x", ip_address="10.0.0.1", failures_since_start=1
        ),
        "axes.accesslog": AxesAccessLog.objects.create(username="x", ip_address="10.0.0.1"),
        "axes.accessfailurelog": AccessFailureLog.objects.create(
            username="x", ip_address="10.0.0.1"
        ),
        "otp_totp.totpdevice": TOTPDevice.objects.create(user=admin_user, name="default"),
        "otp_static.staticdevice": StaticDevice.objects.create(user=admin_user, name="backup"),
        "referrals.leaddocument": document,
        "referrals.referral": referral,
        "referrals.liaisonprofile": liaison.liaison_profile,
        "referrals.referralsnapshot": referral.snapshots.get(),
        "referrals.patient": line.patient,
        "referrals.priortreatmentline": line,
        "referrals.task": task,
        "referrals.referralevent": event,
        "referrals.screeningrecord": screening,
        "referrals.accesslog": log,
        "trials.condition": ConditionFactory(),
        "trials.therapy": TherapyFactory(),
        "trials.hospital": HospitalFactory(),
        "trials.program": program,
        "trials.trial": TrialFactory(),
        "auth.user": coordinator,
        "auth.group": coordinator.groups.get(),
    }


def _model_of(name: str | None, route: str) -> str | None:
    match = re.match(r"admin/(\w+)/(\w+)/", route)
    if match:
        return f"{match[1]}.{match[2]}"
    return None


def _url(name, route, objects) -> str:
    model = _model_of(name, route)
    referral = objects["referrals.referral"]
    target = objects.get(model) if model else None
    if name is None:
        if route == "":
            return "/"
        if route.startswith("admin/(?P<url>"):
            return "/admin/no-such-page/"
        return "/" + route.replace("<path:object_id>", str(target.pk if target else 1))
    if name.endswith("_simple_history"):  # positional: object id, history version id
        return reverse(name, args=[target.pk, target.history.first().history_id])
    kwargs = {}
    for parameter in re.findall(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>", route):
        parameter = next(p for p in parameter if p)
        kwargs[parameter] = {
            "pk": referral.pk
            if name.startswith(("referrals:", "hospital:"))
            else (target.pk if target else 1),
            "object_id": target.pk if target else 1,
            "id": target.pk if target else 1,
            "task_pk": objects["referrals.task"].pk,
            "document_pk": objects["referrals.leaddocument"].pk,
            "job_id": objects["referrals.importjob"].pk,
            "visit_pk": 1,  # POST only: refused before the visit is looked up
            "app_label": "referrals",
            "url": "x",
        }[parameter]
    return reverse(name, kwargs=kwargs)


@pytest.fixture
def clients(client, coordinator, coordinator2, admin_user, liaison, liaison_b):
    from django.test import Client

    signed_in = {}
    for role, user in (
        ("coordinator", coordinator),
        ("coordinator2", coordinator2),
        ("admin", admin_user),
        ("liaison", liaison),
        ("liaison_b", liaison_b),
        ("inactive", UserFactory(username="inactive", role="Coordinator", is_active=False)),
    ):
        signed_in[role] = Client()
        signed_in[role].force_login(user)
    return {"anonymous": client, **signed_in}


def _close(response) -> None:
    """Release a download's open file. Closing a response sends request_finished, which would
    close the test's database connection mid-transaction on PostgreSQL, so the signal is held
    back the way Django's test client holds it back for its own close."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_it_gives_every_role_exactly_the_access_in_the_matrix(objects, clients):
    mismatches = []
    for name, route in _patterns():
        expected = MATRIX[name] if name else UNNAMED[route]
        url = _url(name, route, objects)
        for role in ROLES:
            response = clients[role].get(url)
            _close(response)
            status = response.status_code
            if status == REDIRECT and reverse("admin:login") in response.get("Location", ""):
                status = LOGIN if role in ("anonymous", "inactive") else status
            if status != expected[role]:
                mismatches.append(
                    f"{_key(name, route)} as {role}: got {status}, want {expected[role]}"
                )

    assert mismatches == [], "\n".join(mismatches)


@pytest.mark.django_db
@pytest.mark.parametrize("name", LEAD_ACTIONS)
def test_it_lets_exactly_the_roles_in_the_matrix_post_each_lead_action(
    name, clients, coordinator, condition, program, settings, tmp_path
):
    settings.PRIVATE_STORAGE_ROOT = tmp_path  # the upload and the sent packet keep files
    mismatches = []
    for role in ROLES:
        lead = ReferralFactory(patient=pages.refractory_patient(condition), assigned_to=coordinator)
        url, data = lead_action(name, lead, program=program, coordinator=coordinator)
        before = pages.written(lead)

        response = clients[role].post(url, data)

        status = response.status_code
        if status == REDIRECT and reverse("admin:login") in response["Location"]:
            status = LOGIN
        wrote = pages.written(lead) != before
        if status != LEAD_ACTION_POSTS[role] or wrote != (status == REDIRECT):
            mismatches.append(
                f"{name} as {role}: got {status} ({'a write' if wrote else 'nothing written'}), "
                f"want {LEAD_ACTION_POSTS[role]}"
            )

    assert mismatches == [], "\n".join(mismatches)
