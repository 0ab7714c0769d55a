from django.core.management.base import BaseCommand

from referrals.demo import DEMO_LIAISONS, DEMO_LOGINS


class Command(BaseCommand):
    help = "Print the demo logins that `make run` creates."

    def handle(self, *args, **options):
        self.stdout.write("Demo logins (development only):")
        for login in DEMO_LOGINS:
            self.stdout.write(f"  {login.role:<12} {login.username:<14} {login.password}")
        for liaison in DEMO_LIAISONS:
            self.stdout.write(
                f"  {liaison.role:<12} {liaison.username:<16} {liaison.password:<16} "
                f"({liaison.hospital})"
            )
