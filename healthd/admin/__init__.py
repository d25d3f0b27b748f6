"""The operators' side: check history, current state, transitions and rollups.

The registrations only: the changelist machinery that keeps history pages fast on big
tables is in ``healthd.admin.changelist``, the report queries (uptime, p95, latest results)
in ``healthd.history.reports``.
"""

from __future__ import annotations

import datetime
import html
import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_POST

from healthd import conf, store
from healthd.admin import state_rows
from healthd.admin.alerting import DeliveryInline
from healthd.admin.changelist import (
    ConfiguredCheckFilter,
    FixedStatusFilter,
    ReadOnlyAdmin,
    ReadOnlyHistoryAdmin,
)
from healthd.checks import registry
from healthd.history import reports
from healthd.local import instances
from healthd.models import CheckResult, CheckStatus, CurrentState, HourlyRollup, Transition
from healthd.store import client as redis_client
from healthd.store import health as state
from healthd.store.client import StoreNotConfigured
from healthd.tasks import run_checks
from healthd.util.logs import get_logger
from healthd.util.outages import BROKER_ERRORS, REDIS_ERRORS
from healthd.util.redact import redact

logger = get_logger("healthd.admin")


@admin.register(CheckResult)
class CheckResultAdmin(ReadOnlyHistoryAdmin):
    list_display = ("checked_at", "name", "status", "duration_ms", "short_message", "host")
    list_filter = (ConfiguredCheckFilter, "status", ("checked_at", admin.DateFieldListFilter))
    date_hierarchy = "checked_at"
    search_fields = ("name", "message")
    # Orderings backed by the indexes (name, -checked_at, ...), (status, -checked_at),
    # (-checked_at).
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
    """Every transition; which were held back by a failing dependency (suppressed by) and
    which notification group told each (its link lists the group's transitions)."""

    list_display = ("at", "name", "previous", "status", "silenced", "suppressed_by",
                    "group_link", "message")
    list_filter = (ConfiguredCheckFilter, FixedStatusFilter, "silenced",
                   ("suppressed_by", admin.EmptyFieldListFilter),
                   ("group", admin.EmptyFieldListFilter))
    inlines = (DeliveryInline,)
    date_hierarchy = "at"
    search_fields = ("name", "message", "=group")
    ordering = ("-at", "-id")
    sortable_by = ("at",)

    @admin.display(description="group")
    def group_link(self, obj: Transition) -> str:
        if not obj.group:
            return "-"
        return format_html('<a href="?{}">{}</a>', urlencode({"q": obj.group}), obj.group)


@admin.register(HourlyRollup)
class HourlyRollupAdmin(ReadOnlyHistoryAdmin):
    list_display = ("hour", "name", "runs", "failures", "warnings", "uptime", "mean_ms", "max_ms")
    list_filter = (ConfiguredCheckFilter,)
    date_hierarchy = "hour"
    ordering = ("-hour", "name")
    sortable_by = ("hour", "name")

    @admin.display(description="uptime")
    def uptime(self, obj: HourlyRollup) -> str:
        """Runs that did not fail out of the runs the hour should have had (a missing run
        counts as down; see reports.Uptime)."""
        interval = _configured_intervals().get(obj.name)
        return str(reports.hour_uptime(obj.runs, obj.failures, obj.hour, interval,
                                       timezone.now()))

    @admin.display(description="mean (ms)")
    def mean_ms(self, obj: HourlyRollup) -> str:
        return f"{obj.duration_sum / obj.runs * 1000:.1f}" if obj.runs else "-"

    @admin.display(description="max (ms)")
    def max_ms(self, obj: HourlyRollup) -> str:
        return f"{obj.duration_max * 1000:.1f}"


def _configured_intervals() -> dict[str, float]:
    """Seconds between runs of each configured check ({} when the settings are broken:
    uptime is then the share of runs that passed)."""
    try:
        return {check.name: check.interval for check in registry.configured_checks()}
    except ImproperlyConfigured as exc:
        logger.warning("uptime without the checks' intervals: %s", redact(exc))
        return {}


# --- current state ---------------------------------------------------------------------


def _epoch(value: float | None) -> datetime.datetime | None:
    if value is None:
        return None
    try:
        return datetime.datetime.fromtimestamp(value, tz=datetime.UTC)
    except (OverflowError, OSError, ValueError):  # a time no calendar holds
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
    def strip_bars(self) -> SafeString:
        """The strip's bars as SVG, built here: a template loop over 50 bars per check
        cost more than every query of the page."""
        # x is a number and the colour one of STRIP_COLOURS; the title is escaped (by the
        # standard library's escape, which Django's wraps: 10,000 calls for 200 checks).
        return mark_safe("".join(  # noqa: S308
            f'<rect x="{bar["x"]:d}" y="0" width="5" height="16" fill="{bar["colour"]}">'
            f'<title>{html.escape(bar["title"])}</title></rect>'
            for bar in self.strip))

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


def _strip(latest: list[reports.LatestResult]) -> list[dict[str, Any]]:
    """One check's latest results, oldest first, placed for an inline SVG."""
    zone = timezone.get_current_timezone()
    # Stored times come back in UTC: nothing to convert, 50 times a check, when that is
    # the zone shown.
    convert = str(zone) not in ("UTC", "Etc/UTC")
    # isoformat: a third of strftime's time, 10,000 times for 200 checks.
    return [
        {"x": index * 6, "colour": STRIP_COLOURS.get(status, "#757575"),
         "title": f"{_shown(at.astimezone(zone) if convert and at.tzinfo else at)} "
                  f"{status} {duration * 1000:.0f} ms"}
        for index, (status, at, duration) in enumerate(latest)
    ]


