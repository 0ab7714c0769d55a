import datetime

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from referrals import selectors, services


class Command(BaseCommand):
    help = (
        "Anonymise patients whose leads are all closed and were closed longer ago than the "
        "retention period (settings.RETENTION_DAYS). Use --dry-run first."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=settings.RETENTION_DAYS)
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, days: int, dry_run: bool, **options):
        cutoff = timezone.now() - datetime.timedelta(days=days)
        patients = list(selectors.closed_leads_past_retention(cutoff))
        verb = "would be anonymised" if dry_run else "anonymised"
        if not dry_run:
            for patient in patients:
                services.patient_erase(
                    patient=patient, by=None, reason=f"Retention: leads closed over {days} days"
                )
        self.stdout.write(
            f"{len(patients)} patients {verb} (leads closed before {cutoff:%Y-%m-%d})."
        )
