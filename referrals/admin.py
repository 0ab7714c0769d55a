from django import forms
from django.contrib import admin, messages
from django.db.models import Prefetch
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import display

from referrals import services
from referrals.models import (
    AccessAction,
    AccessLog,
    Patient,
    PriorTreatmentLine,
    Referral,
    ReferralEvent,
    ScreeningRecord,
    Stage,
    Task,
)
from trials.models import Program, Therapy

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

LINES_WITH_THERAPIES = Prefetch(
    "treatment_lines",
    queryset=PriorTreatmentLine.objects.prefetch_related(
        Prefetch(
            "therapies", queryset=Therapy.objects.only("id", "name", "counts_toward_failed_lines")
        )
    ),
)


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


@admin.register(Patient)
class PatientAdmin(SimpleHistoryAdmin, ModelAdmin):
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
        return super().get_queryset(request).prefetch_related(LINES_WITH_THERAPIES)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        patient = getattr(response, "context_data", {}).get("original")
        if request.method == "GET" and patient is not None:
            services.access_log_record(
                user=request.user,
                action=AccessAction.VIEW_PATIENT,
                patient=patient,
                ip_address=request.META.get("REMOTE_ADDR"),
            )
        return response

    @display(description="Name", ordering="last_name")
    def full_name(self, obj: Patient) -> str:
        return str(obj)

    @display(description="Failed lines")
    def failed_lines(self, obj: Patient) -> int:
        return obj.failed_line_count


@admin.register(PriorTreatmentLine)
class PriorTreatmentLineAdmin(SimpleHistoryAdmin, ModelAdmin):
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


class ReferralAdminForm(forms.ModelForm):
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
class ReferralAdmin(SimpleHistoryAdmin, ModelAdmin):
    form = ReferralAdminForm
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

    @display(description="Stage", ordering="stage", label=STAGE_COLOURS)
    def stage_badge(self, obj: Referral) -> str:
        return obj.get_stage_display()

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
class ReferralEventAdmin(ModelAdmin):
    list_display = ["created_at", "referral", "kind", "from_stage", "to_stage", "author"]
    list_filter = ["kind"]
    list_select_related = ["referral__patient", "author"]
    search_fields = ["referral__patient__last_name", "body"]
    show_full_result_count = False

    # The timeline is written by services only, never edited by hand.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ScreeningRecord)
class ScreeningRecordAdmin(ModelAdmin):
    """The screening log: written by "Record check" on the lead page, never edited."""

    list_display = ["recorded_at", "referral", "candidate_name", "verdict", "recorded_by"]
    list_filter = ["verdict"]
    list_select_related = ["referral__patient", "recorded_by"]
    search_fields = ["candidate_name", "referral__patient__last_name"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Task)
class TaskAdmin(ModelAdmin):
    list_display = ["title", "referral", "assignee", "due_on", "done_at"]
    list_filter = ["assignee", ("done_at", admin.EmptyFieldListFilter)]
    list_select_related = ["referral__patient", "assignee"]
    search_fields = ["title", "referral__patient__last_name"]
    autocomplete_fields = ["referral", "assignee"]
    readonly_fields = ["created_by", "created_at"]
    show_full_result_count = False


@admin.register(AccessLog)
class AccessLogAdmin(ModelAdmin):
    """Who opened or exported patient data. Admins read it; nobody can change it."""

    list_display = ["at", "user", "action", "referral", "patient", "detail", "ip_address"]
    list_filter = ["action", "user"]
    list_select_related = ["user", "referral__patient", "patient"]
    search_fields = ["patient__last_name", "detail"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
