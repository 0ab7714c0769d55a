"""The third role: a hospital liaison sees only the referrals sent to their hospital.

The "Hospital liaison" group holds a single permission, `work_hospital_referrals`, which opens
the liaison pages under /admin/hospital/ and nothing else: no model in the admin, no patients,
trials or users. Which referrals a liaison sees comes from their `LiaisonProfile` (hospital and
optional programs). Admins manage the profiles and read the snapshots.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

LIAISON_GROUP = "Hospital liaison"


def create_liaison_role(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def referral_permissions(*codenames):
        return [
            Permission.objects.get(content_type__app_label="referrals", codename=codename)
            for codename in codenames
        ]

    liaison, _ = Group.objects.get_or_create(name=LIAISON_GROUP)
    liaison.permissions.set(referral_permissions("work_hospital_referrals"))
    Group.objects.get(name="Admin").permissions.add(
        *referral_permissions(
            "add_liaisonprofile",
            "change_liaisonprofile",
            "delete_liaisonprofile",
            "view_liaisonprofile",
            "view_referralsnapshot",
        )
    )


class Migration(migrations.Migration):
    dependencies = [("referrals", "0013_hospital_liaisons")]

    operations = [migrations.RunPython(create_liaison_role, migrations.RunPython.noop)]
