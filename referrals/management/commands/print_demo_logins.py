from django.core.management.base import BaseCommand

from referrals.demo import DEMO_LOGINS


class Command(BaseCommand):
    help = "Print the demo logins that `make run` creates."

    def handle(self, *args, **options):
        self.stdout.write("Demo logins (development only):")
        for login in DEMO_LOGINS:
            self.stdout.write(f"  {login.role:<12} {login.username:<14} {login.password}")
