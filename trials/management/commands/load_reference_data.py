from argparse import ArgumentParser
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from trials.services import REFERENCE_DIR, ReferenceDataError, reference_data_load


class Command(BaseCommand):
    help = (
        "Create or update conditions, therapies, hospitals, trials, programs and their "
        "eligibility criteria from the reference JSON files (idempotent; never deletes rows)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--directory",
            type=Path,
            default=REFERENCE_DIR,
            help=f"Folder holding the six JSON files (default: {REFERENCE_DIR}).",
        )

    def handle(self, *args: object, directory: Path, **options: object) -> None:
        try:
            report = reference_data_load(directory=directory)
        except ReferenceDataError as error:
            raise CommandError(str(error)) from error
        for entity, counts in report.by_entity().items():
            self.stdout.write(
                f"{entity}: {counts.created} created, {counts.updated} updated, "
                f"{counts.unchanged} unchanged"
            )
