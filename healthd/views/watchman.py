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
import json
import time
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string
from django.views.decorators.http import require_safe

from healthd import conf, state
from healthd.checks import registry
from healthd.humanize import format_age
from healthd.views.auth import token_is_valid, tokens_configured
from healthd.views.common import Refusal, never_raise
from healthd.views.serving import async_under_asgi
from healthd.views.status import html_response

# healthd built-ins that watchman knew, by the key watchman's response used.
WATCHMAN_KEYS = {"database": "databases", "cache": "caches", "email": "email",
                 "storage": "storage"}
PER_ALIAS = {"database", "cache"}


def error_code() -> int:
    """WATCHMAN_ERROR_CODE (default 500), read at call time."""
    # A legacy setting conf.HealthdSettings does not carry.
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


@functools.lru_cache(maxsize=1)
def selectors() -> dict[str, str]:
    """Every name ``?check=`` and ``?skip=`` accept, to the check name it means; worked
    out once per settings (callers read it, never change it)."""
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


@receiver(setting_changed)
def _forget_selectors_on_setting_change(**kwargs: Any) -> None:
    # The checks, WATCHMAN_CHECKS or their names may have changed.
    selectors.cache_clear()


def selected_names(request: HttpRequest) -> list[str]:
    """The checks to report, after ``?check=`` and ``?skip=``.

    Refused with a 400 listing the valid names when one is unknown, and with a 404 when
    none is left, as watchman answered.
    """
    known = selectors()
    # Without a query string there is nothing to parse (a probe's usual request).
    query = request.META.get("QUERY_STRING")
    asked = request.GET.getlist("check") if query else []
    skipped = request.GET.getlist("skip") if query else []
    unknown = sorted({n for n in asked + skipped if n not in known})
    if unknown:
        raise Refusal(400, f"unknown check(s): {', '.join(unknown)}", valid=sorted(known))
    names = [c.name for c in registry.configured_checks()]
    if asked:
        wanted = {known[n] for n in asked}
        names = [n for n in names if n in wanted]
    dropped = {known[n] for n in skipped}
    names = [n for n in names if n not in dropped]
    if not names:
        raise Refusal(404, "No checks found")
    return names


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
    name = check_state.name
    if name in PER_ALIAS:
        if check_state.parts:
            parts = [{part.label: _part(check_state.ok and part.ok,
                                        part.error or check_state.message)}
                     for part in check_state.parts]
        else:
            fallback = getattr(settings, "DATABASES" if name == "database" else "CACHES", {})
            parts = [{alias: _part(check_state.ok, check_state.message)} for alias in fallback]
        return {WATCHMAN_KEYS[name]: parts}
    if name in WATCHMAN_KEYS:
        return {WATCHMAN_KEYS[name]: _part(check_state.ok, check_state.message)}
    returned = check_state.result.watchman if check_state.result else None
    if check_state.ok and returned:
        return _without_stacktraces(returned)
    return {name: _part(check_state.ok, check_state.message)}


def _token_required(request: HttpRequest) -> None:
    """Refused with a 403 when tokens are configured and the caller presents none of them."""
    if tokens_configured() and not token_is_valid(request):
        raise Refusal(403, "forbidden: a valid watchman token is required")


def _selected_health(request: HttpRequest) -> state.Health:
    """The health of the checks the request selects, once the caller is let in."""
    _token_required(request)
    return state.health(selected_names(request))


def _bare_refusal(refusal: Refusal) -> HttpResponse:
    """``bare/`` answers with its status code alone, refusals too."""
    return HttpResponse(status=refusal.status, content_type="text/plain")


@async_under_asgi
@require_safe
@never_raise
def status(request: HttpRequest) -> HttpResponse:
    """``/watchman/``: every selected check in watchman's shape."""
    health = _selected_health(request)
    # Rendered once per evaluation of the selected checks, not on every request.
    content = health.rendered("watchman.status", lambda: json.dumps(_status_body(health),
                                                                    default=str).encode())
    return HttpResponse(content, status=200 if health.healthy else error_code(),
                        content_type="application/json")


def _status_body(health: state.Health) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for check_state in health.checks:
        body.update(watchman_entries(check_state))
    if health.error:
        body["error"] = health.error
    return body


@async_under_asgi
@require_safe
@never_raise(refused=_bare_refusal)
def bare_status(request: HttpRequest) -> HttpResponse:
    """``/watchman/bare/``: the status code alone, for load balancers."""
    health = _selected_health(request)
    return HttpResponse(status=200 if health.healthy else error_code(), content_type="text/plain")


@async_under_asgi(reads_state=False)
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
                "age": format_age(check_state.age),
                "statuses": statuses,
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
