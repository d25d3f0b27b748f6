"""Seen from outside: the uptime page, the badges, and the history API.

- ``/status/uptime/``: one row per check (or per group, ``HEALTHD["GROUPS"]``) with 90
  daily bars drawn on the server as inline SVG (each bar names its day's figures in a
  ``<title>`` and shows them on hover or focus, no script), the uptime over 24 h, 7 d,
  30 d and 90 d, the current state, and the recent incidents. No check message ever
  appears on it.
- ``/status/badge.svg`` and ``/status/badge/<check>.svg``: the overall or one check's
  state in the shields.io look, or its uptime with ``?period=24h|7d|30d|90d``.
- ``/status/api/history/<check>?since=&until=&resolution=hour|day``: the check's rollups
  and transitions over a bounded window, as JSON.

Who sees what: the page and badges are open to anyone with
``HEALTHD["PUBLIC_STATUS_PAGE"]``, else only to callers who may see details (DEBUG,
``HEALTHD["PUBLIC_DETAILS"]`` or a valid token), as is the history API always; others get
a 403. Unlike the other status views these read the history in the database, through
:mod:`healthd.uptime`: bounded queries, at most once a minute per process for the page
and the uptime badges; the current state comes from the cached Redis state.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import time
from dataclasses import dataclass
from typing import Any

from django.core.signals import setting_changed
from django.db import DatabaseError
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_safe

from healthd.checks import registry
from healthd.checks.base import Status
from healthd.history import reports
from healthd.http.auth import may_see_details
from healthd.http.responses import PAGE_POLICY, Refusal, html_response, json_response, never_raise
from healthd.store import health as state
from healthd.uptime import badges
from healthd.uptime import compute as uptime

BADGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
BADGE_MAX_AGE = 5
PAGE_MAX_AGE = 10
DEFAULT_WINDOW = {"hour": dt.timedelta(hours=24), "day": dt.timedelta(days=90)}
INCIDENTS_SHOWN = 20

# Bars: width, gap and height in pixels, with room above them for the day's figures.
BAR_WIDTH, BAR_GAP, BAR_HEIGHT, TIP_HEIGHT = 6, 2, 28, 16
_STATUS_RANK = {Status.PASSING: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.STALE: 3,
                Status.FAILING: 4}
LEVEL_NAMES = {uptime.UP: "up", uptime.DEGRADED: "degraded", uptime.DOWN: "down",
               uptime.NO_DATA: "no data"}


def _visible_or_refused(request: HttpRequest) -> bool:
    """Whether the answer is public; refused with a 403 when the caller may not see it."""
    if uptime.public_status_page():
        return True
    if may_see_details(request):
        return False
    raise Refusal(403, "forbidden: the status page is not public (HEALTHD"
                       "[\"PUBLIC_STATUS_PAGE\"]); a valid token is required")


def _cache_control(response: HttpResponse, public: bool, seconds: int) -> HttpResponse:
    response["Cache-Control"] = f"{'public' if public else 'private'}, max-age={seconds}"
    return response


# --- the page ----------------------------------------------------------------------------------


def format_span(span: dt.timedelta) -> str:
    """A duration as "45 s", "7 min", "3 h 20 min", "2 d 4 h"."""
    seconds = int(span.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _clock(moment: dt.datetime, today: dt.date, tz: dt.tzinfo) -> str:
    local = moment.astimezone(tz)
    return f"{local:%H:%M}" if local.date() == today else f"{local:%d %b %H:%M}"


def incident_text(incident: uptime.Incident, now: dt.datetime, tz: dt.tzinfo) -> str:
    """"database failing 03:12-03:19, 7 min" (an en dash), or "... since 03:12, 12 min so far"."""
    today = now.astimezone(tz).date()
    began = _clock(incident.start, today, tz)
    took = format_span(incident.duration(now))
    silenced = " (silenced)" if incident.silenced else ""
    if incident.end is None:
        return f"{incident.name} {incident.status} since {began}, {took} so far{silenced}"
    ended = incident.end.astimezone(tz)
    same_day = ended.date() == incident.start.astimezone(tz).date()
    end_text = f"{ended:%H:%M}" if same_day else _clock(incident.end, today, tz)
    return f"{incident.name} {incident.status} {began}\u2013{end_text}, {took}{silenced}"


def day_title(row: uptime.Row, day: uptime.Day) -> str:
    """What a bar says of its day: the uptime, the runs, the worst state."""
    date = f"{day.date:%a %d %b %Y}"
    if day.level == uptime.NO_DATA:
        return f"{date}: no data"
    counts = (f"{day.uptime.runs:,} runs, {day.failures:,} failed, {day.warnings:,} warned, "
              f"{uptime.missing_runs(day.uptime):,} missing")
    text = f"{date}: {day.uptime} up ({counts}); {LEVEL_NAMES[day.level]}"
    if day.worst_state:
        text += f", worst state {day.worst_state}"
    if row.is_group and day.weakest:
        text += f"; lowest uptime: {day.weakest}"
    return text


def bars_svg(row: uptime.Row) -> SafeString:
    """The row's daily bars as inline SVG: each bar a focusable image named by its
    ``<title>``, with the day's uptime shown above the bars on hover or focus."""
    count = len(row.days)
    width = count * (BAR_WIDTH + BAR_GAP) - BAR_GAP
    height = TIP_HEIGHT + BAR_HEIGHT
    parts: list[str] = [format_html(
        '<svg class="bars" xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" '
        'viewBox="0 0 {} {}" role="group" aria-label="{}: one bar a day, the last {} days">',
        width, height, width, height, row.label, count)]
    for index, day in enumerate(row.days):
        x = index * (BAR_WIDTH + BAR_GAP)
        if index < count / 3:
            anchor, tip_x = "start", x
        elif index >= 2 * count / 3:
            anchor, tip_x = "end", x + BAR_WIDTH
        else:
            anchor, tip_x = "middle", x + BAR_WIDTH // 2
        tip = f"{day.date:%d %b}: " + ("no data" if day.level == uptime.NO_DATA
                                        else f"{day.uptime} up")
        parts.append(
            f'<g class="day {day.level}" tabindex="0" role="img" '
            f'data-date="{day.date.isoformat()}"><title>{html.escape(day_title(row, day))}</title>'
            f'<rect x="{x}" y="{TIP_HEIGHT}" width="{BAR_WIDTH}" height="{BAR_HEIGHT}" rx="1"/>'
            f'<text class="tip" x="{tip_x}" y="11" text-anchor="{anchor}" aria-hidden="true">'
            f"{html.escape(tip)}</text></g>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped or a number


def _row_state(row: uptime.Row, by_name: dict[str, state.CheckState]) -> Status:
    """The current state of a row: its check's, or a group's worst member's."""
    states = [by_name[name].status for name in row.members if name in by_name]
    return max(states, key=_STATUS_RANK.__getitem__, default=Status.UNKNOWN)


def _window_level(figure: reports.Uptime) -> str:
    return uptime.level(figure, None)


@dataclass(frozen=True)
class _DrawnRow:
    row: uptime.Row
    bars: SafeString
    windows: list[dict[str, str]]


# (history, its rows drawn): drawn once per reading of the history (once a minute), not
# once per evaluation of the current state (once a second).
_drawn: list[tuple[uptime.History, list[_DrawnRow]] | None] = [None]


def drawn_rows(history: uptime.History) -> list[_DrawnRow]:
    """The page's rows with their bars and uptime figures, drawn once per history."""
    held = _drawn[0]
    if held is not None and held[0] is history:
        return held[1]
    drawn = []
    for row in uptime.page_rows(history, uptime.groups()):
        windows = []
        for period, figure in row.windows.items():
            weakest = row.weakest.get(period)
            windows.append({
                "period": period, "text": str(figure), "level": _window_level(figure),
                "title": f"{figure.up:,} of {max(figure.runs, round(figure.expected)):,} "
                         f"runs up" + (f"; lowest: {weakest}" if weakest else ""),
            })
        drawn.append(_DrawnRow(row, bars_svg(row), windows))
    _drawn[0] = (history, drawn)
    return drawn


def _shown_states(history: uptime.History, health: state.Health) -> tuple[str, ...]:
    """The overall state and each row's, as the page shows them."""
    by_name = health.by_name()
    return (str(health.status), *(str(_row_state(drawn.row, by_name))
                                   for drawn in drawn_rows(history)))


def page_context(history: uptime.History, health: state.Health) -> dict[str, Any]:
    """Everything the page shows; no message of any check."""
    tz = timezone.get_default_timezone()
    now = timezone.now()
    by_name = health.by_name()
    rows = [{"label": drawn.row.label,
             "members": drawn.row.members if drawn.row.is_group else (),
             "state": str(_row_state(drawn.row, by_name)),
             "bars": drawn.bars,
             "windows": drawn.windows}
            for drawn in drawn_rows(history)]
    return {
        "rows": rows,
        "days": uptime.DAYS,
        "overall": str(health.status),
        "store_error": health.error,
        "history_error": history.error,
        "incidents": [{"status": i.status, "text": incident_text(i, now, tz)}
                      for i in history.incidents[:INCIDENTS_SHOWN]],
        "read_at": f"{history.read_at.astimezone(tz):%Y-%m-%d %H:%M:%S %Z}",
        "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "legend": [(level, LEVEL_NAMES[level]) for level in
                   (uptime.UP, uptime.DEGRADED, uptime.DOWN, uptime.NO_DATA)],
        "down_below": f"{100 * uptime.DOWN_BELOW:g} %",
        "degraded_below": f"{100 * uptime.DEGRADED_BELOW:g} %",
    }


