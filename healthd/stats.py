"""django-status's ``stats`` resource and custom ``STATUS_PROVIDERS``, gathered on the schedule.

Gathering stats costs queries, a Celery broadcast and a ``git`` call, so the views never
do it: the ``healthd.tasks.gather_stats`` task runs :func:`gather_stats` in a worker and
:func:`store_stats` keeps the JSON in Redis; the views read it back through
:func:`latest_stats`, a per-process copy refreshed at most once per ``CACHE_SECONDS``
(like the check results in :mod:`healthd.state`).

Providers: the built-ins (``health``: ping, databases, caches, celery; ``stats``:
databases, celery, code) plus every ``STATUS_PROVIDERS`` entry, which adds a provider or
replaces a built-in of the same resource and name. django-status's own dotted paths
(``status.providers.django.health.databases``…) are served by the matching built-in;
any other dotted path is a custom provider, called here with its args and kwargs.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.utils.module_loading import import_string

from healthd import conf, redis_client, store
from healthd.checks.base import HOSTNAME
from healthd.memo import FreshFor
from healthd.redact import redact, redact_deep

logger = logging.getLogger("healthd.stats")

HEALTH = "health"
STATS = "stats"

# django-status's built-in providers (2.x and the older check_providers module).
BUILTIN_PATHS: dict[str, tuple[str, str]] = {
    "status.providers.health.ping": (HEALTH, "ping"),
    "status.providers.django.health.databases": (HEALTH, "databases"),
    "status.providers.django.health.caches": (HEALTH, "caches"),
    "status.providers.celery.health.celery": (HEALTH, "celery"),
    "status.providers.django.stats.databases": (STATS, "databases"),
    "status.providers.celery.stats.celery": (STATS, "celery"),
    "status.providers.stats.code": (STATS, "code"),
    "status.check_providers.ping": (HEALTH, "ping"),
    "status.check_providers.databases": (HEALTH, "databases"),
    "status.check_providers.caches": (HEALTH, "caches"),
    "status.check_providers.celery": (HEALTH, "celery"),
    "status.check_providers.databases_stats": (STATS, "databases"),
    "status.check_providers.celery_stats": (STATS, "celery"),
    "status.check_providers.code": (STATS, "code"),
}


@dataclass(frozen=True)
class Provider:
    """One provider of one resource: a built-in (``builtin``) or a custom dotted path."""

    resource: str
    name: str
    builtin: tuple[str, str] | None = None
    path: str | None = None
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


def _status_providers() -> dict[str, Any]:
    # A legacy setting conf.HealthdSettings does not carry; read at call time.
    from django.conf import settings

    value = getattr(settings, "STATUS_PROVIDERS", None) or {}
    if not isinstance(value, dict):
        raise ImproperlyConfigured("STATUS_PROVIDERS must be a dict {resource: (providers…)}")
    return value


def _parse_entry(resource: str, entry: Any) -> Provider:
    """(name, dotted path, args, kwargs), args and kwargs optional, to a Provider."""
    if not isinstance(entry, list | tuple) or not 2 <= len(entry) <= 4:
        raise ImproperlyConfigured(
            f"STATUS_PROVIDERS[{resource!r}]: an entry is (name, path, args, kwargs), "
            f"not {entry!r}"
        )
    name, path, args, kwargs = (*entry, None, None)[:4]
    if not isinstance(name, str) or not isinstance(path, str):
        raise ImproperlyConfigured(
            f"STATUS_PROVIDERS[{resource!r}]: name and path must be strings in {entry!r}"
        )
    builtin = BUILTIN_PATHS.get(path)
    return Provider(resource, name, builtin, None if builtin else path,
                    tuple(args or ()), dict(kwargs or {}))


def celery_configured() -> bool:
    """True when the site runs Celery checks, so Celery stats are worth gathering."""
    from healthd.checks import registry

    return bool(conf.get().celery_workers) or any(
        c.name == "celery" for c in registry.configured_checks()
    )


def providers() -> dict[str, dict[str, Provider]]:
    """Every resource's providers, by name: the built-ins, then STATUS_PROVIDERS."""
    from healthd.checks import registry

    configured = {c.name for c in registry.configured_checks()}
    health = {"ping": Provider(HEALTH, "ping", (HEALTH, "ping"))}
    for check_name, provider_name in (("database", "databases"), ("cache", "caches"),
                                      ("celery", "celery")):
        if check_name in configured:
            health[provider_name] = Provider(HEALTH, provider_name, (HEALTH, provider_name))
    stats = {name: Provider(STATS, name, (STATS, name)) for name in ("databases", "code")}
    if celery_configured():
        stats["celery"] = Provider(STATS, "celery", (STATS, "celery"))
    table: dict[str, dict[str, Provider]] = {HEALTH: health, STATS: stats}
    for resource, entries in _status_providers().items():
        if not isinstance(entries, list | tuple):
            raise ImproperlyConfigured(f"STATUS_PROVIDERS[{resource!r}] must be a tuple")
        for entry in entries:
            provider = _parse_entry(str(resource), entry)
            table.setdefault(provider.resource, {})[provider.name] = provider
    return table


