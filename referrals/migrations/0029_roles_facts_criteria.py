"""Apply the roles again (`referrals/roles.py`): clinical facts, criterion overrides and
eligibility criteria now exist and the roles name them."""

from django.db import migrations

from referrals.roles import roles_apply


def apply_roles(apps, schema_editor):
    roles_apply(apps=apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0028_clinical_facts_overrides"),
        ("trials", "0003_condition_parent_criteria"),
    ]

    operations = [migrations.RunPython(apply_roles, migrations.RunPython.noop)]
