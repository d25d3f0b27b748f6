"""Gathering the stats, in a worker: the built-ins and every custom provider at once.

Each provider runs on :mod:`healthd.util.concurrency`'s bounded threads under ``TIMEOUT``,
so one that hangs costs that timeout once; while it still hangs, later gatherings
report it rather than start it again.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.utils.module_loading import import_string

from healthd import conf
from healthd.checks.base import HOSTNAME
from healthd.compat.status.stats.providers import STATS, Provider, providers
from healthd.util.concurrency import Call, Done, Outcome, run_with_timeouts
from healthd.util.logs import get_logger
from healthd.util.outages import DATABASE_ERRORS
from healthd.util.redact import redact, redact_deep
from healthd.util.version_json import read_version_json

logger = get_logger("healthd.stats")


# Connection settings that are credentials (django-status left out USER and PASSWORD; a
# password may also sit in OPTIONS, under the driver's own name).
_CREDENTIAL_WORDS = ("user", "pass", "secret", "token", "key", "credential")


def _without_credentials(value: Any) -> Any:
    """The connection settings without any key that names a credential, at any depth."""
    if isinstance(value, dict):
        return {k: _without_credentials(v) for k, v in value.items()
                if not any(word in str(k).lower() for word in _CREDENTIAL_WORDS)}
    return value


def database_stats() -> dict[str, dict[str, Any]]:
    """Per database alias: django-status's facts (vendor, is_usable, the connection's
    flags, its settings without credentials), plus engine, display name and table count."""
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
        except (*DATABASE_ERRORS, ImproperlyConfigured) as exc:  # away, or the dummy backend
            entry["is_usable"] = False
            entry["error"] = redact(f"{type(exc).__name__}: {exc}")
            logger.warning("database %s did not answer: %s", alias, entry["error"])
        entry.update({
            "allow_thread_sharing": connection.allow_thread_sharing,
            "autocommit": connection.autocommit,
            "commit_on_exit": connection.commit_on_exit,
            "in_atomic_block": connection.in_atomic_block,
            "settings": _without_credentials(dict(connection.settings_dict)),
        })
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
    config = conf.get()
    expected = config.celery_workers
    # A connection of its own, closed after: a broadcast's reply queue would stay
    # remembered on a pooled connection for the process's life (healthd.checks.celery).
    with current_app.connection_for_write() as connection:
        inspector = current_app.control.inspect(timeout=config.celery_timeout,
                                                limit=len(expected) or None,
                                                connection=connection)
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
    return str(conf.get().base_dir)


def _version_facts(base_dir: str) -> dict[str, Any]:
    """What version.json says, or nothing when it is missing, unreadable or not an object."""
    try:
        data = read_version_json(base_dir)
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
    """Branch (``{"local", "remote"}``, as django-status gave it) and last commit (from
    git, else version.json), the version, and DEBUG."""
    base_dir = _base_dir()
    version = _version_facts(base_dir)
    found: dict[str, Any] = {"debug": bool(settings.DEBUG), "scm": None, "branch": None,
                             "commit": None}
    last = _git(base_dir, "log", "-1", "--format=%H%x1f%s%x1f%an%x1f%aI")
    if last:
        commit_id, summary, author, date = [*last.split("\x1f"), "", "", ""][:4]
        found["scm"] = "git"
        local = _git(base_dir, "rev-parse", "--abbrev-ref", "HEAD")
        if local:
            # django-status's shape: the upstream branch, else "unknown"
            remote = _git(base_dir, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}")
            found["branch"] = {"local": local, "remote": remote or "unknown"}
        found["commit"] = {"id": commit_id, "summary": summary, "author": author, "date": date}
    elif version.get("commit"):
        found["commit"] = {"id": str(version["commit"])}
    if version.get("branch") and not found["branch"]:
        found["branch"] = {"local": str(version["branch"]), "remote": "unknown"}
    for name in ("version", "source", "build"):
        if version.get(name):
            found[name] = version[name]
    return found


BUILTIN_STATS: dict[str, Callable[[], Any]] = {
    "databases": database_stats,
    "celery": celery_stats,
    "code": code_stats,
}


def _as_json(func: Callable[[], Any]) -> Callable[[], Any]:
    """func, its value turned into what JSON would carry, every string redacted."""

    def call() -> Any:
        return redact_deep(json.loads(json.dumps(func(), default=str)))

    return call


def _custom_call(path: str, provider: Provider) -> Callable[[], Any]:
    """Import the provider's dotted path when it runs, then call it with its arguments."""

    def call() -> Any:
        func = import_string(path)
        return func(*provider.args, **provider.kwargs)

    return call


def _entry(label: str, outcome: Outcome) -> dict[str, Any]:
    """What the views show of one provider: {"value": …} or {"error": …}."""
    if not isinstance(outcome, Done):
        return {"error": outcome.message}
    if outcome.error is None:
        return {"value": outcome.value}
    error = outcome.error
    logger.warning("stats provider %s raised %s: %s", label, type(error).__name__, redact(error))
    return {"error": redact(f"{type(error).__name__}: {error}")}


def gather_stats() -> dict[str, Any]:
    """Run the stats built-ins and every custom provider, concurrently, each under TIMEOUT.

    Returns ``{"gathered_at", "host", "builtin": {kind: {"value"|"error"}},
    "providers": {resource: {name: {"value"|"error"}}}}``, ready for ``store_stats``.
    """
    timeout = conf.get().timeout
    table = providers()
    kinds = {p.builtin[1] for ps in table.values() for p in ps.values()
             if p.builtin and p.builtin[0] == STATS}
    # (section, resource, name) of each call, where its entry goes
    places: list[tuple[str, str, str]] = []
    calls: list[Call[Any]] = []
    for kind in sorted(kinds):
        places.append(("builtin", "", kind))
        calls.append(Call(f"stats:{kind}", _as_json(BUILTIN_STATS[kind]), timeout))
    for resource, by_name in table.items():
        for name, provider in by_name.items():
            if provider.builtin is None and provider.path:
                places.append(("providers", resource, name))
                calls.append(Call(f"stats:{resource}/{name}",
                                  _as_json(_custom_call(provider.path, provider)), timeout))
    gathered: dict[str, Any] = {"gathered_at": time.time(), "host": HOSTNAME,
                                "builtin": {}, "providers": {}}
    for (section, resource, name), call, outcome in zip(
            places, calls, run_with_timeouts(calls), strict=True):
        entry = _entry(call.key.removeprefix("stats:"), outcome)
        if section == "builtin":
            gathered["builtin"][name] = entry
        else:
            gathered["providers"].setdefault(resource, {})[name] = entry
    return gathered
