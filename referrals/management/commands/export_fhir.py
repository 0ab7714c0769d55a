from django.core.management.base import BaseCommand, CommandError

from referrals import fhir, selectors, services
from referrals.models import Referral
from referrals.vocabulary import AccessAction


class Command(BaseCommand):
    help = "Print one referral as a FHIR R4 Bundle (JSON): patient, condition, therapies, referral."

    def add_arguments(self, parser):
        parser.add_argument("referral_id", type=int)

    def handle(self, *args, referral_id: int, **options):
        try:
            referral = selectors.referral_for_handoff(referral_id)
        except Referral.DoesNotExist:
            raise CommandError(f"No referral with id {referral_id}.") from None
        body = fhir.referral_bundle_json(referral)
        services.access_log_record(
            user=None,
            action=AccessAction.EXPORT,
            referral=referral,
            detail=f"FHIR bundle for lead #{referral.pk} (command line)",
        )
        self.stdout.write(body)