# --- gathering (in a worker) ---------------------------------------------------------------


def database_stats() -> dict[str, dict[str, Any]]:
    """Cheap facts per database alias: vendor, engine, whether it answers, its table count."""
    found: dict[str, dict[str, Any]] = {}
    for alias in connections:
        connection = connections[alias]
        entry: dict[str, Any] = {
            "vendor": connection.vendor,
            "display_name": connection.display_name,
            "engine": connection.settings_dict.get("ENGINE"),
        }
        try:
            entry["tables"] = len(connection.introspection.table_names())
            entry["is_usable"] = True
        except Exception as exc:
            entry["is_usable"] = False
            entry["error"] = redact(f"{type(exc).__name__}: {exc}")
        found[alias] = entry
    return found


def _worker_wanted(hostname: str, expected: Iterable[str]) -> bool:
    expected = list(expected)
    # STATUS_CELERY_WORKERS may name "celery@host" or just "host".
    return not expected or any(
        hostname == e or hostname.split("@", 1)[-1] == e for e in expected
    )


def celery_stats() -> dict[str, dict[str, Any]]:
    """A summary of ``inspect().stats()`` per worker (STATUS_CELERY_WORKERS when set)."""
    from celery import current_app

    settings = conf.get()
    expected = settings.celery_workers
    inspector = current_app.control.inspect(timeout=settings.celery_timeout,
                                             limit=len(expected) or None)
    replies = inspector.stats() or {}
    summary: dict[str, dict[str, Any]] = {}
    for hostname, raw in sorted(replies.items()):
        if not _worker_wanted(hostname, expected):
            continue
        pool = raw.get("pool") or {}
        totals = raw.get("total") or {}
        summary[hostname] = {
            "pid": raw.get("pid"),
            "uptime": raw.get("uptime"),
            "concurrency": pool.get("max-concurrency"),
            "prefetch_count": raw.get("prefetch_count"),
            "tasks_total": sum(int(v) for v in totals.values()),
            "tasks": totals,
            "broker_transport": (raw.get("broker") or {}).get("transport"),
        }
    return summary


def _base_dir() -> str:
    from django.conf import settings

    return str(getattr(settings, "BASE_DIR", None) or os.getcwd())


