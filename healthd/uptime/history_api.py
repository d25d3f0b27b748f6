"""``/status/api/history/<check>?since=&until=&resolution=hour|day``: the check's rollups
and transitions over a bounded window, as JSON, for callers who may see details (DEBUG,
``HEALTHD["PUBLIC_DETAILS"]`` or a valid token); others get a 403."""

from __future__ import annotations

import datetime as dt
import re

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_safe

from healthd.checks import registry
from healthd.http.auth import may_see_details
from healthd.http.responses import Refusal, json_response, never_raise
from healthd.uptime import series

DEFAULT_WINDOW = {"hour": dt.timedelta(hours=24), "day": dt.timedelta(days=90)}

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
    if resolution not in series.RESOLUTIONS:
        raise Refusal(400, f"unknown resolution {resolution!r}",
                      resolutions=list(series.RESOLUTIONS))
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
    longest = series.MAX_WINDOW[resolution]
    if until - since > longest:
        raise Refusal(400, f"the window is longer than {longest.days} days at "
                           f"resolution={resolution}",
                      max_days={r: w.days for r, w in series.MAX_WINDOW.items()})
    try:
        found = series.series(checks[check], since, until, resolution, now, tz)
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
