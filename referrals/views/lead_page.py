"""The lead page as it is drawn, for the page itself and for every action that re-renders it
with a form's errors: the lead's views (`lead.py`) and the follow-up card's (`follow_up.py`)."""

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from referrals import documents, selectors
from referrals.eligibility import Verdict, checklist, missing_label
from referrals.forms import (
    VALUE_SUGGESTIONS,
    AssignForm,
    ClinicalFactForm,
    DocumentForm,
    FollowUpVisitForm,
    NextActionForm,
    NoteForm,
    TaskForm,
    TransitionForm,
    TreatmentLineForm,
    TreatmentOutcomeForm,
)
from referrals.models import CriterionOverride, FollowUpVisit, PriorTreatmentLine, Referral
from referrals.views.common import ReferralPage, page_context
from referrals.vocabulary import FOLLOW_UP_STAGES
from trials.clinical import FACTS


def render_lead(request: HttpRequest, referral: Referral, **bound: forms.Form) -> HttpResponse:
    referral = selectors.referral_for_lead_page(referral.pk)
    patient = referral.patient
    versioned = {"version": referral.version}
    edit_line = _line_to_edit(request, referral)
    evaluations = selectors.referral_evaluations(referral)
    today = timezone.localdate()
    fact_kind = request.GET.get("fact", "")
    context = {
        "referral": referral,
        "patient": patient,
        "lines": patient.treatment_lines.all(),
        "failed_line_count": patient.failed_line_count,
        "promising": [e for e in evaluations if e.verdict != Verdict.INELIGIBLE],
        "ineligible": (ineligible := [e for e in evaluations if e.verdict == Verdict.INELIGIBLE]),
        "ineligible_count": len(ineligible),
        "show_ineligible": request.GET.get("ineligible") == "open",
        "timeline": selectors.lead_timeline(referral),
        "today": today,
        "facts": selectors.current_facts(patient, today),
        "checklist": [
            {"label": missing_label(key), "count": count, "href": _where_to_record(key, patient)}
            for key, count in checklist(evaluations)
        ],
        "fact_form": ClinicalFactForm(
            auto_id="fact_%s",
            initial={"kind": fact_kind if fact_kind in FACTS else None, "observed_on": today},
        ),
        "fact_value_suggestions": VALUE_SUGGESTIONS,
        "override_decisions": CriterionOverride.Decision.choices,
        "can_change": request.user.has_perm("referrals.change_referral"),
        "edit_line": edit_line,
        "transition_form": TransitionForm(initial=versioned, referral=referral),
        "assign_form": AssignForm(initial={**versioned, "assignee": referral.assigned_to_id}),
        "next_action_form": NextActionForm(
            initial={
                **versioned,
                "next_action": referral.next_action,
                "next_action_due": referral.next_action_due,
            }
        ),
        "note_form": NoteForm(),
        "task_form": TaskForm(
            auto_id="task_%s", initial={"assignee": referral.assigned_to_id or request.user.pk}
        ),
        "documents": referral.documents.all(),
        "document_form": DocumentForm(),
        "document_limit": documents.describe_size(settings.DOCUMENT_MAX_BYTES),
        "line_form": TreatmentLineForm(
            instance=edit_line,
            patient=patient,
            initial=None if edit_line else {"line_number": len(patient.treatment_lines.all()) + 1},
        ),
    }
    context.update(follow_up_context(request, referral))
    context.update(bound)
    return render(
        request,
        "referrals/lead.html",
        page_context(request, f"{patient} · lead #{referral.pk}", **context),
    )


def render_ineligible_rows(request: HttpRequest, referral: Referral) -> HttpResponse:
    """The lead's ineligible candidates' rows, drawn when their list is opened."""
    referral = selectors.referral_for_lead_page(referral.pk)
    evaluations = selectors.referral_evaluations(referral)
    return render(
        request,
        "referrals/lead.html#ineligible_rows",
        {
            "referral": referral,
            "ineligible": [e for e in evaluations if e.verdict == Verdict.INELIGIBLE],
            "can_change": request.user.has_perm("referrals.change_referral"),
        },
    )


def _where_to_record(key: str, patient) -> str:
    """Where on the page (or the patient's record) a missing item is entered."""
    if key in FACTS:
        return f"?fact={key}#fact-form"
    if key in ("date_of_birth", "diagnosis", "diagnosis_subtype"):
        return reverse("admin:referrals_patient_change", args=[patient.pk])
    if key in ("treatment_lines", "line_dates"):
        return "#line-form"
    return ""


def _line_to_edit(request: HttpRequest, referral: Referral) -> PriorTreatmentLine | None:
    line_id = request.GET.get("edit_line", "")
    if not line_id.isdecimal():
        return None
    return selectors.lead_treatment_line(referral, int(line_id))


def follow_up_context(request: HttpRequest, referral: Referral) -> dict:
    """What the card needs, from the lead as `selectors.referral_for_lead_page` loaded it."""
    outcome = getattr(referral, "treatment_outcome", None)
    visits = list(outcome.visits.all()) if outcome else []
    visit_id = request.GET.get("visit", "")
    visit = next((v for v in visits if visit_id.isdecimal() and v.pk == int(visit_id)), None)
    target = referral.target_trial or referral.target_program
    product = getattr(target, "product", "") or (str(target) if target else "")
    if outcome:
        outcome_initial = {
            name: getattr(outcome, name)
            for name in TreatmentOutcomeForm.base_fields
            if hasattr(outcome, name)
        }
    else:
        outcome_initial = {"infusion_date": referral.infusion_date, "product": product}
    return {
        "outcome": outcome,
        "visits": visits,
        "follow_up_open": referral.stage in FOLLOW_UP_STAGES,
        "outcome_form": TreatmentOutcomeForm(auto_id="outcome_%s", initial=outcome_initial),
        "visit_to_record": visit,
        "visit_form": visit_form(visit) if visit else None,
    }


def visit_form(visit: FollowUpVisit, data=None) -> FollowUpVisitForm:
    initial = {
        name: getattr(visit, name)
        for name in ("done_on", "sledai_2k", "das28", "mrss", "mg_adl", "notes")
    }
    remission = visit.drug_free_remission
    initial["drug_free_remission"] = "" if remission is None else ("yes" if remission else "no")
    return FollowUpVisitForm(data, auto_id="visit_%s", initial=initial)


LEAD_PAGE = ReferralPage(url_name="referrals:lead", render=render_lead)