def _version_json(base_dir: str) -> dict[str, Any]:
    """python-dockerflow's version.json (source, version, commit, build), if there is one."""
    path = os.path.join(base_dir, "version.json")
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _git(base_dir: str, *args: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run([git, "-C", base_dir, *args], capture_output=True, text=True,
                              timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_stats() -> dict[str, Any]:
    """Branch and last commit (from git, else version.json), the version, and DEBUG."""
    from django.conf import settings

    base_dir = _base_dir()
    version = _version_json(base_dir)
    found: dict[str, Any] = {"debug": bool(settings.DEBUG), "scm": None, "branch": None,
                             "commit": None}
    last = _git(base_dir, "log", "-1", "--format=%H%x1f%s%x1f%an%x1f%aI")
    if last:
        commit_id, summary, author, date = [*last.split("\x1f"), "", "", ""][:4]
        found["scm"] = "git"
        found["branch"] = _git(base_dir, "rev-parse", "--abbrev-ref", "HEAD")
        found["commit"] = {"id": commit_id, "summary": summary, "author": author, "date": date}
    elif version.get("commit"):
        found["commit"] = {"id": str(version["commit"])}
    if version.get("branch") and not found["branch"]:
        found["branch"] = str(version["branch"])
    for name in ("version", "source", "build"):
        if version.get(name):
            found[name] = version[name]
    return found


BUILTIN_STATS: dict[str, Callable[[], Any]] = {
    "databases": database_stats,
    "celery": celery_stats,
    "code": code_stats,
}


def _jsonable(value: Any) -> Any:
    """The value as JSON would carry it, with every string redacted."""
    return redact_deep(json.loads(json.dumps(value, default=str)))


def _call_with_timeout(func: Callable[[], Any], label: str) -> Future:
    """Start func in a daemon thread; its future resolves to {"value": ...} or {"error": ...}.

    A daemon thread, so a provider that hangs costs the caller its timeout and no more.
    """
    from celery import current_app

    future: Future = Future()
    app = current_app._get_current_object()

    def body() -> None:
        app.set_current()  # a new thread would otherwise see Celery's default app
        try:
            future.set_result({"value": _jsonable(func())})
        except Exception as exc:
            logger.warning("stats provider %s raised %s: %s", label, type(exc).__name__,
                           redact(exc))
            future.set_result({"error": redact(f"{type(exc).__name__}: {exc}")})
        finally:
            connections.close_all()  # this thread's connections only

    threading.Thread(target=body, name=f"healthd-stats:{label}", daemon=True).start()
    return future


def gather_stats() -> dict[str, Any]:
    """Run the stats built-ins and every custom provider, concurrently, each under TIMEOUT.

    Returns ``{"gathered_at", "host", "builtin": {kind: {"value"|"error"}},
    "providers": {resource: {name: {"value"|"error"}}}}``, ready for :func:`store_stats`.
    """
    settings = conf.get()
    table = providers()
    kinds = {p.builtin[1] for ps in table.values() for p in ps.values()
             if p.builtin and p.builtin[0] == STATS}
    pending: dict[tuple[str, str, str], Future] = {}
    for kind in sorted(kinds):
        pending[("builtin", "", kind)] = _call_with_timeout(BUILTIN_STATS[kind], kind)
    for resource, by_name in table.items():
        for name, provider in by_name.items():
            if provider.builtin is None and provider.path:
                pending[("providers", resource, name)] = _call_with_timeout(
                    _custom_call(provider), f"{resource}/{name}")
    started = time.monotonic()
    gathered: dict[str, Any] = {"gathered_at": time.time(), "host": HOSTNAME,
                                "builtin": {}, "providers": {}}
    for (section, resource, name), future in pending.items():
        remaining = max(0.0, started + settings.timeout - time.monotonic())
        try:
            outcome = future.result(timeout=remaining)
        except FutureTimeout:
            outcome = {"error": f"TimeoutError: no answer within {settings.timeout:g} s"}
        if section == "builtin":
            gathered["builtin"][name] = outcome
        else:
            gathered["providers"].setdefault(resource, {})[name] = outcome
    return gathered


def _custom_call(provider: Provider) -> Callable[[], Any]:
    def call() -> Any:
        func = import_string(provider.path)
        return func(*provider.args, **provider.kwargs)

    return call


# --- the Redis side ------------------------------------------------------------------------


def store_stats(data: dict[str, Any]) -> None:
    """Keep the gathered stats in Redis (the writer client: a few quick retries)."""
    redis_client.writer().set(store.keys().stats, json.dumps(data, default=str))


def read_stats() -> dict[str, Any] | None:
    """The stored stats, or None when none were gathered yet; raises when Redis fails."""
    raw = redis_client.reader().get(store.keys().stats)
    if raw is None:
        return None
    data = json.loads(raw)
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class StatsSnapshot:
    """The stored stats as a view sees them, or why they cannot be seen."""

    data: dict[str, Any] | None
    error: str | None = None

    @property
    def age(self) -> float | None:
        if not self.data:
            return None
        return max(0.0, time.time() - float(self.data.get("gathered_at", 0)))

    @property
    def stale(self) -> bool:
        settings = conf.get()
        limit = float(settings.raw.get("STATS_INTERVAL", 60.0)) * settings.stale_after_intervals
        return self.age is None or self.age > limit


def _read_snapshot() -> StatsSnapshot:
    try:
        return StatsSnapshot(read_stats())
    except Exception as exc:
        return StatsSnapshot(None, f"result store unavailable: {type(exc).__name__}")


_latest = FreshFor(_read_snapshot)


def latest_stats() -> StatsSnapshot:
    """The stored stats, from Redis at most once per CACHE_SECONDS; failures are returned."""
    return _latest.get()


def forget() -> None:
    """Drop this process's copy of the stats (tests, and after the settings change)."""
    _latest.forget()
