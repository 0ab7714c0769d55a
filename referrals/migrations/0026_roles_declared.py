"""Apply the roles declared in `referrals/roles.py`: the groups and their exact permissions.

This replaces the grants that 0002, 0004, 0008, 0009, 0011, 0014 and 0025 each made. It runs
after every model the roles name exists, so a fresh database and an upgraded one end up alike.
"""

from django.db import migrations

from referrals.roles import roles_apply


def apply_roles(apps, schema_editor):
    roles_apply(apps=apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0025_roles_import_jobs"),
        ("trials", "0002_localized_names"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(apply_roles, migrations.RunPython.noop)]
