import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from referrals import selectors
from referrals.described_patient import DescribedPatientError, described_patient_parse
from referrals.models import Patient


class Command(BaseCommand):
    help = (
        "Evaluate one patient against every program and trial, best match first: a stored "
        "patient by id, or one described in a JSON file (--facts; nothing is written)."
    )

    def add_arguments(self, parser):
        parser.add_argument("patient_id", type=int, nargs="?")
        parser.add_argument(
            "--facts",
            type=Path,
            help="A patient described as JSON (format: referrals/described_patient.py).",
        )
        parser.add_argument("--json", action="store_true", help="Print JSON for scripts.")

    def handle(self, *args, patient_id: int | None, facts: Path | None, json: bool, **options):
        if (patient_id is None) == (facts is None):
            raise CommandError("Give a patient id or --facts FILE, not both.")
        if facts is not None:
            heading, evaluations = _described(facts)
        else:
            try:
                patient = selectors.patient_for_eligibility(patient_id)
            except Patient.DoesNotExist:
                raise CommandError(f"No patient with id {patient_id}.") from None
            heading = (
                f"{patient} (age {patient.age or 'unknown'}, "
                f"{patient.failed_line_count} failed lines)"
            )
            evaluations = selectors.patient_evaluations(patient)
        if json:
            self.stdout.write(_dumps([e.as_dict() for e in evaluations]))
            return
        self.stdout.write(heading)
        for evaluation in evaluations:
            self.stdout.write(f"\n{evaluation.verdict.label:<11} {evaluation.candidate.name}")
            for criterion in evaluation.criteria:
                self.stdout.write(
                    f"  {criterion.result.value:<8} {criterion.name}: {criterion.detail}"
                )


def _described(path: Path):
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CommandError(f"{path}: cannot be read ({error.strerror}).") from None
    except ValueError as error:
        raise CommandError(f"{path}: not valid JSON ({error}).") from None
    try:
        described = described_patient_parse(data, today=timezone.localdate())
        evaluations = selectors.described_patient_evaluations(described)
    except DescribedPatientError as error:
        raise CommandError(f"{path}: {error}") from None
    return f"Described patient as of {described.as_of:%d %b %Y}", evaluations


def _dumps(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)
