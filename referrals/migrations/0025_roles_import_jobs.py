"""Admins see every coordinator's import files; a coordinator sees their own (the import pages
are governed by the permissions to add patients and referrals)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    Group.objects.get(name="Admin").permissions.add(
        Permission.objects.get(content_type__app_label="referrals", codename="view_importjob")
    )


class Migration(migrations.Migration):
    dependencies = [("referrals", "0024_import_jobs")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
