import json

from django.core.management.base import BaseCommand, CommandError

from referrals import selectors, services
from referrals.models import Patient
from referrals.vocabulary import AccessAction


class Command(BaseCommand):
    help = "Print everything held about one patient as JSON (a subject access request)."

    def add_arguments(self, parser):
        parser.add_argument("patient_id", type=int)

    def handle(self, *args, patient_id: int, **options):
        try:
            data = selectors.patient_data_export(patient_id)
        except Patient.DoesNotExist:
            raise CommandError(f"No patient with id {patient_id}.") from None
        services.access_log_record(
            user=None,
            action=AccessAction.EXPORT,
            patient=Patient.objects.get(pk=patient_id),
            detail="Subject access export (command line)",
        )
        self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False))
