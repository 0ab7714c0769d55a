import contextlib
from collections.abc import Callable, Sequence
from functools import cached_property

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import SEARCH_VAR
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.core.paginator import InvalidPage, Paginator
from django.db.models import Count
from django.db.models.sql.where import WhereNode
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import ModelAdmin as UnfoldModelAdmin
from unfold.admin import StackedInline as UnfoldStackedInline
from unfold.admin import TabularInline as UnfoldTabularInline
from unfold.decorators import action, display
from unfold.views import ChangeList as UnfoldChangeList

from carecrm.forms import CleanTextModelForm, holds_key
from carecrm.reverse_once import url_with_pk
from trials.admin_import import ctgov_import_view
from trials.criteria import PARAMETER_HELP, CriterionKind
from trials.models import (
    Condition,
    EligibilityCriterion,
    Hospital,
    Program,
    ProgramStatus,
    Therapy,
    Trial,
    TrialSite,
    TrialStatus,
)
from trials.services.criteria import trial_criteria_propose

# A searched list counts its matches up to this many and then says "1,000+". Counting every
# match of a common word (12,700 leads for "Avi" at 100,000) cost more than finding the page.
SEARCH_COUNT_CAP = 1_000


class CountAtLeast(int):
    """A count that stopped at its cap: compares and pages as the cap, reads "1,000+"."""

    def __str__(self) -> str:
        return f"{int(self):,}+"


