"""Turn the site's settings into the list of checks to run.

Sources, in order: ``HEALTHD["CHECKS"]`` (or the default list of every built-in the
site's settings make meaningful), then ``DOCKERFLOW_CHECKS`` and ``WATCHMAN_CHECKS``
so a site that switches keeps its checks. The known dotted paths of the replaced
packages map onto healthd's built-ins.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from healthd import conf
from healthd.checks import cache, celery, database, email, migrations, passive, redis, storage
from healthd.checks.base import Check, Observation, Status

BUILTINS: dict[str, Callable[..., Callable[[], Any]]] = {
    "database": database.make,
    "migrations": migrations.make,
    "cache": cache.make,
    "redis": redis.make,
    "celery": celery.make,
    "email": email.make,
    "storage": storage.make,
}

# The replaced packages' dotted paths, so their settings carry over unchanged.
LEGACY_PATHS: dict[str, str] = {
    "dockerflow.django.checks.check_database_connected": "database",
    "dockerflow.django.checks.check_migrations_applied": "migrations",
    "dockerflow.django.checks.check_redis_connected": "redis",
    "watchman.checks.databases": "database",
    "watchman.checks.caches": "cache",
    "watchman.checks.email": "email",
    "watchman.checks.storage": "storage",
}

CHECK_KEYS = {
    "check", "name", "interval", "timeout", "critical", "failures_before_failing",
    "successes_before_passing", "stale_after", "description",
}
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]+$")


def default_names() -> list[str]:
    """Every built-in that the site's settings make meaningful."""
    from django.conf import settings

    names = []
    if getattr(settings, "DATABASES", None):
        names += ["database", "migrations"]
    real_caches = [
        c for c in getattr(settings, "CACHES", {}).values()
        if "DummyCache" not in c.get("BACKEND", "")
    ]
    if real_caches:
        names.append("cache")
    if redis.redis_urls():
        names.append("redis")
    if getattr(settings, "CELERY_BROKER_URL", None) or conf.get().celery_workers:
        names.append("celery")
    email_backend = getattr(settings, "EMAIL_BACKEND", "")
    if email_backend and "dummy" not in email_backend:
        names.append("email")
    names.append("storage")
    return names


def _dockerflow_adapter(func: Callable[..., Any]) -> Callable[[], Observation]:
    """Run a Django system-check-style function: ERROR and above fails, WARNING warns."""
    from django.core.checks import ERROR, WARNING

    def run() -> Observation:
        messages = func(None) or []
        worst = max((m.level for m in messages), default=0)
        text = "; ".join(f"{m.id or m.level}: {m.msg}" for m in messages) or "ok"
        details = {"messages": {str(m.id or m.level): str(m.msg) for m in messages}, "level": worst}
        if worst >= ERROR:
            return Observation(text, Status.FAILING, details=details)
        if worst >= WARNING:
            return Observation(text, Status.WARNING, details=details)
        return Observation(text, details=details)

    run.__name__ = getattr(func, "__name__", "dockerflow_check")
    return run


def _watchman_adapter(func: Callable[..., Any]) -> Callable[[], Observation]:
    """Run a watchman check (takes a request, returns a dict) on the schedule, with none."""

    def oks(value: Any) -> Iterable[bool]:
        if isinstance(value, dict):
            if "ok" in value:
                yield bool(value["ok"])
            for inner in value.values():
                yield from oks(inner)
        elif isinstance(value, list):
            for inner in value:
                yield from oks(inner)

    def run() -> Observation:
        data = func(None) or {}
        ok = all(oks(data))
        return Observation("ok" if ok else "not ok", Status.PASSING if ok else Status.FAILING,
                           details={"watchman": data})

    run.__name__ = getattr(func, "__name__", "watchman_check")
    return run


def _resolve(target: str, adapter: Callable | None = None) -> tuple[str, Callable[[], Any]]:
    """A built-in short name or a dotted path, to (default name, zero-argument callable)."""
    if target in BUILTINS:
        return target, BUILTINS[target]()
    try:
        func = import_string(target)
    except ImportError as exc:
        raise ImproperlyConfigured(f"cannot import check {target!r}: {exc}") from exc
    if not callable(func):
        raise ImproperlyConfigured(f"check {target!r} is not callable")
    name = getattr(func, "__name__", target.rsplit(".", 1)[-1])
    return name, adapter(func) if adapter else func


