"""django-status's surface: ``/status/api/…`` (JSON) and the status pages (HTML).

Every answer comes from cached state. The ``health`` providers are worked out from the
latest check results (:func:`healthd.store.health.health`); the ``stats`` providers and every
custom ``STATUS_PROVIDERS`` entry come from the JSON the ``healthd.tasks.gather_stats``
task keeps in Redis (:func:`healthd.compat.status.stats.latest_stats`). Nothing is gathered or
checked on a request, and no SQL query runs.

Shapes and codes, as django-status answered them:

- ``api/<resource>/<provider>``: the provider's value (``health/ping`` →
  ``{"pong": true}``, ``health/databases`` → ``{"default": true}``, ``stats/code`` →
  ``{"debug": …, "branch": …, "commit": {…}}``); ``api/<resource>``: ``{provider:
  value}``; ``api/``: ``{resource: {provider: value}}``.
- 200 whenever the state could be read, even when a value says a service is down:
  django-status did so, and a load balancer pointed at it must not start pulling
  instances after a switch. A stale or never-run check reads as ``false``.
- 503 with ``{"error": …}`` when the result store cannot be read, or when one stats
  provider is asked for before the task ever gathered it (in the aggregate views such a
  value is ``null``). 404 naming the valid resources or providers for an unknown one.

Who sees what, by the rule every dialect follows (anonymous callers get statuses only):
the ``health`` built-ins are booleans, public as django-status's were. Stats and custom
providers are details (worker host names and pids, the commit's author, whatever a
custom provider returns): only callers who may see details (DEBUG,
``HEALTHD["PUBLIC_DETAILS"]`` or a valid token) read them. For anyone else they are left
out of ``api/`` and ``api/health/``, and ``api/stats/…`` answers 403. The HTML pages show
every check's status and age to anyone; messages, per-alias details, the code and the
stats only to callers who may see details.

Which providers: :mod:`healthd.compat.status.reading` (django-status's set: the celery
providers only with ``STATUS_CELERY_WORKERS``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from healthd.compat.status import reading as dialect
from healthd.compat.status import stats as stats_store
from healthd.http.auth import may_see_details
from healthd.http.responses import Refusal, html_response, json_response, never_raise
from healthd.probes.answers import JSON, Answer
from healthd.probes.serving import http_response
from healthd.store import health as state
from healthd.util.humanize import format_age


# Pages carry inline CSS only: nothing may be loaded from anywhere.
class Unavailable(Refusal):
    """A value cannot be read: the store is down, or the stats were never gathered (503)."""

    def __init__(self, reason: str, store_down: bool):
        super().__init__(503, reason)
        self.reason = reason
        self.store_down = store_down


PING = (stats_store.HEALTH, "ping")
DETAILS_REFUSAL = ("forbidden: stats and custom providers are details; present a valid "
                   "token to read them")


class Reader:
    """Reads the cached state lazily, once per request: ping alone never touches Redis."""

    def __init__(self) -> None:
        self._health: state.Health | None = None
        self._stats: stats_store.StatsSnapshot | None = None

    def health(self) -> state.Health:
        if self._health is None:
            self._health = state.health()
        if self._health.error:
            raise Unavailable(self._health.error, store_down=True)
        return self._health

    def stats(self) -> dict[str, Any]:
        if self._stats is None:
            self._stats = stats_store.latest_stats()
        if self._stats.error:
            raise Unavailable(self._stats.error, store_down=True)
        if self._stats.data is None:
            raise Unavailable("no stats gathered yet: is the healthd.tasks.gather_stats task "
                              "scheduled?", store_down=False)
        return self._stats.data

    def value(self, provider: stats_store.Provider) -> Any:
        """The value django-status's provider would have returned, from cached state."""
        if dialect.is_public(provider) and provider.builtin is not None:
            if provider.builtin == PING:
                return {"pong": True}  # touches nothing, as django-status's ping
            return dialect.health_value(provider.builtin[1], self.health())
        try:
            return dialect.stored_value(provider, self.stats())
        except dialect.NotGathered as exc:
            raise Unavailable(str(exc), store_down=False) from None

    def lenient_value(self, provider: stats_store.Provider) -> Any:
        """For the aggregate views: a value never gathered is null; a store failure raises."""
        try:
            return self.value(provider)
        except Unavailable as exc:
            if exc.store_down:
                raise
            return None


def _shown(by_name: dict[str, stats_store.Provider],
           details: bool) -> dict[str, stats_store.Provider]:
    """The providers this caller may read: every one with details, else the public ones."""
    if details:
        return by_name
    return {name: p for name, p in by_name.items() if dialect.is_public(p)}


def _providers_of(resource: str) -> dict[str, stats_store.Provider]:
    """The providers of one resource; an unknown resource is refused with a 404."""
    table = dialect.providers()
    if resource not in table:
        raise Refusal(404, f"unknown resource {resource!r}", resources=sorted(table))
    return table[resource]


def _values(reader: Reader, shown: dict[str, stats_store.Provider], key: str,
            body: Callable[[], dict[str, Any]]) -> HttpResponse:
    """The answer ``body()`` makes. When every provider shown is a health built-in that
    reads the checks, the answer depends on their evaluation alone: it is then encoded
    once per evaluation (keyed by ``key``), as the probes' answers are."""
    if not all(dialect.is_public(p) for p in shown.values()) or all(
            p.builtin == PING for p in shown.values()):
        return json_response(body())
    health = reader.health()
    return http_response(health.rendered(key, lambda: Answer(
        200, JSON, json.dumps(body(), default=str).encode())))


