"""Granted admins the import jobs.

The roles are now declared once in `referrals/roles.py` and applied by `0026_roles_declared`.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("referrals", "0024_import_jobs")]

    operations = []
