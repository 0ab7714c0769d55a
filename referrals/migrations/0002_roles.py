"""Create the two staff roles as groups.

Coordinators work referrals, patients and treatment lines, and only view the reference world.
Admins edit everything, including users.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

COORDINATOR_PERMISSIONS = {
    "referrals": {
        "patient": ["add", "change", "view"],
        "priortreatmentline": ["add", "change", "view"],
        "referral": ["add", "change", "view"],
        "referralevent": ["add", "view"],
    },
    "trials": {
        "condition": ["view"],
        "therapy": ["view"],
        "hospital": ["view"],
        "program": ["view"],
        "trial": ["view"],
        "trialsite": ["view"],
    },
}
ADMIN_APPS = ["referrals", "trials", "auth"]


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    coordinator, _ = Group.objects.get_or_create(name="Coordinator")
    codenames = [
        (app_label, f"{action}_{model}")
        for app_label, models in COORDINATOR_PERMISSIONS.items()
        for model, actions in models.items()
        for action in actions
    ]
    coordinator.permissions.set(
        [
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
            for app_label, codename in codenames
        ]
    )

    admin, _ = Group.objects.get_or_create(name="Admin")
    admin.permissions.set(Permission.objects.filter(content_type__app_label__in=ADMIN_APPS))


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0001_initial"),
        ("trials", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
