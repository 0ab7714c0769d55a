from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from referrals.demo import demo_data_seed


class Command(BaseCommand):
    help = "Create demo users and demo leads (idempotent; refuses to run in production)."

    def add_arguments(self, parser):
        parser.add_argument("--referrals", type=int, default=300, help="How many demo leads.")

    def handle(self, *args, referrals: int, **options):
        if settings.PRODUCTION:
            raise CommandError("Demo data is for development only (DJANGO_ENV=production).")
        created = demo_data_seed(referral_count=referrals)
        self.stdout.write(f"demo leads: {created} created, {referrals - created} already there")
