"""The staff roles (Django groups) and the exact permissions each holds, declared once.

`roles_apply` makes the groups hold exactly these permissions. The data migration
`0026_roles_declared` calls it, and so does `manage.py sync_roles`; a change here ships with a
new migration calling it again (a deploy applies it) or is applied by `sync_roles`.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS, transaction

ADMIN = "Admin"
COORDINATOR = "Coordinator"
HOSPITAL_LIAISON = "Hospital liaison"

_EDIT = ("add", "change", "delete", "view")


def _permissions(app_label: str, actions: Iterable[str], models: Iterable[str]) -> set[str]:
    return {f"{app_label}.{action}_{model}" for model in models for action in actions}


ROLES: Mapping[str, frozenset[str]] = {
    # Edits everything, including users and groups; reads the logs, the documents, the
    # snapshots and the import files, which only the services write; exports and erases
    # patients on request.
    ADMIN: frozenset(
        {
            *_permissions("auth", _EDIT, ["group", "permission", "user"]),
            *_permissions(
                "trials",
                _EDIT,
                [
                    "condition",
                    "eligibilitycriterion",
                    "historicaleligibilitycriterion",
                    "historicalprogram",
                    "historicaltrial",
                    "hospital",
                    "program",
                    "therapy",
                    "trial",
                    "trialsite",
                ],
            ),
            *_permissions(
                "referrals",
                _EDIT,
                [
                    "clinicalfact",
                    "historicalclinicalfact",
                    "historicalpatient",
                    "historicalpriortreatmentline",
                    "historicalpriortreatmentline_therapies",
                    "historicalreferral",
                    "liaisonprofile",
                    "patient",
                    "priortreatmentline",
                    "referral",
                    "referralevent",
                    "screeningrecord",
                    "task",
                ],
            ),
            *_permissions(
                "referrals",
                ["view"],
                ["accesslog", "criterionoverride", "importjob", "leaddocument", "referralsnapshot"],
            ),
            "referrals.erase_patient",
            "referrals.export_patient_data",
        }
    ),
    # Works patients, treatment lines, referrals and tasks; only views the reference world.
    COORDINATOR: frozenset(
        {
            *_permissions(
                "referrals",
                ["add", "change", "view"],
                ["clinicalfact", "patient", "priortreatmentline", "referral", "task"],
            ),
            *_permissions("referrals", ["add", "view"], ["referralevent", "screeningrecord"]),
            # Overrides are made on the lead page, through their service, never in the admin.
            "referrals.view_criterionoverride",
            *_permissions(
                "trials",
                ["view"],
                [
                    "condition",
                    "eligibilitycriterion",
                    "hospital",
                    "program",
                    "therapy",
                    "trial",
                    "trialsite",
                ],
            ),
        }
    ),
    # Opens the liaison pages under /admin/hospital/ and nothing else; which referrals a liaison
    # sees comes from their LiaisonProfile.
    HOSPITAL_LIAISON: frozenset({"referrals.work_hospital_referrals"}),
}


@dataclass(frozen=True)
class RoleChange:
    added: frozenset[str]
    removed: frozenset[str]


def roles_apply(
    *, apps: Apps | None = None, using: str = DEFAULT_DB_ALIAS
) -> dict[str, RoleChange]:
    """Create the declared groups and set each one's permissions to exactly `ROLES`.

    Pass a migration's historical `apps`; without it the installed models are used. Returns
    what changed per role. A declared permission that does not exist is an error, except in a
    migration, where it belongs to a model a later migration creates: that migration calls this
    again.
    """
    apps = apps or global_apps
    in_migration = apps is not global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    with transaction.atomic(using=using):
        _permissions_create(apps=apps, using=using)
        permissions = {
            _name(permission): permission
            for permission in Permission.objects.using(using).select_related("content_type")
        }
        missing = set().union(*ROLES.values()) - permissions.keys()
        if missing and not in_migration:
            raise LookupError(
                f"Declared permissions that do not exist: {', '.join(sorted(missing))}"
            )

        changes = {}
        for role, declared in ROLES.items():
            group, _ = Group.objects.using(using).get_or_create(name=role)
            held = {
                _name(permission) for permission in group.permissions.select_related("content_type")
            }
            wanted = declared & permissions.keys()
            group.permissions.set([permissions[name] for name in wanted])
            changes[role] = RoleChange(
                added=frozenset(wanted - held), removed=frozenset(held - wanted)
            )
    return changes


def _name(permission) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"


def _permissions_create(*, apps: Apps, using: str) -> None:
    # Permissions are created by post_migrate after the last migration; a migration needs them
    # now. create_permissions skips an app config without a models module, which every
    # historical one (an AppConfigStub, without the attribute) is.
    for app_config in apps.get_app_configs():
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        try:
            create_permissions(app_config, apps=apps, verbosity=0, using=using)
        finally:
            app_config.models_module = models_module
