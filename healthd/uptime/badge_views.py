"""``/status/badge.svg`` and ``/status/badge/<check>.svg``: the overall or one check's
state in the shields.io look (from the cached Redis state), or the lowest uptime of the
checks shown over ``?period=24h|7d|30d|90d`` (from this process's copy of the history)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from healthd.checks import registry
from healthd.http.responses import Refusal, never_raise
from healthd.store import health as state
from healthd.uptime import badges, kept
from healthd.uptime.access import cache_control, visible_or_refused
from healthd.uptime.spans import PERIODS

BADGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
BADGE_MAX_AGE = 5


def _period(request: HttpRequest) -> str | None:
    period = request.GET.get("period")
    if period is not None and period not in PERIODS:
        raise Refusal(400, f"unknown period {period!r}", periods=list(PERIODS))
    return period


def _badge(label: str, message: str, colour: str, public: bool) -> HttpResponse:
    response = HttpResponse(badges.render(label, message, colour),
                            content_type="image/svg+xml; charset=utf-8")
    response["Content-Security-Policy"] = BADGE_POLICY
    return cache_control(response, public, BADGE_MAX_AGE)


def _uptime_badge(label: str, names: list[str], period: str, public: bool) -> HttpResponse:
    """The lowest uptime of the checks named over ``period``."""
    history = kept.history()
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
    public = visible_or_refused(request)
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
    public = visible_or_refused(request)
    period = _period(request)
    names = [c.name for c in registry.configured_checks()]
    if check not in names:
        raise Refusal(404, f"unknown check {check!r}", checks=names)
    if period:
        return _uptime_badge(f"{check} uptime {period}", [check], period, public)
    health = state.health([check])
    status = "unknown" if health.error else str(health.checks[0].status)
    return _badge(check, status, badges.STATUS_COLOURS[status], public)