@require_safe
@never_raise
def api_root(request: HttpRequest) -> HttpResponse:
    """``api/``: every provider of every resource the caller may read."""
    reader = Reader()
    details = may_see_details(request)
    shown = {resource: _shown(by_name, details)
             for resource, by_name in dialect.providers().items()}
    everything = {f"{resource}/{name}": provider for resource, by_name in shown.items()
                  for name, provider in by_name.items()}
    return _values(reader, everything, "answer:status-api", lambda: {
        resource: {name: reader.lenient_value(p) for name, p in by_name.items()}
        for resource, by_name in shown.items() if by_name})


@require_safe
@never_raise
def api_resource(request: HttpRequest, resource: str) -> HttpResponse:
    """``api/<resource>/``: every provider of one resource the caller may read."""
    providers = _providers_of(resource)
    shown = _shown(providers, may_see_details(request))
    if providers and not shown:
        raise Refusal(403, DETAILS_REFUSAL)
    reader = Reader()
    return _values(reader, shown, f"answer:status-api:{resource}", lambda: {
        name: reader.lenient_value(p) for name, p in shown.items()})


@require_safe
@never_raise
def api_provider(request: HttpRequest, resource: str, provider: str) -> HttpResponse:
    """``api/<resource>/<provider>``: one provider's value."""
    providers = _providers_of(resource)
    if provider not in providers:
        raise Refusal(404, f"unknown provider {provider!r} of {resource!r}",
                      providers=sorted(providers))
    if not dialect.is_public(providers[provider]) and not may_see_details(request):
        raise Refusal(403, DETAILS_REFUSAL)
    return json_response(Reader().value(providers[provider]))


# --- the pages -----------------------------------------------------------------------------


def check_rows(health: state.Health, details: bool) -> list[dict[str, Any]]:
    """One row per check for the templates: status, age, and (when allowed) what it said."""
    rows = []
    for check_state in health.checks:
        row: dict[str, Any] = {
            "name": check_state.name,
            "status": str(check_state.status),
            "critical": check_state.critical,
            "age": format_age(check_state.age),
            "since": format_age(time.time() - check_state.since) if check_state.since else "",
            "observed": (f"{check_state.value:g} {check_state.unit or ''}".strip()
                         if check_state.value is not None else ""),
            "message": check_state.message if details else "",
            "parts": [],
        }
        if details:
            row["parts"] = [
                {"name": part.label,
                 "status": "passing" if part.ok else "failing",
                 "text": (f"{part.latency_ms} ms" if part.latency_ms is not None
                          else part.error or "")}
                for part in check_state.parts
            ]
        rows.append(row)
    return rows


def _provider_blocks(reader: Reader, resource: str, only_custom: bool) -> list[dict[str, Any]]:
    blocks = []
    for name, provider in dialect.providers().get(resource, {}).items():
        if only_custom and provider.builtin is not None:
            continue
        try:
            value = reader.value(provider)
            text = json.dumps(value, indent=2, default=str, sort_keys=True)
            failed = isinstance(value, dict) and set(value) == {"error"}
        except Unavailable as exc:
            text, failed = exc.reason, True
        blocks.append({"name": name, "text": text, "failed": failed})
    return blocks


def _page_context(request: HttpRequest) -> tuple[dict[str, Any], int]:
    """What every page shows: the overall status, each check, how old the stats are."""
    health = state.health()
    snapshot = stats_store.latest_stats()
    details = may_see_details(request)
    code = None
    if snapshot.data and details:
        code = ((snapshot.data.get("builtin") or {}).get("code") or {}).get("value")
    context = {
        "overall": str(health.status),
        "error": health.error,
        "checks": check_rows(health, details),
        "details": details,
        "stats_age": format_age(snapshot.age),
        "stats_stale": snapshot.data is not None and snapshot.stale,
        "stats_error": snapshot.error,
        "stats_missing": snapshot.error is None and snapshot.data is None,
        "code": code,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    return context, 503 if health.error else 200


@require_safe
@never_raise
def index_page(request: HttpRequest) -> HttpResponse:
    """``/status/``: the overall status, every check with its age, the running code."""
    context, status = _page_context(request)
    return html_response("healthd/status_index.html", context, status)


@require_safe
@never_raise
def health_page(request: HttpRequest) -> HttpResponse:
    """``/status/health/``: every check in detail, and the custom health providers."""
    context, status = _page_context(request)
    context["providers"] = (_provider_blocks(Reader(), stats_store.HEALTH, only_custom=True)
                            if context["details"] else [])
    return html_response("healthd/status_health.html", context, status)


@require_safe
@never_raise
def stats_page(request: HttpRequest) -> HttpResponse:
    """``/status/stats/``: the gathered stats, with their age."""
    context, status = _page_context(request)
    reader = Reader()
    sections = []
    for resource in dialect.providers() if context["details"] else ():
        if resource == stats_store.HEALTH:
            continue
        sections.append({"resource": resource,
                         "providers": _provider_blocks(reader, resource, only_custom=False)})
    context["sections"] = sections
    if context["stats_error"]:
        status = 503
    return html_response("healthd/status_stats.html", context, status)

