"""Created the Hospital liaison group and granted admins the liaison profiles.

The roles are now declared once in `referrals/roles.py` and applied by `0026_roles_declared`.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("referrals", "0013_hospital_liaisons")]

    operations = []
