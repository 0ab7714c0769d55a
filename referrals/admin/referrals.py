"""Referrals: the list with its stage badges, filters and exports, the change page with its
timeline, and the import's pages (`referrals/admin/imports.py`)."""

import functools

from django import forms
from django.contrib import admin, messages
from django.urls import path
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from simple_history.admin import SimpleHistoryAdmin
from unfold.decorators import action, display
from unfold.utils import display_for_label

from carecrm.forms import CleanTextModelForm
from referrals import access, services
from referrals.admin import imports
from referrals.admin.base import ChangelistExportMixin, NeverDeleteMixin
from referrals.models import Referral, ReferralEvent, Stage
from trials.admin import ModelAdmin, TabularInline
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
            "infusion_date",
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
    # Import: upload, checked by the task worker, preview, confirm (referrals/admin/imports.py).
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
                    "infusion_date",
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
        return imports.upload(request, model_admin=self)

    def get_urls(self):
        job_views = [
            ("", "import_job", imports.job_page),
            ("confirm/", "import_job_confirm", imports.job_confirm),
            ("resume/", "import_job_resume", imports.job_resume),
            ("discard/", "import_job_discard", imports.job_discard),
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
