"""The operators' side: check history, current state, transitions and rollups.

History tables grow to millions of rows, so every page here avoids what the stock
admin does that scales with the table: no full COUNT (an estimate or a capped count),
no DISTINCT over the table for the name filter (the configured checks instead) or for
the date hierarchy (the Min/Max of the filtered rows, read from an index), and only
index-backed orderings.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Max, Min, Q, QuerySet, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.functional import cached_property
from django.utils.text import capfirst
from django.views.decorators.http import require_POST

from healthd import state
from healthd.admin_alerting import DeliveryInline
from healthd.checks import registry
from healthd.models import CheckResult, CheckStatus, CurrentState, HourlyRollup, Transition

HISTORY_STRIP_LENGTH = 50
# The p95 of a check is taken over at most this many of its latest results in 24 h.
P95_SAMPLE_LIMIT = 5000


# --- pagination without a full COUNT -------------------------------------------------


def estimated_row_count(model: type) -> int | None:
    """The planner's row estimate of a table (PostgreSQL's pg_class.reltuples), or None."""
    connection = connections[model.objects.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
            [connection.ops.quote_name(model._meta.db_table)],
        )
        row = cursor.fetchone()
    # -1 (PostgreSQL 14+) or 0 means the table was never analysed: no estimate.
    if not row or row[0] is None or row[0] <= 0:
        return None
    return int(row[0])


class EstimatedCountPaginator(Paginator):
    """A paginator whose count never scans the whole table.

    Unfiltered, the count is the planner's estimate when the table is large; otherwise
    rows are counted up to ``count_cap`` only. ``approximate`` tells the template to say
    "about" (estimate) or "more than" (cap reached).
    """

    # 10,000 rows is 100 pages of 100: enough to page through, and a count bounded to a
    # few milliseconds on a filtered index range (100,000 took 150 ms at 2 million rows).
    count_cap = 10_000

    approximate: str = ""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if isinstance(queryset, QuerySet):
            if not queryset.query.where:
                estimate = estimated_row_count(queryset.model)
                if estimate is not None and estimate >= self.count_cap:
                    self.approximate = "about"
                    return estimate
            counted = queryset.order_by()[: self.count_cap + 1].count()
            if counted > self.count_cap:
                self.approximate = "more than"
                return self.count_cap
            return counted
        return super().count


# --- a date hierarchy that reads an index, not a DISTINCT over the table --------------


def _local(value: datetime.datetime) -> datetime.datetime:
    return timezone.localtime(value) if timezone.is_aware(value) else value


def _month_starts(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    months, current = [], first.replace(day=1)
    while current <= last:
        months.append(current)
        current = (current + datetime.timedelta(days=32)).replace(day=1)
    return months


class HistoryChangeList(ChangeList):
    """A ChangeList that sorts only by indexed columns and reads dates from an index.

    Django's date hierarchy lists the dates that hold rows (``QuerySet.datetimes``: a
    DISTINCT over every matching row); the range from Min/Max costs two index probes. A
    date without rows is an empty page, a fair price on a table written every few
    seconds. Sorting is limited to ``sortable_by`` (Django only hides the other column
    headers; a hand-made ``?o=`` would still sort millions of rows).
    """

    def get_ordering(self, request: HttpRequest, queryset: QuerySet) -> list:
        if ORDER_VAR in self.params:
            allowed = []
            for part in str(self.params[ORDER_VAR]).split("."):
                index = part.rpartition("-")[2]
                if (index.isdigit() and int(index) < len(self.list_display)
                        and self.list_display[int(index)] in (self.sortable_by or ())):
                    allowed.append(part)
            if allowed:
                self.params[ORDER_VAR] = ".".join(allowed)
            else:
                del self.params[ORDER_VAR]
        return super().get_ordering(request, queryset)

    @cached_property
    def fast_date_hierarchy(self) -> dict[str, Any]:
        field_name = self.date_hierarchy
        year_field, month_field, day_field = (f"{field_name}__{part}"
                                              for part in ("year", "month", "day"))
        year = self.params.get(year_field)
        month = self.params.get(month_field)
        day = self.params.get(day_field)

        def link(filters: dict[str, Any]) -> str:
            return self.get_query_string(filters, [f"{field_name}__"])

        if year and month and day:
            chosen = datetime.date(int(year), int(month), int(day))
            return {
                "show": True,
                "back": {"link": link({year_field: year, month_field: month}),
                         "title": capfirst(formats.date_format(chosen, "YEAR_MONTH_FORMAT"))},
                "choices": [{"title": capfirst(formats.date_format(chosen, "MONTH_DAY_FORMAT"))}],
            }
        bounds = self.queryset.aggregate(first=Min(field_name), last=Max(field_name))
        if not (bounds["first"] and bounds["last"]):
            return {"show": False}
        first, last = _local(bounds["first"]), _local(bounds["last"])
        if not (year or month) and first.year == last.year:
            year = first.year
            if first.month == last.month:
                month = first.month
        if year and month:
            days = [first.date() + datetime.timedelta(days=n)
                    for n in range((last.date() - first.date()).days + 1)]
            return {
                "show": True,
                "back": {"link": link({year_field: year}), "title": str(year)},
                "choices": [
                    {"link": link({year_field: year, month_field: month, day_field: d.day}),
                     "title": capfirst(formats.date_format(d, "MONTH_DAY_FORMAT"))}
                    for d in days
                ],
            }
        if year:
            return {
                "show": True,
                "back": {"link": link({}), "title": "All dates"},
                "choices": [
                    {"link": link({year_field: year, month_field: m.month}),
                     "title": capfirst(formats.date_format(m, "YEAR_MONTH_FORMAT"))}
                    for m in _month_starts(first.date(), last.date())
                ],
            }
        return {
            "show": True,
            "back": None,
            "choices": [{"link": link({year_field: str(y)}), "title": str(y)}
                        for y in range(first.year, last.year + 1)],
        }


# --- filters ---------------------------------------------------------------------------


class ConfiguredCheckFilter(admin.SimpleListFilter):
    """Filter by check name; the choices are the configured checks, not a DISTINCT query."""

    title = "check"
    parameter_name = "name"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        try:
            names = [check.name for check in registry.configured_checks()]
        except Exception:  # a broken configuration must not take the history page down
            names = []
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(name=self.value())
        return queryset


class ReadOnlyAdmin(admin.ModelAdmin):
    """History and state are written by the workers only: nothing to add, change or delete."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyHistoryAdmin(ReadOnlyAdmin):
    """History is written by the workers and pruned by retention, never edited by hand."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = None

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type:
        return HistoryChangeList


@admin.register(CheckResult)
class CheckResultAdmin(ReadOnlyHistoryAdmin):
    list_display = ("checked_at", "name", "status", "duration_ms", "short_message", "host")
    list_filter = (ConfiguredCheckFilter, "status", ("checked_at", admin.DateFieldListFilter))
    date_hierarchy = "checked_at"
    search_fields = ("name", "message")
    # Orderings backed by the indexes (name, -checked_at), (status, -checked_at), (-checked_at).
    ordering = ("-checked_at", "-id")
    sortable_by = ("checked_at",)
    list_per_page = 100

    @admin.display(description="duration (ms)", ordering=None)
    def duration_ms(self, obj: CheckResult) -> str:
        return f"{obj.duration * 1000:.1f}"

    @admin.display(description="message")
    def short_message(self, obj: CheckResult) -> str:
        return obj.message if len(obj.message) <= 120 else obj.message[:119] + "…"


@admin.register(Transition)
class TransitionAdmin(ReadOnlyHistoryAdmin):
    list_display = ("at", "name", "previous", "status", "silenced", "message")
    list_filter = (ConfiguredCheckFilter, "status", "silenced")
    inlines = (DeliveryInline,)
    date_hierarchy = "at"
    search_fields = ("name", "message")
    ordering = ("-at", "-id")
    sortable_by = ("at",)


@admin.register(HourlyRollup)
class HourlyRollupAdmin(ReadOnlyHistoryAdmin):
    list_display = ("hour", "name", "runs", "failures", "warnings", "uptime", "mean_ms", "max_ms")
    list_filter = (ConfiguredCheckFilter,)
    date_hierarchy = "hour"
    ordering = ("-hour", "name")
    sortable_by = ("hour", "name")

    @admin.display(description="uptime")
    def uptime(self, obj: HourlyRollup) -> str:
        return _percent(obj.runs, obj.failures)

    @admin.display(description="mean (ms)")
    def mean_ms(self, obj: HourlyRollup) -> str:
        return f"{obj.duration_sum / obj.runs * 1000:.1f}" if obj.runs else "-"

    @admin.display(description="max (ms)")
    def max_ms(self, obj: HourlyRollup) -> str:
        return f"{obj.duration_max * 1000:.1f}"


# --- current state ---------------------------------------------------------------------


def _percent(runs: int | None, failures: int | None) -> str:
    if not runs:
        return "-"
    return f"{100.0 * (runs - (failures or 0)) / runs:.2f} %"


def p95(values: list[float]) -> float | None:
    """The 95th percentile by nearest rank (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _epoch(value: Any) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromtimestamp(float(value), tz=datetime.UTC)
    except (TypeError, ValueError):
        return None


@dataclass
class CheckRow:
    """One line of the current-state page."""

    name: str
    status: str
    critical: bool
    message: str
    since: datetime.datetime | None
    last_run: datetime.datetime | None
    age_seconds: float | None
    uptime_24h: str
    uptime_7d: str
    p95_ms: float | None
    strip: list[dict[str, Any]] = field(default_factory=list)

    @property
    def age(self) -> str:
        if self.age_seconds is None:
            return "-"
        seconds = int(self.age_seconds)
        if seconds < 120:
            return f"{seconds} s"
        if seconds < 7200:
            return f"{seconds // 60} min"
        return f"{seconds // 3600} h"


STRIP_COLOURS = {"passing": "#2e7d32", "warning": "#f9a825", "failing": "#c62828"}


def _strip(name: str) -> list[dict[str, Any]]:
    """The last results of one check, oldest first, placed for an inline SVG."""
    latest = list(
        CheckResult.objects.filter(name=name).order_by("-checked_at")
        .values_list("status", "checked_at", "duration")[:HISTORY_STRIP_LENGTH]
    )
    latest.reverse()
    return [
        {"x": index * 6, "colour": STRIP_COLOURS.get(status, "#757575"),
         "title": f"{_local(at):%Y-%m-%d %H:%M:%S} {status} {duration * 1000:.0f} ms"}
        for index, (status, at, duration) in enumerate(latest)
    ]


def _p95_ms(name: str, since: datetime.datetime) -> float | None:
    """p95 of one check's latest results since ``since``: an index range, capped in size.

    PostgreSQL works it out itself (percentile_disc is the nearest rank); elsewhere the
    durations are fetched and ranked here.
    """
    latest = (CheckResult.objects.filter(name=name, checked_at__gte=since)
              .order_by("-checked_at")[:P95_SAMPLE_LIMIT])
    connection = connections[latest.db]
    if connection.vendor == "postgresql":
        sql, params = latest.values("duration").query.sql_with_params()
        with connection.cursor() as cursor:
            # The inner SQL is Django's own, its values bound as parameters.
            percentile = "SELECT percentile_disc(0.95) WITHIN GROUP (ORDER BY duration)"
            query = f"{percentile} FROM ({sql}) AS latest"
            cursor.execute(query, params)
            value = cursor.fetchone()[0]
    else:
        value = p95(list(latest.values_list("duration", flat=True)))
    return None if value is None else value * 1000


def current_state_rows(now: datetime.datetime | None = None) -> tuple[list[CheckRow], str | None]:
    """Every configured check as the current-state page shows it, and the store's error."""
    now = now or timezone.now()
    health = state.health()
    names = [c.name for c in health.checks]
    saved = {s.name: s for s in CheckStatus.objects.filter(name__in=names)}
    day_ago, week_ago = now - datetime.timedelta(hours=24), now - datetime.timedelta(days=7)
    day_hour = day_ago.replace(minute=0, second=0, microsecond=0)
    uptime = {
        row["name"]: row
        for row in HourlyRollup.objects.filter(name__in=names, hour__gte=week_ago)
        .values("name").order_by("name")
        .annotate(runs_7d=Sum("runs"), failures_7d=Sum("failures"),
                  runs_24h=Sum("runs", filter=Q(hour__gte=day_hour)),
                  failures_24h=Sum("failures", filter=Q(hour__gte=day_hour)))
    }
    rows = []
    for check_state in health.checks:
        record = check_state.record or {}
        saved_state = saved.get(check_state.name)
        last_run = _epoch(record.get("checked_at")) or (
            saved_state.last_checked_at if saved_state else None)
        since = _epoch(record.get("since")) or (saved_state.since if saved_state else None)
        up = uptime.get(check_state.name, {})
        rows.append(CheckRow(
            name=check_state.name,
            status=str(check_state.status),
            critical=check_state.check.critical,
            message=check_state.message or (saved_state.last_message if saved_state else ""),
            since=since,
            last_run=last_run,
            age_seconds=(now - last_run).total_seconds() if last_run else None,
            uptime_24h=_percent(up.get("runs_24h"), up.get("failures_24h")),
            uptime_7d=_percent(up.get("runs_7d"), up.get("failures_7d")),
            p95_ms=_p95_ms(check_state.name, day_ago),
            strip=_strip(check_state.name),
        ))
    return rows, health.error


def queue_run(request: HttpRequest, names: list[str] | None = None) -> bool:
    """Queue healthd.tasks.run_checks on the broker and tell the operator how it went."""
    from healthd.tasks import run_checks

    try:
        result = run_checks.delay(names=names)
    except Exception as exc:
        from healthd.redact import redact

        messages.error(request, f"Could not queue a run: {type(exc).__name__}: {redact(exc)}")
        return False
    which = "every check" if names is None else ", ".join(names)
    messages.success(
        request,
        f"Queued a run of {which} (task {result.id}). A worker runs it within seconds; "
        "reload this page to see the new results.",
    )
    return True


@admin.register(CheckStatus)
class CheckStatusAdmin(ReadOnlyAdmin):
    """The state of each check as the database remembers it, plus the current-state page."""

    list_display = ("name", "status", "since", "streak", "last_checked_at", "last_message")
    list_filter = ("status",)
    search_fields = ("name",)
    actions = ["run_selected_checks"]

    def has_run_permission(self, request: HttpRequest) -> bool:
        """Who may queue a run: those allowed to change check states."""
        return request.user.has_perm("healthd.change_checkstatus")

    @admin.action(description="Run the selected checks now", permissions=["run"])
    def run_selected_checks(self, request: HttpRequest, queryset: QuerySet) -> None:
        queue_run(request, sorted(queryset.values_list("name", flat=True)))

    def get_urls(self) -> list:
        own = [
            path("current/", self.admin_site.admin_view(self.current_state_view),
                 name="healthd_checkstatus_current"),
            path("run-now/", self.admin_site.admin_view(self.run_now_view),
                 name="healthd_checkstatus_run_now"),
        ]
        return own + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None
                        ) -> HttpResponse:
        extra_context = {**(extra_context or {}),
                         "current_state_url": reverse("admin:healthd_checkstatus_current")}
        return super().changelist_view(request, extra_context)

    def current_state_view(self, request: HttpRequest) -> HttpResponse:
        """Every configured check: status, since, last run, uptime, p95, recent history."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        rows, error = current_state_rows()
        context = {
            **self.admin_site.each_context(request),
            "title": "Current state of the checks",
            "opts": self.opts,
            "rows": rows,
            "store_error": error,
            "may_run": self.has_run_permission(request),
            "strip_length": HISTORY_STRIP_LENGTH,
            "strip_width": HISTORY_STRIP_LENGTH * 6,
        }
        return TemplateResponse(request, "admin/healthd/checkstatus/current_state.html", context)

    def run_now_view(self, request: HttpRequest) -> HttpResponse:
        """The "run checks now" button: queue a run of every check (POST only)."""
        if not self.has_run_permission(request):
            raise PermissionDenied
        return _run_now_post(request)


@require_POST
def _run_now_post(request: HttpRequest) -> HttpResponse:
    queue_run(request)
    return HttpResponseRedirect(reverse("admin:healthd_checkstatus_current"))


@admin.register(CurrentState)
class CurrentStateAdmin(ReadOnlyAdmin):
    """Puts the current-state page on the admin index; its list is that page."""

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm("healthd.view_checkstatus")

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:healthd_checkstatus_current"))