def _positive(value: Any, what: str, entry: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ImproperlyConfigured(f"{what} must be a positive number in {entry!r}")
    return float(value)


def build_check(entry: Any, adapter: Callable | None = None) -> Check:
    """One entry of HEALTHD["CHECKS"] (a string or a dict) to a Check."""
    if isinstance(entry, dict) and "passive" in entry:
        return passive.build_check(entry)  # a job that reports in (healthd.checks.passive)
    settings = conf.get()
    if isinstance(entry, str):
        entry = {"check": entry}
    if not isinstance(entry, dict) or not isinstance(entry.get("check"), str):
        raise ImproperlyConfigured(
            f"a check is a name, a dotted path or a dict with a 'check' key, not {entry!r}"
        )
    target = LEGACY_PATHS.get(entry["check"], entry["check"])
    options = {k: v for k, v in entry.items() if k not in CHECK_KEYS}
    if options and target not in BUILTINS:
        raise ImproperlyConfigured(f"unknown key(s) {sorted(options)} in {entry!r}")
    if target in BUILTINS:
        try:
            func = BUILTINS[target](**options)
        except TypeError as exc:
            raise ImproperlyConfigured(f"bad option for check {target!r}: {exc}") from exc
        name = target
    elif "." in target:
        name, func = _resolve(target, adapter)
    else:
        raise ImproperlyConfigured(
            f"unknown check {target!r}: use one of {sorted(BUILTINS)} or a dotted path"
        )
    name = entry.get("name") or name
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or len(name) > 100:
        raise ImproperlyConfigured(
            f"check name {name!r} must match {NAME_PATTERN.pattern}, at most 100 characters")
    counts = {}
    for key in ("failures_before_failing", "successes_before_passing"):
        value = entry.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ImproperlyConfigured(f"{key} must be a whole number >= 1 in {entry!r}")
        counts[key] = value
    stale_after = entry.get("stale_after")
    interval = _positive(entry.get("interval", settings.interval), "interval", entry)
    return Check(
        name=name,
        func=func,
        timeout=_positive(entry.get("timeout", settings.timeout), "timeout", entry),
        critical=bool(entry.get("critical", True)),
        interval=interval,
        stale_after=(
            _positive(stale_after, "stale_after", entry)
            if stale_after is not None
            else interval * float(settings.stale_after_intervals)
        ),
        description=str(entry.get("description", "")),
        **counts,
    )


def _entries() -> list[tuple[Any, Callable | None]]:
    settings = conf.get()
    checks = settings.checks
    if checks is None:
        checks = default_names()
    if isinstance(checks, str) or not isinstance(checks, list | tuple):
        raise ImproperlyConfigured("HEALTHD['CHECKS'] must be a list")
    entries: list[tuple[Any, Callable | None]] = [(entry, None) for entry in checks]
    for path in settings.dockerflow_checks:
        entries.append((path, _dockerflow_adapter))
    for path in settings.watchman_checks:
        entries.append((path, _watchman_adapter))
    return entries


@functools.lru_cache(maxsize=1)
def configured_checks() -> tuple[Check, ...]:
    """Every configured check, by the settings in force; raises ImproperlyConfigured."""
    checks: dict[str, Check] = {}
    for entry, adapter in _entries():
        check = build_check(entry, adapter)
        if check.name in checks:
            if adapter is not None:
                continue  # a legacy setting naming a check already configured
            raise ImproperlyConfigured(f"check name {check.name!r} is configured twice")
        checks[check.name] = check
    return tuple(checks.values())


def problems() -> list[str]:
    """Every configuration problem, for the system check (empty when all is well)."""
    found = []
    try:
        entries = _entries()
    except ImproperlyConfigured as exc:
        return [str(exc)]
    names: set[str] = set()
    for entry, adapter in entries:
        try:
            check = build_check(entry, adapter)
        except ImproperlyConfigured as exc:
            found.append(str(exc))
            continue
        if check.name in names and adapter is None:
            found.append(f"check name {check.name!r} is configured twice")
        names.add(check.name)
    return found


def checks_named(names: Iterable[str] | None) -> list[Check]:
    """The configured checks with these names (all of them for None) that healthd runs:
    a passive check reports in and is never run. Unknown names raise."""
    every = configured_checks()
    if names is None:
        return [c for c in every if not passive.is_passive(c)]
    by_name = {c.name: c for c in every}
    wanted = list(names)
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise KeyError(f"unknown check(s): {', '.join(unknown)}; known: {', '.join(by_name)}")
    return [by_name[n] for n in wanted if not passive.is_passive(by_name[n])]
