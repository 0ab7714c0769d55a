"""Patients, their treatment lines and clinical facts: the record, the subject access export
and the erasure."""

from django import forms
from django.contrib import admin, messages
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from simple_history.admin import SimpleHistoryAdmin
from unfold.decorators import action, display
from unfold.enums import ActionVariant

from carecrm.client import client_ip
from carecrm.forms import CleanTextForm
from referrals import selectors, services
from referrals.admin.base import NeverDeleteMixin
from referrals.models import AccessAction, ClinicalFact, Patient, PriorTreatmentLine
from trials.admin import ModelAdmin, TabularInline


class PriorTreatmentLineInline(TabularInline):
    model = PriorTreatmentLine
    fields = [
        "line_number",
        "therapies",
        "start_date",
        "end_date",
        "best_response",
        "reason_stopped",
    ]
    autocomplete_fields = ["therapies"]
    extra = 0
    ordering = ["line_number"]


class ClinicalFactInline(TabularInline):
    """Dated facts, newest first. The value goes in the column of its kind: a number, a choice
    or yes/no as text, or a date; the model checks it against `trials.clinical.FACTS`."""

    model = ClinicalFact
    fields = ["kind", "value_number", "value_text", "value_date", "observed_on", "source", "note"]
    extra = 0
    can_delete = False
    ordering = ["-observed_on", "-id"]


class PatientEraseForm(CleanTextForm):
    reason = forms.CharField(
        max_length=300,
        help_text="The request or rule behind the erasure, e.g. “Patient's e-mail of 3 March”.",
    )
    confirm = forms.BooleanField(
        label="I understand that names, contact details and free text are removed for good."
    )


@admin.register(Patient)
class PatientAdmin(NeverDeleteMixin, SimpleHistoryAdmin, ModelAdmin):
    list_display = [
        "full_name",
        "age",
        "primary_condition",
        "failed_lines",
        "phone",
        "email",
        "city",
    ]
    list_filter = ["primary_condition", "preferred_language", "sex"]
    list_select_related = ["primary_condition"]
    list_row_fields = [
        "first_name",
        "last_name",
        "date_of_birth",
        "stated_age",
        "stated_age_on",
        "phone",
        "email",
        "city",
        "primary_condition__name",
    ]
    search_fields = ["first_name", "last_name", "phone", "email"]
    autocomplete_fields = ["primary_condition", "other_conditions"]
    show_full_result_count = False
    inlines = [PriorTreatmentLineInline, ClinicalFactInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("first_name", "last_name"),
                    ("date_of_birth", "sex"),
                    ("stated_age", "stated_age_on"),
                    ("phone", "email"),
                    ("city", "preferred_language"),
                ]
            },
        ),
        (
            "Diagnosis",
            {
                "fields": [
                    "primary_condition",
                    "condition_other",
                    "other_conditions",
                    "diagnosis_year",
                    "exclusions",
                    "notes",
                ]
            },
        ),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).with_failed_line_count()

    def get_search_results(self, request, queryset, search_term):
        # The same matches as `search_fields`, answered by the text index (referrals/search.py).
        return queryset.matching(search_term), False

    actions_detail = ["export_data", "erase"]

    def has_export_patient_data_permission(self, request, object_id=None) -> bool:
        return request.user.has_perm("referrals.export_patient_data")

    def has_erase_patient_permission(self, request, object_id=None) -> bool:
        return request.user.has_perm("referrals.erase_patient")

    @action(
        description="Export all data (JSON)",
        url_path="export-data",
        icon="download",
        permissions=["export_patient_data"],
    )
    def export_data(self, request, object_id):
        patient = get_object_or_404(Patient, pk=object_id)
        response = JsonResponse(
            selectors.patient_data_export(patient.pk), json_dumps_params={"ensure_ascii": False}
        )
        services.access_log_record(
            user=request.user,
            action=AccessAction.EXPORT,
            patient=patient,
            detail="Subject access export (JSON)",
            ip_address=client_ip(request),
        )
        response["Content-Disposition"] = f'attachment; filename="patient-{patient.pk}.json"'
        return response

    @action(
        description="Erase (anonymise)",
        url_path="erase",
        icon="person_remove",
        variant=ActionVariant.DANGER,
        permissions=["erase_patient"],
    )
    def erase(self, request, object_id):
        patient = get_object_or_404(Patient, pk=object_id)
        change_url = reverse("admin:referrals_patient_change", args=[patient.pk])
        form = PatientEraseForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.patient_erase(
                    patient=patient, by=request.user, reason=form.cleaned_data["reason"]
                )
            except services.ReferralError as error:
                messages.error(request, str(error))
            else:
                messages.success(request, f"Patient #{patient.pk} was anonymised.")
            return redirect(change_url)
        return render(
            request,
            "admin/referrals/patient/erase.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Erase {patient}",
                "patient": patient,
                "form": form,
                "change_url": change_url,
                "opts": self.model._meta,
            },
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        patient = getattr(response, "context_data", {}).get("original")
        if request.method == "GET" and patient is not None:
            services.access_log_record(
                user=request.user,
                action=AccessAction.VIEW_PATIENT,
                patient=patient,
                ip_address=client_ip(request),
            )
        return response

    @display(description="Name", ordering="last_name")
    def full_name(self, obj: Patient) -> str:
        return str(obj)

    @display(description="Failed lines")
    def failed_lines(self, obj: Patient) -> int:
        return obj.failed_line_count


@admin.register(PriorTreatmentLine)
class PriorTreatmentLineAdmin(NeverDeleteMixin, SimpleHistoryAdmin, ModelAdmin):
    list_display = [
        "patient",
        "line_number",
        "regimen",
        "start_date",
        "end_date",
        "reason_stopped",
        "counts_as_failed",
    ]
    list_filter = ["reason_stopped", "best_response", "therapies__drug_class"]
    list_select_related = ["patient"]
    search_fields = ["patient__first_name", "patient__last_name", "therapies__name"]
    autocomplete_fields = ["patient", "therapies"]
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("therapies")

    @display(description="Regimen")
    def regimen(self, obj: PriorTreatmentLine) -> str:
        return " + ".join(therapy.name for therapy in obj.therapies.all())

    @display(description="Counts as failed", boolean=True)
    def counts_as_failed(self, obj: PriorTreatmentLine) -> bool:
        return obj.counts_as_failed
