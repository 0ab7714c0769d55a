"""Devices made by the hand-written two-factor setup, made usable by django-two-factor-auth.

The library asks the sign-in code of a user's TOTP device named "default"; the old setup named
them "Authenticator app" and left an unconfirmed device behind on every visit to its page.
"""

from django.db import migrations


def adopt_devices(apps, schema_editor):
    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    TOTPDevice.objects.filter(confirmed=False).delete()
    users_with_default = set(
        TOTPDevice.objects.filter(name="default").values_list("user_id", flat=True)
    )
    for device in TOTPDevice.objects.exclude(user_id__in=users_with_default).order_by("id"):
        if device.user_id not in users_with_default:
            device.name = "default"
            device.save(update_fields=["name"])
            users_with_default.add(device.user_id)


class Migration(migrations.Migration):
    dependencies = [("otp_totp", "0003_add_timestamps")]

    operations = [migrations.RunPython(adopt_devices, migrations.RunPython.noop)]
