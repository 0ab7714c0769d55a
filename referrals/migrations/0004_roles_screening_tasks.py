"""Coordinators record eligibility checks and work tasks; admins get everything new too."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

COORDINATOR_PERMISSIONS = {
    "screeningrecord": ["add", "view"],
    "task": ["add", "change", "view"],
}


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    coordinator = Group.objects.get(name="Coordinator")
    for model, actions in COORDINATOR_PERMISSIONS.items():
        coordinator.permissions.add(
            *Permission.objects.filter(
                content_type__app_label="referrals",
                codename__in=[f"{action}_{model}" for action in actions],
            )
        )
    Group.objects.get(name="Admin").permissions.add(
        *Permission.objects.filter(content_type__app_label="referrals")
    )


class Migration(migrations.Migration):
    dependencies = [("referrals", "0003_screening_tasks")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
