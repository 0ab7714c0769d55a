from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from referrals.roles import roles_apply


class Command(BaseCommand):
    help = (
        "Make the staff groups hold exactly the permissions declared in referrals/roles.py "
        "(after a change there, or to undo a group edited by hand). Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, database: str, **options):
        try:
            changes = roles_apply(using=database)
        except LookupError as error:
            raise CommandError(str(error)) from error
        for role, change in changes.items():
            if not change.added and not change.removed:
                self.stdout.write(f"{role}: unchanged")
                continue
            self.stdout.write(f"{role}:")
            for name in sorted(change.added):
                self.stdout.write(f"  + {name}")
            for name in sorted(change.removed):
                self.stdout.write(f"  - {name}")