# (history, what else the page shows, body, status code): the page is rendered again when
# the history is read again, a state it shows changes, or a minute has passed (the
# durations of ongoing incidents), not on every request nor on every reading of Redis.
_rendered: list[tuple[uptime.History, tuple[Any, ...], bytes, int] | None] = [None]


def _render_page(history: uptime.History, health: state.Health) -> tuple[bytes, int]:
    shown = (_shown_states(history, health), health.error, int(time.time() // 60))
    held = _rendered[0]
    if held is not None and held[0] is history and held[1] == shown:
        return held[2], held[3]
    body = render_to_string("healthd/status_uptime.html",
                            page_context(history, health)).encode()
    status = 503 if (history.error or health.error) else 200
    _rendered[0] = (history, shown, body, status)
    return body, status


def forget() -> None:
    """Drop the drawn rows and the rendered page: the next request draws them again."""
    _drawn[0] = None
    _rendered[0] = None


@receiver(setting_changed)
def _forget_on_setting_change(**kwargs: Any) -> None:
    # The groups, the time zone or the templates may have changed with the settings.
    forget()


def _html_refusal(refusal: Refusal) -> HttpResponse:
    return html_response("healthd/status_refused.html", {
        "error": refusal.error, "status": refusal.status,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }, refusal.status)


@require_safe
@never_raise(refused=_html_refusal)
def uptime_page(request: HttpRequest) -> HttpResponse:
    """``/status/uptime/``: 90 days of every check (or group), its uptime and incidents."""
    public = _visible_or_refused(request)
    body, status = _render_page(uptime.history(), state.health())
    response = HttpResponse(body, status=status, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = PAGE_POLICY
    return _cache_control(response, public, PAGE_MAX_AGE)


# --- the badges -------------------------------------------------------------------------------


def _period(request: HttpRequest) -> str | None:
    period = request.GET.get("period")
    if period is not None and period not in uptime.PERIODS:
        raise Refusal(400, f"unknown period {period!r}", periods=list(uptime.PERIODS))
    return period


def _badge(label: str, message: str, colour: str, public: bool) -> HttpResponse:
    response = HttpResponse(badges.render(label, message, colour),
                            content_type="image/svg+xml; charset=utf-8")
    response["Content-Security-Policy"] = BADGE_POLICY
    return _cache_control(response, public, BADGE_MAX_AGE)


def _uptime_badge(label: str, names: list[str], period: str, public: bool) -> HttpResponse:
    """The lowest uptime of the checks named over ``period``."""
    history = uptime.history()
    if history.error:
        return _badge(label, "unknown", badges.COLOURS["lightgrey"], public)
    figures = [history.rows[name].windows[period] for name in names if name in history.rows]
    measured = [f.ratio for f in figures if f.ratio is not None]
    ratio = min(measured) if measured else None
    message = "no data" if ratio is None else f"{100 * ratio:.2f}%"
    return _badge(label, message, badges.uptime_colour(ratio), public)


@require_safe
@never_raise
def overall_badge(request: HttpRequest) -> HttpResponse:
    """``/status/badge.svg``: the site's overall state (or its lowest uptime)."""
    public = _visible_or_refused(request)
    period = _period(request)
    if period:
        names = [check.name for check in registry.configured_checks()]
        return _uptime_badge(f"uptime {period}", names, period, public)
    health = state.health()
    status = "unknown" if health.error else str(health.status)
    return _badge("status", status, badges.STATUS_COLOURS[status], public)


@require_safe
@never_raise
def check_badge(request: HttpRequest, check: str) -> HttpResponse:
    """``/status/badge/<check>.svg``: one check's state, or its uptime over ``?period=``."""
    public = _visible_or_refused(request)
    period = _period(request)
    names = [c.name for c in registry.configured_checks()]
    if check not in names:
        raise Refusal(404, f"unknown check {check!r}", checks=names)
    if period:
        return _uptime_badge(f"{check} uptime {period}", [check], period, public)
    health = state.health([check])
    status = "unknown" if health.error else str(health.checks[0].status)
    return _badge(check, status, badges.STATUS_COLOURS[status], public)


# --- the history API ----------------------------------------------------------------------------

_NUMBER = re.compile(r"^\d{1,12}(\.\d+)?$")
# "+01:00" arrives as " 01:00" when the caller did not encode the "+".
_SPACED_OFFSET = re.compile(r"(?<=\d) (?=\d\d(:?\d\d)?$)")


def parse_moment(text: str | None, what: str, tz: dt.tzinfo) -> dt.datetime | None:
    """An ISO 8601 date or time (naive ones in the site's time zone) or seconds since the
    epoch; None when not given; refused with a 400 naming ``what`` when malformed."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    try:
        if _NUMBER.match(text):
            return dt.datetime.fromtimestamp(float(text), tz=dt.UTC)
        if "T" in text:
            text = _SPACED_OFFSET.sub("+", text)
        value = dt.datetime.fromisoformat(text)
        return timezone.make_aware(value, tz) if timezone.is_naive(value) else value
    except (ValueError, OverflowError, OSError):
        raise Refusal(400, f"{what}: not an ISO 8601 date or time, nor seconds since the "
                           f"epoch: {text[:40]!r}") from None


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def _rounded(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


@require_safe
@never_raise
def history_api(request: HttpRequest, check: str) -> HttpResponse:
    """``/status/api/history/<check>``: the check's series by hour or day, and transitions.

    ``since`` and ``until`` (ISO 8601 or epoch seconds; default: the last 24 h by hour,
    the last 90 days by day) bound a window of at most 31 days by hour or 366 by day.
    """
    if not may_see_details(request):
        raise Refusal(403, "forbidden: a valid token is required")
    checks = {c.name: c for c in registry.configured_checks()}
    if check not in checks:
        raise Refusal(404, f"unknown check {check!r}", checks=sorted(checks))
    resolution = request.GET.get("resolution", "hour")
    if resolution not in uptime.RESOLUTIONS:
        raise Refusal(400, f"unknown resolution {resolution!r}",
                      resolutions=list(uptime.RESOLUTIONS))
    tz = timezone.get_default_timezone()
    now = timezone.now()
    until = parse_moment(request.GET.get("until"), "until", tz) or now
    since = parse_moment(request.GET.get("since"), "since", tz)
    if since is None:
        try:
            since = until - DEFAULT_WINDOW[resolution]
        except OverflowError:
            raise Refusal(400, "until: too early to count back from") from None
    if since >= until:
        raise Refusal(400, "since must be before until", since=_iso(since), until=_iso(until))
    longest = uptime.MAX_WINDOW[resolution]
    if until - since > longest:
        raise Refusal(400, f"the window is longer than {longest.days} days at "
                           f"resolution={resolution}",
                      max_days={r: w.days for r, w in uptime.MAX_WINDOW.items()})
    try:
        found = uptime.series(checks[check], since, until, resolution, now, tz)
    except OverflowError:
        raise Refusal(400, "the window reaches past the dates the history can hold") from None
    except DatabaseError as exc:
        raise Refusal(503, f"the history could not be read: {type(exc).__name__}") from None
    return json_response({
        "check": check,
        "resolution": resolution,
        "since": _iso(since),
        "until": _iso(until),
        "interval": checks[check].interval,
        "points": [
            {"start": _iso(p.start), "runs": p.runs, "failures": p.failures,
             "warnings": p.warnings, "expected": round(p.uptime.expected, 1),
             "uptime": _rounded(p.uptime.ratio), "mean_duration": _rounded(p.mean_duration),
             "max_duration": _rounded(p.duration_max)}
            for p in found.points
        ],
        "transitions": [
            {"at": _iso(at), "previous": previous, "status": status, "message": message}
            for at, previous, status, message in found.transitions
        ],
        "transitions_truncated": found.transitions_truncated,
    })
