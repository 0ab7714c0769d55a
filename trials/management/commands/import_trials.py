from argparse import ArgumentParser
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from trials.ctgov import CtgovError, parse_path
from trials.services import (
    FieldChange,
    ImportOutcome,
    ImportPlan,
    trial_import_apply,
    trial_import_plan,
)


class Command(BaseCommand):
    help = (
        "Create or update trials and their sites from ClinicalTrials.gov API v2 JSON (a study, "
        "a list of studies or a list-endpoint page), by NCT ID. PATH is a file or a directory "
        "of *.json files. Idempotent; a bad file writes nothing at all."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("path", type=Path, help="A JSON file, or a directory of *.json files.")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Print what would change, record by record, and write nothing.",
        )

    def handle(self, *args: object, path: Path, dry_run: bool, **options: object) -> None:
        try:
            records = parse_path(path)
            result = (
                trial_import_plan(records=records)
                if dry_run
                else trial_import_apply(records=records)
            )
        except CtgovError as error:
            raise CommandError(str(error)) from error
        if dry_run or options["verbosity"] >= 2:
            self._print_plan(result)
        for line in result.summary_lines():
            self.stdout.write(line)
        if dry_run:
            self.stdout.write("Dry run: nothing was written.")

    def _print_plan(self, plan: ImportPlan) -> None:
        for trial in plan.trials:
            self.stdout.write(f"{trial.nct_id} {trial.outcome}: {trial.title} ({trial.source})")
            if trial.reason:
                self.stdout.write(f"    {trial.reason}")
            for change in trial.changes:
                self.stdout.write(f"    {_change(change, trial.outcome)}")
            for site in trial.sites:
                if site.outcome is ImportOutcome.UNCHANGED:
                    continue
                where = ", ".join(part for part in (site.facility, site.city, site.country) if part)
                details = [site.reason] if site.reason else []
                details += [_change(change, site.outcome) for change in site.changes]
                if site.hospital:
                    details.append(f"hospital: {site.hospital}")
                suffix = f" ({'; '.join(details)})" if details else ""
                self.stdout.write(f"    site {site.outcome}: {where or '(no facility)'}{suffix}")


def _change(change: FieldChange, outcome: ImportOutcome) -> str:
    if outcome is ImportOutcome.CREATED:
        return f"{change.field}: {_one_line(change.new)}"
    return f"{change.field}: {_one_line(change.old)} → {_one_line(change.new)}"


def _one_line(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[: limit - 1]}…"
