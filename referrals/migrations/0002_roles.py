"""Created the Coordinator and Admin groups.

The roles are now declared once in `referrals/roles.py` and applied by `0026_roles_declared`.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0001_initial"),
        ("trials", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = []
