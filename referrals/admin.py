import functools

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, PAGE_VAR
from django.contrib.auth.models import Group
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from simple_history.admin import SimpleHistoryAdmin
from unfold.decorators import action, display
from unfold.enums import ActionVariant
from unfold.utils import display_for_label

from carecrm.client import client_ip
from carecrm.forms import CleanTextForm, CleanTextModelForm
from referrals import access, admin_import, exports, selectors, services
from referrals.models import (
    AccessAction,
    AccessLog,
    LeadDocument,
    LiaisonProfile,
    Patient,
    PriorTreatmentLine,
    Referral,
    ReferralEvent,
    ReferralSnapshot,
    ScreeningRecord,
    Stage,
    Task,
)
from trials.admin import CountAtLeast, ModelAdmin, TabularInline
from trials.models import Program

STAGE_COLOURS = {
    Stage.NEW.label: "info",
    Stage.CONTACTED.label: "info",
    Stage.RECORDS_REQUESTED.label: "info",
    Stage.SCREENING.label: "warning",
    Stage.ELIGIBLE.label: "success",
    Stage.REFERRED.label: "success",
    Stage.ACCEPTED.label: "success",
    Stage.SCHEDULED.label: "success",
    Stage.TREATED.label: "primary",
    Stage.FOLLOW_UP.label: "primary",
    Stage.CLOSED.label: "danger",
}


@functools.lru_cache(maxsize=64)
def _stage_badge(label: str, language: str) -> str:
    """Unfold's coloured label for a stage, rendered once per stage and language, not per row."""
    return display_for_label(label, "", STAGE_COLOURS)


class ChangelistExportMixin:
    """The "Export CSV" and "Export XLSX" buttons of a changelist: exactly the rows it lists.

    The buttons carry the list's query string (filters, search, ordering); the export view
    rebuilds the admin ChangeList from it, so the file holds the filtered rows, all pages of them.
    Each export is an audited event (AccessLog: list, format, filters, row count), recorded once
    the file is built.
    """

    actions_list = ["export_csv", "export_xlsx"]
    EXPORT_URL_PATHS = ("export-csv", "export-xlsx")

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        query = request.GET.copy()
        query.pop(PAGE_VAR, None)  # the export holds every page of the list
        context = getattr(response, "context_data", None)
        if query and context:
            for item in context.get("actions_list", []):
                if item.get("path", "").rstrip("/").endswith(self.EXPORT_URL_PATHS):
                    item["path"] = f"{item['path']}?{query.urlencode()}"
        return response

    @action(description="Export CSV", url_path="export-csv", permissions=["view"], icon="download")
    def export_csv(self, request):
        return self._export(request, "csv")

    @action(
        description="Export XLSX", url_path="export-xlsx", permissions=["view"], icon="download"
    )
    def export_xlsx(self, request):
        return self._export(request, "xlsx")

    def _export(self, request, file_format: str):
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            opts = self.model._meta
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
            return HttpResponseRedirect(f"{url}?{ERROR_FLAG}=1")
        spec = exports.SPECS[self.model]
        rows = changelist.result_count  # the ChangeList's one COUNT query, before streaming
        if isinstance(rows, CountAtLeast):
            rows = changelist.queryset.count()  # the audit records what left, not "1,000+"
        filters = request.GET.urlencode() or "none"
        # Built in full first: a failed export raises before anything is logged or sent.
        build = exports.xlsx_response if file_format == "xlsx" else exports.csv_response
        response = build(spec, changelist.queryset)
        services.access_log_record(
            user=request.user,
            action=AccessAction.EXPORT,
            detail=f"{spec.title} exported as {file_format.upper()}; filters: {filters}; "
            f"{rows} rows",
            ip_address=client_ip(request),
        )
        return response


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


class WrittenByServicesOnlyMixin:
    """Timelines, logs, snapshots and uploads are written by services; the admin only reads."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class NeverDeleteMixin:
    """Clinical history is erased through the privacy service, never deleted in the admin."""

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


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
    inlines = [PriorTreatmentLineInline]
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
                    ("sledai_2k", "das28", "mrss", "mg_adl"),
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


class TargetProgramFilter(admin.RelatedFieldListFilter):
    """A program's label names its hospital; load them together, not one query per program."""

    def field_choices(self, field, request, model_admin):
        return [
            (program.pk, str(program)) for program in Program.objects.select_related("hospital")
        ]


class ReferralEventInline(TabularInline):
    model = ReferralEvent
    fields = ["created_at", "kind", "from_stage", "to_stage", "body", "author"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-created_at", "-id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class PatientEraseForm(CleanTextForm):
    reason = forms.CharField(
        max_length=300,
        help_text="The request or rule behind the erasure, e.g. “Patient's e-mail of 3 March”.",
    )
    confirm = forms.BooleanField(
        label="I understand that names, contact details and free text are removed for good."
    )


class ReferralAdminForm(CleanTextModelForm):
    """Carries the version the coordinator loaded so a concurrent save is detected."""

    class Meta:
        model = Referral
        fields = [
            "patient",
            "source",
            "priority",
            "referring_physician_name",
            "referring_physician_contact",
            "assigned_to",
            "next_action",
            "next_action_due",
            "scheduled_for",
            "target_program",
            "target_trial",
            "version",
        ]
        widgets = {"version": forms.HiddenInput}

    def clean(self):
        cleaned = super().clean()
        loaded_version = cleaned.get("version")
        if self.instance.pk and loaded_version is not None:
            saved_version = Referral.objects.values_list("version", flat=True).get(
                pk=self.instance.pk
            )
            if saved_version != loaded_version:
                raise forms.ValidationError(str(services.ReferralConflict()))
        return cleaned


@admin.register(Referral)
class ReferralAdmin(NeverDeleteMixin, ChangelistExportMixin, SimpleHistoryAdmin, ModelAdmin):
    form = ReferralAdminForm
    # Import: upload, checked by the task worker, preview, confirm (referrals/admin_import.py).
    actions_list = [*ChangelistExportMixin.actions_list, "import_leads"]
    list_display = [
        "id",
        "patient",
        "condition",
        "stage_badge",
        "assigned_to",
        "priority",
        "next_action_due",
        "source",
        "created_at",
    ]
    list_display_links = ["id", "patient"]
    list_filter = [
        "stage",
        "source",
        "priority",
        "assigned_to",
        ("target_program", TargetProgramFilter),
    ]
    list_select_related = ["patient__primary_condition", "assigned_to"]
    list_row_fields = [
        "stage",
        "priority",
        "next_action_due",
        "source",
        "created_at",
        "patient__first_name",
        "patient__last_name",
        "patient__primary_condition__name",
        "assigned_to__username",
        "assigned_to__first_name",
        "assigned_to__last_name",
    ]
    search_fields = [
        "patient__first_name",
        "patient__last_name",
        "patient__phone",
        "patient__email",
    ]
    autocomplete_fields = ["patient", "assigned_to", "target_program", "target_trial"]
    readonly_fields = [
        "stage",
        "close_reason",
        "close_detail",
        "stage_changed_at",
        "created_at",
        "submitter_role",
        "submitter_name",
        "contact_channel",
        "intake_message",
        "consent_version",
        "consented_at",
        "consent_text",
        "merged_into",
    ]
    show_full_result_count = False
    date_hierarchy = None
    inlines = [ReferralEventInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "patient",
                    ("source", "priority"),
                    ("referring_physician_name", "referring_physician_contact"),
                    "assigned_to",
                    ("next_action", "next_action_due"),
                    "scheduled_for",
                    "version",
                ]
            },
        ),
        ("Target", {"fields": ["target_program", "target_trial"]}),
        (
            "Pipeline",
            {"fields": ["stage", "close_reason", "close_detail", "stage_changed_at", "created_at"]},
        ),
        (
            "Intake form",
            {
                "fields": [
                    ("submitter_role", "submitter_name", "contact_channel"),
                    "intake_message",
                    ("consent_version", "consented_at"),
                    "consent_text",
                    "merged_into",
                ]
            },
        ),
    ]

    def get_queryset(self, request):
        # Object-level scope in the one place that decides it (a liaison sees only referrals sent
        # to their hospital); the list, the exports and the change pages all read this.
        return access.referrals_visible_to(request.user, super().get_queryset(request))

    def view_on_site(self, obj: Referral) -> str:
        # The lead page itself, which applies the user's scope (carecrm/urls.py drops the
        # admin's shortcut, which did not).
        return obj.get_absolute_url()

    def get_search_results(self, request, queryset, search_term):
        # The patient's names, phone and e-mail, answered by the text index (referrals/search.py).
        return queryset.matching(search_term), False

    def has_import_permission(self, request) -> bool:
        return request.user.has_perms(["referrals.add_referral", "referrals.add_patient"])

    # The upload checks the request's size before its body is parsed, then CSRF itself.
    @csrf_exempt
    @action(description="Import", url_path="import", icon="upload", permissions=["import"])
    def import_leads(self, request):
        return admin_import.upload(request, model_admin=self)

    def get_urls(self):
        job_views = [
            ("", "import_job", admin_import.job_page),
            ("confirm/", "import_job_confirm", admin_import.job_confirm),
            ("resume/", "import_job_resume", admin_import.job_resume),
            ("discard/", "import_job_discard", admin_import.job_discard),
        ]
        urls = [
            path(
                f"import/<int:job_id>/{route}",
                self.admin_site.admin_view(functools.partial(view, model_admin=self)),
                name=f"referrals_referral_{name}",
            )
            for route, name, view in job_views
        ]
        return urls + super().get_urls()

    @display(description="Stage", ordering="stage")
    def stage_badge(self, obj: Referral) -> str:
        return _stage_badge(obj.get_stage_display(), translation.get_language())

    @display(description="Condition", ordering="patient__primary_condition__name")
    def condition(self, obj: Referral) -> str:
        return str(obj.patient.primary_condition or "—")

    def save_model(self, request, obj: Referral, form, change: bool) -> None:
        if not change:
            services.referral_create(referral=obj, by=request.user)
            return
        try:
            services.referral_update(
                referral=obj,
                changed_fields=form.changed_data,
                expected_version=form.cleaned_data["version"],
                by=request.user,
            )
        except services.ReferralError as error:
            messages.error(request, str(error))


@admin.register(ReferralEvent)
class ReferralEventAdmin(WrittenByServicesOnlyMixin, ModelAdmin):
    list_display = ["created_at", "referral", "kind", "from_stage", "to_stage", "author"]
    list_filter = ["kind"]
    list_select_related = ["referral__patient", "author"]
    search_fields = ["referral__patient__last_name", "body"]
    show_full_result_count = False


@admin.register(ScreeningRecord)
class ScreeningRecordAdmin(WrittenByServicesOnlyMixin, ChangelistExportMixin, ModelAdmin):
    """The screening log: written by "Record check" on the lead page, never edited."""

    list_display = ["recorded_at", "referral", "candidate_name", "verdict", "recorded_by"]
    list_filter = ["verdict"]
    list_select_related = ["referral__patient", "recorded_by"]
    search_fields = ["candidate_name", "referral__patient__last_name"]
    show_full_result_count = False


@admin.register(Task)
class TaskAdmin(ModelAdmin):
    list_display = ["title", "referral", "assignee", "due_on", "done_at"]
    list_filter = ["assignee", ("done_at", admin.EmptyFieldListFilter)]
    list_select_related = ["referral__patient", "assignee"]
    search_fields = ["title", "referral__patient__last_name"]
    autocomplete_fields = ["referral", "assignee"]
    readonly_fields = ["created_by", "created_at"]
    show_full_result_count = False


@admin.register(LeadDocument)
class LeadDocumentAdmin(WrittenByServicesOnlyMixin, ModelAdmin):
    """Documents received for leads, read-only. The file itself is offered on the lead page only
    (through the permission-checked, logged download); it has no URL, so it is never shown here.
    """

    list_display = [
        "uploaded_at",
        "referral",
        "kind",
        "original_filename",
        "size",
        "content_type",
        "uploaded_by",
    ]
    list_filter = ["kind", "content_type"]
    list_select_related = ["referral__patient", "uploaded_by"]
    search_fields = ["original_filename", "referral__patient__last_name"]
    fields = [
        "referral",
        "kind",
        "original_filename",
        "content_type",
        "size",
        "sha256",
        "uploaded_by",
        "uploaded_at",
    ]
    readonly_fields = fields
    show_full_result_count = False


@admin.register(AccessLog)
class AccessLogAdmin(WrittenByServicesOnlyMixin, ModelAdmin):
    """Who opened or exported patient data. Admins read it; nobody can change it."""

    list_display = ["at", "user", "action", "referral", "patient", "detail", "ip_address"]
    list_filter = ["action", "user"]
    list_select_related = ["user", "referral__patient", "patient"]
    search_fields = ["patient__last_name", "detail"]
    show_full_result_count = False


class LiaisonProfileForm(CleanTextModelForm):
    class Meta:
        model = LiaisonProfile
        fields = ["user", "hospital", "programs"]

    def clean(self):
        cleaned = super().clean()
        hospital, programs = cleaned.get("hospital"), cleaned.get("programs")
        if hospital and programs:
            foreign = [str(program) for program in programs if program.hospital_id != hospital.pk]
            if foreign:
                raise forms.ValidationError(
                    f"These programs are not at {hospital}: {', '.join(foreign)}."
                )
        return cleaned


@admin.register(LiaisonProfile)
class LiaisonProfileAdmin(ModelAdmin):
    """Who answers for which hospital. Saving a profile puts the user in the liaison group."""

    form = LiaisonProfileForm
    list_display = ["user", "hospital", "program_list"]
    list_filter = ["hospital"]
    list_select_related = ["user", "hospital"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "hospital__name"]
    autocomplete_fields = ["user"]
    filter_horizontal = ["programs"]
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("programs")

    @display(description="Programs")
    def program_list(self, obj: LiaisonProfile) -> str:
        return ", ".join(program.name for program in obj.programs.all()) or "All programs"

    def save_model(self, request, obj: LiaisonProfile, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        obj.user.groups.add(Group.objects.get(name=access.LIAISON_GROUP))


@admin.register(ReferralSnapshot)
class ReferralSnapshotAdmin(WrittenByServicesOnlyMixin, ModelAdmin):
    """What each hospital was sent, read-only: written by the referral, never edited."""

    list_display = ["taken_at", "referral", "program", "trial", "taken_by"]
    list_select_related = ["referral__patient", "program__hospital", "trial", "taken_by"]
    search_fields = ["referral__patient__last_name"]
    fields = ["referral", "program", "trial", "taken_by", "taken_at", "data"]
    readonly_fields = fields
    show_full_result_count = False
