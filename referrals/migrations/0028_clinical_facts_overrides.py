# Dated clinical facts for the eligibility engine, and coordinators' criterion overrides.

import django.db.models.deletion
import django.utils.timezone
import simple_history.models
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('referrals', '0027_hospital_side_infusion_date'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='referralevent',
            name='kind',
            field=models.CharField(choices=[('created', 'Created'), ('stage_change', 'Stage change'), ('note', 'Note'), ('call', 'Call'), ('email', 'E-mail'), ('document_received', 'Document received'), ('assignment', 'Assignment'), ('screening', 'Eligibility check'), ('target', 'Target chosen'), ('merge', 'Merged'), ('treatment_line', 'Treatment line'), ('task', 'Task'), ('receipt_confirmed', 'Receipt confirmed by the hospital'), ('documents_requested', 'Documents requested by the hospital'), ('hospital_dates', 'Hospital dates'), ('packet_sent', 'Referral packet sent'), ('outcome', 'Treatment outcome'), ('follow_up', 'Follow-up visit'), ('clinical_fact', 'Clinical fact'), ('override', 'Criterion override')], max_length=24),
        ),
        migrations.CreateModel(
            name='HistoricalClinicalFact',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('kind', models.CharField(choices=[('sledai_2k', 'SLEDAI-2K'), ('das28', 'DAS28'), ('mrss', 'mRSS'), ('bvas', 'BVAS'), ('essdai', 'ESSDAI'), ('cdasi_activity', 'CDASI activity'), ('mmt8', 'MMT-8'), ('mg_adl', 'MG-ADL'), ('qmg', 'QMG'), ('mgfa_class', 'MGFA class'), ('ana', 'ANA'), ('anti_dsdna', 'Anti-dsDNA'), ('anti_ccp', 'Anti-CCP'), ('rf', 'Rheumatoid factor'), ('anti_scl70', 'Anti-Scl-70'), ('anca_pr3', 'ANCA PR3'), ('anca_mpo', 'ANCA MPO'), ('achr_ab', 'AChR antibodies'), ('musk_ab', 'MuSK antibodies'), ('lrp4_ab', 'LRP4 antibodies'), ('myositis_antibody', 'Myositis-specific antibody'), ('egfr', 'eGFR'), ('creatinine', 'Creatinine'), ('anc', 'Neutrophils (ANC)'), ('lymphocytes', 'Lymphocytes'), ('platelets', 'Platelets'), ('haemoglobin', 'Haemoglobin'), ('alt', 'ALT'), ('ast', 'AST'), ('bilirubin', 'Bilirubin'), ('igg', 'IgG'), ('ln_biopsy_class', 'Lupus nephritis biopsy class (ISN/RPS)'), ('ild', 'Interstitial lung disease'), ('pah', 'Pulmonary arterial hypertension'), ('cns_lupus', 'Neuropsychiatric (CNS) lupus'), ('disease_onset', 'Disease onset'), ('first_non_raynaud_symptom', 'First non-Raynaud symptom'), ('hbv', 'Hepatitis B'), ('hcv', 'Hepatitis C'), ('hiv', 'HIV'), ('tb', 'Tuberculosis'), ('pregnant', 'Pregnant or breastfeeding'), ('childbearing_potential', 'Of childbearing potential'), ('malignancy_history', 'History of malignancy'), ('prior_car_t', 'Prior CAR-T therapy'), ('prior_cell_gene_therapy', 'Prior other cell or gene therapy'), ('travel_abroad', 'Can be treated abroad')], max_length=32)),
                ('value_number', models.DecimalField(blank=True, decimal_places=2, max_digits=9, null=True)),
                ('value_text', models.CharField(blank=True, max_length=32)),
                ('value_date', models.DateField(blank=True, null=True)),
                ('observed_on', models.DateField(help_text="When it was measured or found (the lab's or the letter's date).")),
                ('source', models.CharField(choices=[('letter', "Physician's letter"), ('document', 'Medical record or lab report'), ('phone', 'Phone call'), ('intake', 'Intake form')], max_length=16)),
                ('note', models.CharField(blank=True, max_length=200)),
                ('recorded_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.TextField(null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('patient', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='referrals.patient')),
                ('recorded_by', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'historical clinical fact',
                'verbose_name_plural': 'historical clinical facts',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='HistoricalCriterionOverride',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('candidate_kind', models.CharField(max_length=8)),
                ('candidate_id', models.PositiveIntegerField()),
                ('criterion_key', models.CharField(max_length=32)),
                ('criterion_name', models.CharField(max_length=200)),
                ('result', models.CharField(choices=[('pass', 'Passes'), ('fail', 'Fails')], max_length=4)),
                ('reason', models.TextField()),
                ('decided_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.TextField(null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('decided_by', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('referral', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='referrals.referral')),
            ],
            options={
                'verbose_name': 'historical criterion override',
                'verbose_name_plural': 'historical criterion overrides',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='ClinicalFact',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('sledai_2k', 'SLEDAI-2K'), ('das28', 'DAS28'), ('mrss', 'mRSS'), ('bvas', 'BVAS'), ('essdai', 'ESSDAI'), ('cdasi_activity', 'CDASI activity'), ('mmt8', 'MMT-8'), ('mg_adl', 'MG-ADL'), ('qmg', 'QMG'), ('mgfa_class', 'MGFA class'), ('ana', 'ANA'), ('anti_dsdna', 'Anti-dsDNA'), ('anti_ccp', 'Anti-CCP'), ('rf', 'Rheumatoid factor'), ('anti_scl70', 'Anti-Scl-70'), ('anca_pr3', 'ANCA PR3'), ('anca_mpo', 'ANCA MPO'), ('achr_ab', 'AChR antibodies'), ('musk_ab', 'MuSK antibodies'), ('lrp4_ab', 'LRP4 antibodies'), ('myositis_antibody', 'Myositis-specific antibody'), ('egfr', 'eGFR'), ('creatinine', 'Creatinine'), ('anc', 'Neutrophils (ANC)'), ('lymphocytes', 'Lymphocytes'), ('platelets', 'Platelets'), ('haemoglobin', 'Haemoglobin'), ('alt', 'ALT'), ('ast', 'AST'), ('bilirubin', 'Bilirubin'), ('igg', 'IgG'), ('ln_biopsy_class', 'Lupus nephritis biopsy class (ISN/RPS)'), ('ild', 'Interstitial lung disease'), ('pah', 'Pulmonary arterial hypertension'), ('cns_lupus', 'Neuropsychiatric (CNS) lupus'), ('disease_onset', 'Disease onset'), ('first_non_raynaud_symptom', 'First non-Raynaud symptom'), ('hbv', 'Hepatitis B'), ('hcv', 'Hepatitis C'), ('hiv', 'HIV'), ('tb', 'Tuberculosis'), ('pregnant', 'Pregnant or breastfeeding'), ('childbearing_potential', 'Of childbearing potential'), ('malignancy_history', 'History of malignancy'), ('prior_car_t', 'Prior CAR-T therapy'), ('prior_cell_gene_therapy', 'Prior other cell or gene therapy'), ('travel_abroad', 'Can be treated abroad')], max_length=32)),
                ('value_number', models.DecimalField(blank=True, decimal_places=2, max_digits=9, null=True)),
                ('value_text', models.CharField(blank=True, max_length=32)),
                ('value_date', models.DateField(blank=True, null=True)),
                ('observed_on', models.DateField(help_text="When it was measured or found (the lab's or the letter's date).")),
                ('source', models.CharField(choices=[('letter', "Physician's letter"), ('document', 'Medical record or lab report'), ('phone', 'Phone call'), ('intake', 'Intake form')], max_length=16)),
                ('note', models.CharField(blank=True, max_length=200)),
                ('recorded_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('patient', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='clinical_facts', to='referrals.patient')),
                ('recorded_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-observed_on', '-id'],
                'indexes': [models.Index(fields=['patient', '-observed_on', '-id'], name='fact_patient_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(models.Q(('value_date__isnull', True), ('value_number__isnull', False), ('value_text', '')), models.Q(('value_date__isnull', True), ('value_number__isnull', True), models.Q(('value_text', ''), _negated=True)), models.Q(('value_date__isnull', False), ('value_number__isnull', True), ('value_text', '')), _connector='OR'), name='fact_has_one_value', violation_error_message='A fact holds one value: a number, a choice or a date.')],
            },
        ),
        migrations.CreateModel(
            name='CriterionOverride',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('candidate_kind', models.CharField(max_length=8)),
                ('candidate_id', models.PositiveIntegerField()),
                ('criterion_key', models.CharField(max_length=32)),
                ('criterion_name', models.CharField(max_length=200)),
                ('result', models.CharField(choices=[('pass', 'Passes'), ('fail', 'Fails')], max_length=4)),
                ('reason', models.TextField()),
                ('decided_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('decided_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('referral', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='criterion_overrides', to='referrals.referral')),
            ],
            options={
                'ordering': ['-decided_at', '-id'],
                'constraints': [models.UniqueConstraint(fields=('referral', 'candidate_kind', 'candidate_id', 'criterion_key'), name='override_once_per_criterion'), models.CheckConstraint(condition=models.Q(('reason', ''), _negated=True), name='override_has_reason', violation_error_message='An override needs its reason.')],
            },
        ),
    ]
