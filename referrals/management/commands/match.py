import json

from django.core.management.base import BaseCommand, CommandError

from referrals import selectors
from referrals.models import Patient


class Command(BaseCommand):
    help = "Evaluate one patient against every program and trial, best match first."

    def add_arguments(self, parser):
        parser.add_argument("patient_id", type=int)
        parser.add_argument("--json", action="store_true", help="Print JSON for scripts.")

    def handle(self, *args, patient_id: int, json: bool, **options):
        try:
            patient = selectors.patient_for_eligibility(patient_id)
        except Patient.DoesNotExist:
            raise CommandError(f"No patient with id {patient_id}.") from None
        evaluations = selectors.patient_evaluations(patient)
        if json:
            self.stdout.write(_dumps([e.as_dict() for e in evaluations]))
            return
        self.stdout.write(
            f"{patient} (age {patient.age or 'unknown'}, {patient.failed_line_count} failed lines)"
        )
        for evaluation in evaluations:
            self.stdout.write(f"\n{evaluation.verdict.label:<11} {evaluation.candidate.name}")
            for criterion in evaluation.criteria:
                self.stdout.write(
                    f"  {criterion.result.value:<8} {criterion.name}: {criterion.detail}"
                )


def _dumps(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)