class DeferredJoinPaginator(Paginator):
    """Pages of a long list without reading and joining every row it skips.

    Django's page is `LIMIT 100 OFFSET n` over the whole joined query, so page 200 of the
    referrals reads, joins and drops 19,900 leads with their patients. Here the page's ids come
    first, from the ordering index alone (OFFSET over index entries), and then only those rows
    are read by id with their joins and prefetches: one more query, the same for every page.

    With `count_cap` the count stops there (`CountAtLeast`), and the pages with it.
    """

    def __init__(
        self,
        *args,
        count_cap: int | None = None,
        row_fields: Sequence[str] = (),
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.count_cap, self.row_fields = count_cap, row_fields

    @cached_property
    def count(self) -> int:
        if self.count_cap is None or not hasattr(self.object_list, "values_list"):
            return super().count
        # Unordered and without the list's annotations, so the database stops at the cap
        # instead of sorting every match first or computing the rows' columns.
        counted = self.object_list.order_by().values("pk")[: self.count_cap + 1].count()
        return CountAtLeast(self.count_cap) if counted > self.count_cap else counted

    def page(self, number):
        queryset = self.object_list
        if not hasattr(queryset, "values_list") or queryset.query.distinct:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        # A capped count is no end: the last of its pages is full when there are more rows.
        if top + self.orphans >= self.count and not isinstance(self.count, CountAtLeast):
            top = self.count

        def rows() -> list:
            ids = list(queryset.values_list("pk", flat=True)[bottom:top])
            # The ids already passed the list's filters and search; asking them again would
            # repeat the search for a hundred known rows. Joins, columns and prefetches stay.
            by_id = queryset.order_by()
            by_id.query.where = WhereNode()
            if self.row_fields:
                by_id = by_id.only(*self.row_fields)
            found = {row.pk: row for row in by_id.filter(pk__in=ids)}
            return [found[pk] for pk in ids if pk in found]

        return self._get_page(_Lazy(rows), number, self)


class _Lazy(Sequence):
    """A page's rows, read when first used (an export builds the ChangeList but never shows
    its page)."""

    def __init__(self, load: Callable[[], list]) -> None:
        self._load, self._rows = load, None

    def _get(self) -> list:
        if self._rows is None:
            self._rows = self._load()
        return self._rows

    def __len__(self) -> int:
        return len(self._get())

    def __getitem__(self, index):
        return self._get()[index]


class ChangeList(UnfoldChangeList):
    """Reads a one-page list the way it reads a long one (through the paginator), so a list
    costs the same queries whether its rows fill one page or a thousand.

    Row links carry the list's filters and search themselves: Django's `add_preserved_filters`
    resolves every row's URL to find out whether it is the changelist (it never is), 0.2 ms a
    link, which made a searched or filtered page of 100 rows 40 ms slower than an unfiltered one.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.row_filters, self.preserved_filters = self.preserved_filters, ""

    def url_for_result(self, result) -> str:
        # Reversed once, not twice per row (two linked columns) (`carecrm.reverse_once`).
        opts = self.opts
        url = url_with_pk(
            f"admin:{opts.app_label}_{opts.model_name}_change",
            getattr(result, self.pk_attname),
            current_app=self.model_admin.admin_site.name,
        )
        return f"{url}?{self.row_filters}" if self.row_filters else url

    def get_results(self, request) -> None:
        super().get_results(request)
        if not self.multi_page and not self.show_all and self.result_count:
            with contextlib.suppress(InvalidPage):
                self.result_list = self.paginator.page(self.page_num).object_list


class _KnownKeysOnly:
    """An autocomplete widget that looks up only keys its target field can hold.

    Django's autocomplete widgets look the submitted keys up again to show them on a form that
    did not validate; a key that is no number (text, a NUL byte) or too large made that lookup
    raise, so the page answered 500 where the form had already said "Select a valid choice".
    """

    def optgroups(self, name, value, attr=None):
        opts = self.field.remote_field.model._meta
        target = opts.get_field(getattr(self.field.remote_field, "field_name", opts.pk.attname))
        return super().optgroups(name, [key for key in value if holds_key(target, key)], attr)


class KnownKeysAutocompleteSelect(_KnownKeysOnly, AutocompleteSelect):
    pass


class KnownKeysAutocompleteSelectMultiple(_KnownKeysOnly, AutocompleteSelectMultiple):
    pass


class KnownKeysAutocompleteMixin:
    """Gives this admin's autocomplete fields the widgets above."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = KnownKeysAutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = KnownKeysAutocompleteSelectMultiple(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ModelAdmin(KnownKeysAutocompleteMixin, UnfoldModelAdmin):
    """Unfold's ModelAdmin as every CareCRM list uses it.

    - `list_sections` is defined: Unfold's list template reads it twice per row, and without
      the attribute each read is a failed template lookup, which Django answers with a dir()
      of the whole ModelAdmin (15 ms of a 100-row referral list).
    - Pages are read by id first (`DeferredJoinPaginator`), so a deep page costs what the
      first one does, and a short list the same queries as a long one.
    - A searched list counts its matches up to `SEARCH_COUNT_CAP` ("1,000+ results", twenty
      pages); a coordinator narrows a search rather than paging past its thousandth match.
    - A page holds 50 rows, as the queue does, not Django's 100: a row of the referral list
      costs about half a millisecond to read and draw in Unfold's templates, whatever the size
      of the table, so 100 rows were more than half of the page's time.
    - Its forms clean the text typed into them (`carecrm.forms`); a custom `form` derives
      from `CleanTextModelForm`.
    """

    form = CleanTextModelForm
    list_sections = ()
    list_per_page = settings.LIST_PAGE_ROWS
    paginator = DeferredJoinPaginator
    # The columns a list page reads, when they are few of many: Django builds every field of
    # every row and its joined rows (SQLite converts each date-time from text), 20 ms of a
    # 100-row referral page for 40 fields of which the list shows 9. A field read but not
    # named here costs one query per row, which the lists' query-count tests catch.
    list_row_fields: Sequence[str] = ()

    def get_changelist(self, request, **kwargs):
        return ChangeList

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        searched = bool(request.GET.get(SEARCH_VAR, "").strip())
        return self.paginator(
            queryset,
            per_page,
            orphans,
            allow_empty_first_page,
            count_cap=SEARCH_COUNT_CAP if searched else None,
            row_fields=self.list_row_fields,
        )


class TabularInline(KnownKeysAutocompleteMixin, UnfoldTabularInline):
    """Unfold's tabular inline, whose rows clean the text typed into them like every form."""

    form = CleanTextModelForm


class StackedInline(KnownKeysAutocompleteMixin, UnfoldStackedInline):
    form = CleanTextModelForm


@admin.register(Condition)
class ConditionAdmin(ModelAdmin):
    list_display = ["name", "parent", "group", "icd10_codes"]
    list_filter = ["group"]
    list_select_related = ["parent"]
    search_fields = ["name", "icd10_codes", "synonyms"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["parent"]


@admin.register(Therapy)
class TherapyAdmin(ModelAdmin):
    list_display = ["name", "generic_name", "drug_class", "counts_toward_failed_lines"]
    list_filter = ["drug_class", "counts_toward_failed_lines"]
    search_fields = ["name", "generic_name"]


class CriterionInline(StackedInline):
    """A program's or trial's typed criteria, each beside the sentence it comes from."""

    model = EligibilityCriterion
    fields = ["position", "role", "kind", "params", "source_text", "confirmed"]
    extra = 0
    ordering = ["position", "id"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        # A criterion's parameters and sentence are a line or two; the default ten-row boxes
        # made each criterion a screenful.
        if db_field.name == "params":
            field.widget.attrs["rows"] = 2
            # Folded: the same list under every criterion buried the criteria themselves.
            field.help_text = format_html(
                '<details class="crm-help"><summary>{}</summary><ul>{}</ul></details>',
                "JSON parameters of each kind",
                format_html_join(
                    "",
                    "<li><b>{}</b>: <code>{}</code></li>",
                    ((kind.label, PARAMETER_HELP[kind]) for kind in CriterionKind),
                ),
            )
        elif db_field.name == "source_text":
            field.widget.attrs["rows"] = 3
        return field


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
    inlines = [CriterionInline]
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
    inlines = [TrialSiteInline, CriterionInline]
    actions_list = ["import_from_ctgov"]
    actions_detail = ["propose_criteria"]
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

    @action(
        description="Propose criteria from the eligibility text",
        url_path="propose-criteria",
        icon="rule",
        permissions=["change"],
    )
    def propose_criteria(self, request, object_id):
        trial = self.get_object(request, object_id)
        if trial is None:
            raise Http404("No such trial.")
        change_url = reverse("admin:trials_trial_change", args=[trial.pk])
        if request.method != "POST":
            context = {
                **self.admin_site.each_context(request),
                "title": "Propose criteria from the eligibility text",
                "trial": trial,
                "change_url": change_url,
                "opts": self.model._meta,
            }
            return render(request, "admin/trials/trial/propose_criteria.html", context)
        count = trial_criteria_propose(trial=trial)
        if count:
            messages.success(
                request,
                f"{count} criteria proposed from the eligibility text, unconfirmed: check each "
                "against its sentence, then tick “Confirmed” for it to count.",
            )
        else:
            messages.info(request, "No new sentence of a recognisable shape in the text.")
        return redirect(change_url)

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
