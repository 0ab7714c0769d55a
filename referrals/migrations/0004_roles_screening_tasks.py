"""Granted the screening and task permissions.

The roles are now declared once in `referrals/roles.py` and applied by `0026_roles_declared`.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("referrals", "0003_screening_tasks")]

    operations = []
