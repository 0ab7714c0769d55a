from django.contrib import admin
from django.db.models import Count
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import action, display

from trials.admin_import import ctgov_import_view
from trials.models import (
    Condition,
    Hospital,
    Program,
    ProgramStatus,
    Therapy,
    Trial,
    TrialSite,
    TrialStatus,
)


@admin.register(Condition)
class ConditionAdmin(ModelAdmin):
    list_display = ["name", "group", "icd10_codes"]
    list_filter = ["group"]
    search_fields = ["name", "icd10_codes", "synonyms"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Therapy)
class TherapyAdmin(ModelAdmin):
    list_display = ["name", "generic_name", "drug_class", "counts_toward_failed_lines"]
    list_filter = ["drug_class", "counts_toward_failed_lines"]
    search_fields = ["name", "generic_name"]


class ProgramInline(TabularInline):
    model = Program
    fields = ["name", "car_target", "kind", "status", "min_failed_lines", "monthly_capacity"]
    extra = 0
    show_change_link = True


@admin.register(Hospital)
class HospitalAdmin(ModelAdmin):
    list_display = ["name", "city", "country", "program_count"]
    list_filter = ["country"]
    search_fields = ["name", "city"]
    inlines = [ProgramInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(program_count=Count("programs"))

    @display(description="Programs", ordering="program_count")
    def program_count(self, obj: Hospital) -> int:
        return obj.program_count


@admin.register(Program)
class ProgramAdmin(SimpleHistoryAdmin, ModelAdmin):
    list_display = [
        "name",
        "hospital",
        "car_target",
        "kind",
        "status_badge",
        "min_failed_lines",
        "age_range",
        "monthly_capacity",
    ]
    list_filter = ["status", "car_target", "kind", "hospital", "conditions"]
    list_select_related = ["hospital"]
    search_fields = ["name", "hospital__name", "trial__nct_id"]
    autocomplete_fields = ["hospital", "trial", "conditions"]
    fieldsets = [
        (None, {"fields": ["hospital", "name", "kind", "car_target", "status", "trial"]}),
        (
            "Eligibility",
            {"fields": ["conditions", "min_failed_lines", "min_age", "max_age"]},
        ),
        (
            "Capacity and contact",
            {
                "fields": [
                    "monthly_capacity",
                    "required_documents",
                    "contact_name",
                    "contact_email",
                    "contact_phone",
                    "notes",
                ]
            },
        ),
    ]

    @display(
        description="Status",
        ordering="status",
        label={
            ProgramStatus.ACCEPTING.label: "success",
            ProgramStatus.PAUSED.label: "warning",
            ProgramStatus.CLOSED.label: "danger",
        },
    )
    def status_badge(self, obj: Program) -> str:
        return obj.get_status_display()

    @display(description="Age")
    def age_range(self, obj: Program) -> str:
        return _format_age_range(obj.min_age, obj.max_age)


class TrialSiteInline(TabularInline):
    model = TrialSite
    fields = ["hospital", "facility", "city", "country", "status"]
    autocomplete_fields = ["hospital"]
    extra = 0


@admin.register(Trial)
class TrialAdmin(SimpleHistoryAdmin, ModelAdmin):
    list_display = [
        "nct_id",
        "short_name",
        "sponsor",
        "car_target",
        "phase",
        "status_badge",
        "age_range",
        "min_failed_lines",
    ]
    list_filter = ["overall_status", "car_target", "phase", "conditions"]
    search_fields = ["nct_id", "short_name", "title", "sponsor", "product"]
    autocomplete_fields = ["conditions"]
    inlines = [TrialSiteInline]
    actions_list = ["import_from_ctgov"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "nct_id",
                    "short_name",
                    "title",
                    "sponsor",
                    "product",
                    "car_target",
                    "phase",
                    "overall_status",
                    "source_url",
                ]
            },
        ),
        (
            "Eligibility",
            {
                "fields": [
                    "conditions",
                    "conditions_text",
                    "min_failed_lines",
                    "min_age",
                    "max_age",
                    "eligibility_text",
                ]
            },
        ),
    ]

    @action(
        description="Import from ClinicalTrials.gov",
        url_path="import-ctgov",
        icon="cloud_download",
        # has_add_permission and has_change_permission: trials.add_trial and .change_trial.
        # (Dotted names would make Unfold's system check query the permission table, which
        # fails `migrate` on a fresh database.)
        permissions=["add", "change"],
    )
    def import_from_ctgov(self, request):
        return ctgov_import_view(self, request)

    @display(
        description="Status",
        ordering="overall_status",
        label={TrialStatus.RECRUITING.label: "success"},
    )
    def status_badge(self, obj: Trial) -> str:
        return obj.get_overall_status_display()

    @display(description="Age")
    def age_range(self, obj: Trial) -> str:
        return _format_age_range(obj.min_age, obj.max_age)


def _format_age_range(min_age: int | None, max_age: int | None) -> str:
    if min_age is None and max_age is None:
        return "any"
    if max_age is None:
        return f"≥ {min_age}"
    if min_age is None:
        return f"≤ {max_age}"
    return f"{min_age}–{max_age}"
