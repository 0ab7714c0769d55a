"""Screening a patient who is not in the system yet: a description in the `--facts` format in,
the same verdicts as `manage.py match` out. Nothing is written."""

import json

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from carecrm.forms import CleanTextForm
from referrals import selectors
from referrals.described_patient import DescribedPatientError, described_patient_parse
from referrals.eligibility import Verdict, checklist, missing_label
from referrals.views.common import page_context, staff_page

EXAMPLE = {
    "date_of_birth": "1981-04-02",
    "conditions": ["lupus-nephritis"],
    "diagnosis_year": 2015,
    "lines": [
        {
            "therapies": ["Mycophenolate mofetil"],
            "start": "2019-02-01",
            "end": "2020-06-30",
            "reason_stopped": "inadequate_response",
        },
        {
            "therapies": ["Cyclophosphamide"],
            "start": "2020-07-15",
            "end": "2021-01-20",
            "reason_stopped": "loss_of_response",
        },
    ],
    "facts": [{"kind": "egfr", "value": "58", "observed_on": "2026-11-20"}],
}


class DescribedPatientForm(CleanTextForm):
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 18, "class": "crm-code", "spellcheck": "false"}),
        max_length=50_000,
    )

    def show_indented(self, data: object) -> None:
        """Show the parsed description indented again: cleaning the submitted text
        (`carecrm.text.multi_line`) took every line's leading spaces."""
        self.data = self.data.copy()
        self.data[self.add_prefix("description")] = json.dumps(data, indent=2, ensure_ascii=False)


@staff_page("referrals.view_referral")
def screen(request: HttpRequest) -> HttpResponse:
    form = DescribedPatientForm(
        request.POST or None, initial={"description": json.dumps(EXAMPLE, indent=2)}
    )
    evaluations = []
    if request.method == "POST" and form.is_valid():
        try:
            data = json.loads(form.cleaned_data["description"])
            form.show_indented(data)
            described = described_patient_parse(data, today=timezone.localdate())
            evaluations = selectors.described_patient_evaluations(described)
        except ValueError as error:  # invalid JSON, or a DescribedPatientError naming the field
            form.add_error("description", _message(error))
    return render(
        request,
        "referrals/screen.html",
        page_context(
            request,
            "Screen a patient not in the system",
            form=form,
            promising=[e for e in evaluations if e.verdict != Verdict.INELIGIBLE],
            ineligible=[e for e in evaluations if e.verdict == Verdict.INELIGIBLE],
            checklist=[(missing_label(k), n) for k, n in checklist(evaluations)],
            screened=bool(evaluations),
        ),
    )


def _message(error: ValueError) -> str:
    if isinstance(error, DescribedPatientError):
        return str(error)
    return f"Not valid JSON: {error}"
