"""The patient's undated disease-activity scores become dated clinical facts, then go.

Each score a patient had becomes a `ClinicalFact` of its kind, dated the day the patient record
was last changed (the best date known for it) and noted as moved, so the engine and the pages
read one home for disease activity: the dated facts.
"""

from django.db import migrations
from django.db.models import Q

SCORES = ("sledai_2k", "das28", "mrss", "mg_adl")


def scores_to_facts(apps, schema_editor):
    Patient = apps.get_model("referrals", "Patient")
    ClinicalFact = apps.get_model("referrals", "ClinicalFact")
    with_scores = Q()
    for score in SCORES:
        with_scores |= Q(**{f"{score}__isnull": False})
    facts = [
        ClinicalFact(
            patient_id=patient.pk,
            kind=score,
            value_number=getattr(patient, score),
            observed_on=patient.updated_at.date(),
            source="document",
            note="Moved from the patient record; date is the record's last change.",
        )
        for patient in Patient.objects.filter(with_scores).only("id", "updated_at", *SCORES)
        for score in SCORES
        if getattr(patient, score) is not None
    ]
    ClinicalFact.objects.bulk_create(facts, batch_size=1000)


class Migration(migrations.Migration):

    dependencies = [
        ('referrals', '0030_snapshot_taken_index'),
    ]

    operations = [
        migrations.RunPython(scores_to_facts, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='historicalpatient',
            name='das28',
        ),
        migrations.RemoveField(
            model_name='historicalpatient',
            name='mg_adl',
        ),
        migrations.RemoveField(
            model_name='historicalpatient',
            name='mrss',
        ),
        migrations.RemoveField(
            model_name='historicalpatient',
            name='sledai_2k',
        ),
        migrations.RemoveField(
            model_name='patient',
            name='das28',
        ),
        migrations.RemoveField(
            model_name='patient',
            name='mg_adl',
        ),
        migrations.RemoveField(
            model_name='patient',
            name='mrss',
        ),
        migrations.RemoveField(
            model_name='patient',
            name='sledai_2k',
        ),
    ]
