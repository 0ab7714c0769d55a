"""What the work leaves behind: timeline events, the screening log, documents, the access log
and the snapshots sent to hospitals, written by services and only read here; and tasks."""

from django.contrib import admin

from referrals.admin.base import ChangelistExportMixin, WrittenByServicesOnlyMixin
from referrals.models import (
    AccessLog,
    LeadDocument,
    ReferralEvent,
    ReferralSnapshot,
    ScreeningRecord,
    Task,
)
from trials.admin import ModelAdmin


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


@admin.register(ReferralSnapshot)
class ReferralSnapshotAdmin(WrittenByServicesOnlyMixin, ModelAdmin):
    """What each hospital was sent, read-only: written by the referral, never edited."""

    list_display = ["taken_at", "referral", "program", "trial", "taken_by"]
    list_select_related = ["referral__patient", "program__hospital", "trial", "taken_by"]
    search_fields = ["referral__patient__last_name"]
    fields = ["referral", "program", "trial", "taken_by", "taken_at", "data"]
    readonly_fields = fields
    show_full_result_count = False
