"""What several admin pages share: the changelist's audited exports and the rules that keep
clinical history out of the admin's hands (written by services, never deleted here)."""

from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, PAGE_VAR
from django.http import HttpResponseRedirect
from django.urls import reverse
from unfold.decorators import action

from carecrm.client import client_ip
from referrals import exports, services
from referrals.models import AccessAction
from trials.admin import CountAtLeast


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
