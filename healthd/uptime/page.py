"""``/status/uptime/``: one row per check (or per group, ``HEALTHD["GROUPS"]``) with 90
daily bars, the uptime over 24 h, 7 d, 30 d and 90 d, the current state, and the recent
incidents. No check message ever appears on it.

The history comes from this process's copy (:mod:`healthd.uptime.kept`, read from the
database at most once a minute), the current state from the cached Redis state. The rows
are drawn once per reading of the history, and the page rendered again only when the
history, a state it shows or the minute changes; both are dropped on a setting change
(the groups, the time zone or the templates may have changed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString
from django.views.decorators.http import require_safe

from healthd.checks.base import Status
from healthd.conf import per_process
from healthd.history.reports import Uptime
from healthd.http.responses import PAGE_POLICY, Refusal, html_response, never_raise
from healthd.store import health as state
from healthd.uptime import groups, kept
from healthd.uptime.access import cache_control, visible_or_refused
from healthd.uptime.daily import DAYS, History, Row
from healthd.uptime.drawing import LEVEL_NAMES, bars_svg, incident_text
from healthd.uptime.spans import (
    DEGRADED,
    DEGRADED_BELOW,
    DOWN,
    DOWN_BELOW,
    NO_DATA,
    UP,
    level,
)

PAGE_MAX_AGE = 10
INCIDENTS_SHOWN = 20
_STATUS_RANK = {Status.PASSING: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.STALE: 3,
                Status.FAILING: 4}


def _row_state(row: Row, by_name: dict[str, state.CheckState]) -> Status:
    """The current state of a row: its check's, or a group's worst member's."""
    states = [by_name[name].status for name in row.members if name in by_name]
    return max(states, key=_STATUS_RANK.__getitem__, default=Status.UNKNOWN)


def _window_level(figure: Uptime) -> str:
    return level(figure, None)


@dataclass(frozen=True)
class _DrawnRow:
    row: Row
    bars: SafeString
    windows: list[dict[str, str]]


# (history, its rows drawn): drawn once per reading of the history (once a minute), not
# once per evaluation of the current state (once a second).
_drawn: per_process.Kept[tuple[History, list[_DrawnRow]]] = per_process.Kept()


def drawn_rows(history: History) -> list[_DrawnRow]:
    """The page's rows with their bars and uptime figures, drawn once per history."""
    held = _drawn.value
    if held is not None and held[0] is history:
        return held[1]
    since = per_process.generation()  # before the groups are read
    drawn = []
    for row in groups.page_rows(history, groups.configured()):
        windows = []
        for period, figure in row.windows.items():
            weakest = row.weakest.get(period)
            windows.append({
                "period": period, "text": str(figure), "level": _window_level(figure),
                "title": f"{figure.up:,} of {max(figure.runs, round(figure.expected)):,} "
                         f"runs up" + (f"; lowest: {weakest}" if weakest else ""),
            })
        drawn.append(_DrawnRow(row, bars_svg(row), windows))
    _drawn.keep((history, drawn), since)
    return drawn


def _shown_states(history: History, health: state.Health) -> tuple[str, ...]:
    """The overall state and each row's, as the page shows them."""
    by_name = health.by_name()
    return (str(health.status), *(str(_row_state(drawn.row, by_name))
                                   for drawn in drawn_rows(history)))


def page_context(history: History, health: state.Health) -> dict[str, Any]:
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
        "days": DAYS,
        "overall": str(health.status),
        "store_error": health.error,
        "history_error": history.error,
        "incidents": [{"status": i.status, "text": incident_text(i, now, tz)}
                      for i in history.incidents[:INCIDENTS_SHOWN]],
        "read_at": f"{history.read_at.astimezone(tz):%Y-%m-%d %H:%M:%S %Z}",
        "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "legend": [(shown, LEVEL_NAMES[shown]) for shown in (UP, DEGRADED, DOWN, NO_DATA)],
        "down_below": f"{100 * DOWN_BELOW:g} %",
        "degraded_below": f"{100 * DEGRADED_BELOW:g} %",
    }


# (history, what else the page shows, body, status code): the page is rendered again when
# the history is read again, a state it shows changes, or a minute has passed (the
# durations of ongoing incidents), not on every request nor on every reading of Redis.
_rendered: per_process.Kept[tuple[History, tuple[Any, ...], bytes, int]] = per_process.Kept()


def _render_page(history: History, health: state.Health) -> tuple[bytes, int]:
    shown = (_shown_states(history, health), health.error, int(time.time() // 60))
    held = _rendered.value
    if held is not None and held[0] is history and held[1] == shown:
        return held[2], held[3]
    since = per_process.generation()  # before the time zone and the templates are read
    body = render_to_string("healthd/status_uptime.html",
                            page_context(history, health)).encode()
    status = 503 if (history.error or health.error) else 200
    _rendered.keep((history, shown, body, status), since)
    return body, status


def forget() -> None:
    """Drop the drawn rows and the rendered page: the next request draws them again."""
    _drawn.clear()
    _rendered.clear()


def _html_refusal(refusal: Refusal) -> HttpResponse:
    return html_response("healthd/status_refused.html", {
        "error": refusal.error, "status": refusal.status,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }, refusal.status)


@require_safe
@never_raise(refused=_html_refusal)
def uptime_page(request: HttpRequest) -> HttpResponse:
    """``/status/uptime/``: 90 days of every check (or group), its uptime and incidents."""
    public = visible_or_refused(request)
    body, status = _render_page(kept.history(), state.health())
    response = HttpResponse(body, status=status, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = PAGE_POLICY
    return cache_control(response, public, PAGE_MAX_AGE)
