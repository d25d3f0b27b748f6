"""django-watchman's surface: ``/watchman/``, ``ping/``, ``bare/``, ``dashboard/``.

The status is built from the latest check results, in watchman's shape: ``databases``
and ``caches`` are lists of ``{alias: {"ok": …}}``, ``email`` and ``storage`` are
``{"ok": …}``; a custom ``WATCHMAN_CHECKS`` entry shows the dict it returned on its last
run; every other healthd check shows as ``{name: {"ok": …}}``. A part that is not ok
carries an ``"error"`` message; never a stack trace. A stale or never-run check is not
ok, and its error says why.

Codes: 200 while the site is healthy, else ``WATCHMAN_ERROR_CODE`` (default 500, as in
watchman). "Healthy" is healthd's meaning: a failing check marked ``critical: False``
shows ``"ok": false`` but does not turn the answer into an error. ``?check=`` and
``?skip=`` (repeatable) take watchman's dotted paths (``watchman.checks.databases``,
the paths in ``WATCHMAN_CHECKS``) and healthd check names; an unknown one is a 400
listing the valid ones; no check left is a 404, as in watchman.

Who sees what: when a token is configured (``WATCHMAN_TOKEN``, ``WATCHMAN_TOKENS``,
``HEALTHD["TOKENS"]``) the status, ``bare/`` and ``dashboard/`` answer 403 without a
valid one; whoever passes sees every per-check ok and error, as watchman showed them.
``ping/`` is open and touches nothing, as in watchman.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string
from django.views.decorators.http import require_safe

from healthd import conf, state
from healthd.checks import registry
from healthd.views.auth import token_is_valid, tokens_configured
from healthd.views.common import json_response, never_raise
from healthd.views.status import age_text, html_response

# healthd built-ins that watchman knew, by the key watchman's response used.
WATCHMAN_KEYS = {"database": "databases", "cache": "caches", "email": "email",
                 "storage": "storage"}
PER_ALIAS = {"database", "cache"}


def error_code() -> int:
    """WATCHMAN_ERROR_CODE (default 500), read at call time."""
    # A legacy setting conf.HealthdSettings does not carry.
    from django.conf import settings

    return int(getattr(settings, "WATCHMAN_ERROR_CODE", 500))


@functools.lru_cache(maxsize=256)
def _name_of_path(path: str) -> str:
    """The check name a WATCHMAN_CHECKS dotted path is configured under (its function's)."""
    if path in registry.LEGACY_PATHS:
        return registry.LEGACY_PATHS[path]
    try:
        return getattr(import_string(path), "__name__", path.rsplit(".", 1)[-1])
    except ImportError:
        return path.rsplit(".", 1)[-1]


def selectors() -> dict[str, str]:
    """Every name ``?check=`` and ``?skip=`` accept, to the check name it means."""
    configured = {c.name for c in registry.configured_checks()}
    known = {name: name for name in configured}
    for path, name in registry.LEGACY_PATHS.items():
        if path.startswith("watchman.") and name in configured:
            known[path] = name
    for path in conf.get().watchman_checks:
        name = _name_of_path(path)
        if name in configured:
            known[path] = name
    return known


class BadSelection(Exception):
    """``?check=`` or ``?skip=`` named a check that is not configured."""


def selected_names(request: HttpRequest) -> list[str]:
    """The checks to report, after ``?check=`` and ``?skip=``."""
    known = selectors()
    asked = request.GET.getlist("check")
    skipped = request.GET.getlist("skip")
    unknown = sorted({n for n in asked + skipped if n not in known})
    if unknown:
        raise BadSelection(", ".join(unknown))
    names = [c.name for c in registry.configured_checks()]
    if asked:
        wanted = {known[n] for n in asked}
        names = [n for n in names if n in wanted]
    dropped = {known[n] for n in skipped}
    return [n for n in names if n not in dropped]


def _part(ok: bool, error: str | None) -> dict[str, Any]:
    return {"ok": True} if ok else {"ok": False, "error": error or "not ok"}


def _without_stacktraces(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_stacktraces(v) for k, v in value.items() if k != "stacktrace"}
    if isinstance(value, list):
        return [_without_stacktraces(v) for v in value]
    return value


def watchman_entries(check_state: state.CheckState) -> dict[str, Any]:
    """The keys one check adds to watchman's response."""
    from django.conf import settings

    name = check_state.name
    record = check_state.record or {}
    details = record.get("details") or {}
    if name in PER_ALIAS:
        fallback = list(getattr(settings, "DATABASES" if name == "database" else "CACHES", {}))
        aliases = [a for a, d in details.items() if isinstance(d, dict)] or fallback
        parts = []
        for alias in aliases:
            info = details.get(alias) or {}
            ok = check_state.ok and bool(info.get("ok", True))
            parts.append({alias: _part(ok, info.get("error") or check_state.message)})
        return {WATCHMAN_KEYS[name]: parts}
    if name in WATCHMAN_KEYS:
        return {WATCHMAN_KEYS[name]: _part(check_state.ok, check_state.message)}
    returned = details.get("watchman")
    if check_state.ok and isinstance(returned, dict) and returned:
        return _without_stacktraces(returned)
    return {name: _part(check_state.ok, check_state.message)}


def _forbidden() -> HttpResponse:
    return json_response({"error": "forbidden: a valid watchman token is required"}, 403)


def _selection_or_error(request: HttpRequest) -> list[str] | HttpResponse:
    try:
        names = selected_names(request)
    except BadSelection as exc:
        return json_response({"error": f"unknown check(s): {exc}",
                              "valid": sorted(selectors())}, 400)
    if not names:
        return json_response({"error": "No checks found"}, 404)
    return names


def _allowed(request: HttpRequest) -> bool:
    return not tokens_configured() or token_is_valid(request)


def _selected_health(request: HttpRequest) -> state.Health | HttpResponse:
    """The health of the checks the request selects, or the 403/400/404 answer instead."""
    if not _allowed(request):
        return _forbidden()
    names = _selection_or_error(request)
    if isinstance(names, HttpResponse):
        return names
    return state.health(names)


@require_safe
@never_raise
def status(request: HttpRequest) -> HttpResponse:
    """``/watchman/``: every selected check in watchman's shape."""
    health = _selected_health(request)
    if isinstance(health, HttpResponse):
        return health
    body: dict[str, Any] = {}
    for check_state in health.checks:
        body.update(watchman_entries(check_state))
    if health.error:
        body["error"] = health.error
    return json_response(body, 200 if health.healthy else error_code())


@require_safe
@never_raise
def bare_status(request: HttpRequest) -> HttpResponse:
    """``/watchman/bare/``: the status code alone, for load balancers."""
    if not _allowed(request):
        return HttpResponse(status=403, content_type="text/plain")
    names = _selection_or_error(request)
    if isinstance(names, HttpResponse):
        return HttpResponse(status=names.status_code, content_type="text/plain")
    health = state.health(names)
    return HttpResponse(status=200 if health.healthy else error_code(), content_type="text/plain")


@require_safe
@never_raise
def ping(request: HttpRequest) -> HttpResponse:
    """``/watchman/ping/``: the process answers; touches neither Redis nor the database."""
    return HttpResponse("pong", content_type="text/plain")


@require_safe
@never_raise
def dashboard(request: HttpRequest) -> HttpResponse:
    """``/watchman/dashboard/``: the same checks as a page, with the age of each result."""
    health = _selected_health(request)
    if isinstance(health, HttpResponse):
        return health
    groups = []
    for check_state in health.checks:
        for key, value in watchman_entries(check_state).items():
            parts = value if isinstance(value, list) else [{"": value}]
            statuses = [
                {"name": alias, "ok": bool(info.get("ok")), "error": info.get("error", "")}
                for part in parts if isinstance(part, dict)
                for alias, info in part.items() if isinstance(info, dict)
            ]
            groups.append({
                "type": key,
                "ok": all(s["ok"] for s in statuses) if statuses else check_state.ok,
                "status": str(check_state.status),
                "age": age_text(check_state.age),
                "statuses": statuses,
                # watchman's JSON has no room for it; the page says why a failure is ok
                "silenced": check_state.message if state.silenced_until(
                    check_state.record or {}, time.time()) is not None else "",
            })
    context = {
        "overall_ok": health.healthy,
        "error": health.error,
        "checks": groups,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    # A page for people: 200 whatever it shows (as watchman's), unless nothing could be read.
    return html_response("healthd/watchman_dashboard.html", context,
                         error_code() if health.error else 200)
