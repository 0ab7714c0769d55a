import json
from argparse import ArgumentParser
from dataclasses import asdict

from django.core.management.base import BaseCommand

from trials.selectors import CandidateCoverage, CriteriaCoverage, criteria_coverage


class Command(BaseCommand):
    help = (
        "Per trial and program: its typed and manual eligibility criteria, and the clauses of "
        "its eligibility text no criterion quotes yet; then the totals."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print JSON instead of text."
        )

    def handle(self, *args: object, as_json: bool, **options: object) -> None:
        coverage = criteria_coverage()
        if as_json:
            self.stdout.write(_as_json(coverage))
            return
        for row in coverage.candidates:
            self.stdout.write(f"{row.kind} {row.name}: {_summary(row)}")
            for clause in row.not_encoded or ():
                self.stdout.write(f"    not encoded: {clause}")
        totals = coverage.totals
        self.stdout.write(
            f"totals: {_count(totals['trials'], 'trial')}, "
            f"{_count(totals['programs'], 'program')}; "
            f"{totals['typed']} typed, "
            f"{_count(totals['manual'], 'manual criterion', 'manual criteria')}; "
            f"{totals['without_criteria']} without criteria; "
            f"{totals['with_clauses_not_encoded']} with clauses not encoded "
            f"({_count(totals['clauses_not_encoded'], 'clause')})"
        )


def _summary(row: CandidateCoverage) -> str:
    if row.not_encoded is None:
        text = "no eligibility text"
    elif row.not_encoded:
        text = f"{_count(len(row.not_encoded), 'clause')} not encoded"
    else:
        text = "every clause encoded"
    return f"{row.typed} typed, {row.manual} manual, {text}"


def _count(number: int, singular: str, plural: str = "") -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def _as_json(coverage: CriteriaCoverage) -> str:
    return json.dumps(
        {
            "candidates": [asdict(row) for row in coverage.candidates],
            "totals": coverage.totals,
        },
        ensure_ascii=False,
        indent=2,
    )
