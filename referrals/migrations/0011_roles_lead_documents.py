"""Admins read the document list in the admin (read-only there); coordinators work documents on
the lead page, which is governed by the referral permissions."""

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
        Permission.objects.get(content_type__app_label="referrals", codename="view_leaddocument")
    )


class Migration(migrations.Migration):
    dependencies = [("referrals", "0010_lead_documents")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
