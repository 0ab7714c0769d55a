# The dashboard reads the period's referral snapshots by when they were taken.

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('referrals', '0029_roles_facts_criteria'),
        ('trials', '0003_condition_parent_criteria'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='referralsnapshot',
            index=models.Index(fields=['taken_at'], name='snapshot_taken_idx'),
        ),
    ]
