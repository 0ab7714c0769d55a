# One name for the infusion date; the hospital side computed by the database.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('referrals', '0026_roles_declared'),
    ]

    operations = [
        migrations.RenameField(
            model_name='referral',
            old_name='scheduled_for',
            new_name='infusion_date',
        ),
        migrations.AlterField(
            model_name='referral',
            name='infusion_date',
            field=models.DateField(blank=True, help_text='The CAR-T infusion: planned, then given.', null=True),
        ),
        migrations.RenameField(
            model_name='historicalreferral',
            old_name='scheduled_for',
            new_name='infusion_date',
        ),
        migrations.AlterField(
            model_name='historicalreferral',
            name='infusion_date',
            field=models.DateField(blank=True, help_text='The CAR-T infusion: planned, then given.', null=True),
        ),
        migrations.AddField(
            model_name='referral',
            name='hospital_side',
            field=models.GeneratedField(db_persist=True, expression=models.Case(models.When(models.Q(('consult_date__isnull', False), ('stage', 'referred')), then=models.Value('consult_booked')), models.When(models.Q(('receipt_confirmed_at__isnull', False), ('stage', 'referred')), then=models.Value('received')), models.When(models.Q(('stage', 'referred')), then=models.Value('sent')), models.When(models.Q(('stage', 'accepted')), then=models.Value('accepted')), models.When(models.Q(('stage', 'scheduled')), then=models.Value('scheduled')), models.When(models.Q(('stage__in', ('treated', 'follow_up'))), then=models.Value('treated')), models.When(models.Q(('close_reason', 'declined_by_hospital'), ('stage', 'closed')), then=models.Value('declined')), models.When(models.Q(('referred_at__isnull', False), ('stage', 'closed')), then=models.Value('closed')), default=None), help_text='What the hospital has done with the referral; empty before it is sent.', output_field=models.CharField(choices=[('sent', 'Sent, receipt not confirmed'), ('received', 'Received, awaiting decision'), ('consult_booked', 'Consult booked, awaiting decision'), ('accepted', 'Accepted'), ('scheduled', 'Infusion scheduled'), ('treated', 'Treated'), ('declined', 'Declined by the hospital'), ('closed', 'Closed by the service')], max_length=16, null=True)),
        ),
    ]