def _shown(at: datetime.datetime) -> str:
    return at.isoformat(" ", "seconds")[:19]


def current_state_rows(now: datetime.datetime | None = None) -> tuple[list[CheckRow], str | None]:
    """Every configured check as the current-state page shows it, and the store's error.

    A handful of queries whatever the number of checks: the saved states, then one
    report query each for uptime, p95 and the latest results (see healthd.history.reports).
    """
    now = now or timezone.now()
    health = state.health()
    intervals = {c.name: c.check.interval for c in health.checks}
    names = list(intervals)
    saved = {s.name: s for s in CheckStatus.objects.filter(name__in=names)}
    uptimes = reports.uptimes(intervals, now)
    p95s = reports.p95_durations(names, now - datetime.timedelta(hours=24))
    latest = reports.latest_results(intervals, now)
    no_uptime = reports.CheckUptime(day=reports.Uptime(0, 0, 0), week=reports.Uptime(0, 0, 0))
    rows = []
    for check_state in health.checks:
        name = check_state.name
        saved_state = saved.get(name)
        last_run = _epoch(check_state.checked_at) or (
            saved_state.last_checked_at if saved_state else None)
        since = _epoch(check_state.since) or (saved_state.since if saved_state else None)
        uptime = uptimes.get(name, no_uptime)
        p95 = p95s.get(name)
        rows.append(CheckRow(
            name=name,
            status=str(check_state.status),
            critical=check_state.check.critical,
            message=check_state.message or (saved_state.last_message if saved_state else ""),
            since=since,
            last_run=last_run,
            age_seconds=(now - last_run).total_seconds() if last_run else None,
            uptime_24h=str(uptime.day),
            uptime_7d=str(uptime.week),
            p95_ms=None if p95 is None else p95 * 1000,
            strip=_strip(latest.get(name, [])),
        ))
    return rows, health.error


def pod_rows() -> tuple[list[instances.Pod], str | None]:
    """The web pods that publish their state (healthd.local.instances), and why they
    could not be read."""
    try:
        return instances.pods(), None
    except (StoreNotConfigured, ValueError, *REDIS_ERRORS) as exc:
        return [], f"the pods' states could not be read: {type(exc).__name__}"


def claim_run_now(names: list[str] | None) -> float:
    """Take the slot for a run of these checks by hand for one INTERVAL.

    Returns 0.0 when taken, else the seconds until the run queued last frees it. The
    slot is one Redis key shared by every web process, so a double click or a second
    operator does not queue the same run twice. When Redis cannot be asked the run
    goes ahead: the broker will say whether it is away too.
    """
    interval_ms = max(1, int(conf.get().interval * 1000))
    try:
        key = store.keys().run_lock(names, by_hand=True)
        # The reading client: no retries and short timeouts, fit for a request.
        client = redis_client.reader()
        if client.set(key, "1", nx=True, px=interval_ms):
            return 0.0
        return max(1, client.pttl(key)) / 1000
    except (StoreNotConfigured, *REDIS_ERRORS) as exc:
        logger.warning("could not hold the run-now slot, queueing anyway: %s", redact(exc))
        return 0.0


def _release_run_now(names: list[str] | None) -> None:
    try:
        redis_client.reader().delete(store.keys().run_lock(names, by_hand=True))
    except (StoreNotConfigured, *REDIS_ERRORS) as exc:
        logger.warning("could not free the run-now slot (it expires by itself): %s",
                       redact(exc))


def queue_run(request: HttpRequest, names: list[str] | None = None) -> bool:
    """Queue healthd.tasks.run_checks on the broker and tell the operator how it went.

    A second request for the same checks within INTERVAL is refused with a message:
    the first run has not had time to report, and a pile of runs helps nobody.
    """
    which = "every check" if names is None else ", ".join(names)
    wait = claim_run_now(names)
    if wait:
        messages.warning(
            request,
            f"A run of {which} was queued less than {conf.get().interval:g} s ago; "
            f"the next one can be queued in {math.ceil(wait)} s.",
        )
        return False
    try:
        result = run_checks.delay(names=names)
    except BROKER_ERRORS as exc:
        logger.warning("could not queue a run of %s: %s", which, redact(exc))
        _release_run_now(names)
        messages.error(request, f"Could not queue a run: {type(exc).__name__}: {redact(exc)}")
        return False
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
        pods, pods_error = pod_rows()
        context = {
            **self.admin_site.each_context(request),
            "title": "Current state of the checks",
            "opts": self.opts,
            "rows": rows,
            # Built in Python (healthd.admin.state_rows): a template loop per row cost
            # more than every query of the page.
            "rows_html": state_rows.rows_html(
                rows, reverse("admin:healthd_checkresult_changelist"),
                reverse("admin:healthd_silence_add")
                if request.user.has_perm("healthd.add_silence") else None,
                reports.STRIP_LENGTH * 6),
            "store_error": error,
            "pods": pods,
            "pods_summary": instances.summary(pods) if pods else "",
            "pods_error": pods_error,
            "may_run": self.has_run_permission(request),
            "may_silence": request.user.has_perm("healthd.add_silence"),
            "strip_length": reports.STRIP_LENGTH,
            "strip_width": reports.STRIP_LENGTH * 6,
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
