"""Turn the site's settings into the list of checks to run.

Sources, in order: ``HEALTHD["CHECKS"]`` (or the default list of every built-in the
site's settings make meaningful), then ``DOCKERFLOW_CHECKS`` and ``WATCHMAN_CHECKS``
so a site that switches keeps its checks. The known dotted paths of the replaced
packages map onto healthd's built-ins.

A built-in (or a site's class with a ``run()`` method, named by its dotted path) is
built once from the entry's options; the scheduled :class:`Check` runs its ``run``.
A plain function is run as it is.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from healthd import conf
from healthd.checks import dependencies, passive
from healthd.checks.base import Check
from healthd.checks.cache import Cache
from healthd.checks.celery import Celery
from healthd.checks.database import Database
from healthd.checks.email import Email
from healthd.checks.legacy import LEGACY_PATHS, DockerflowCheck, WatchmanCheck
from healthd.checks.migrations import Migrations
from healthd.checks.redis import Redis, redis_urls
from healthd.checks.storage import Storage
from healthd.conf import per_process

# Each built-in's name (its check name too) to its class; a dict entry's extra keys are
# the class's options.
BUILTINS: dict[str, type] = {
    "database": Database,
    "migrations": Migrations,
    "cache": Cache,
    "redis": Redis,
    "celery": Celery,
    "email": Email,
    "storage": Storage,
}

# Wraps a legacy setting's function (DOCKERFLOW_CHECKS, WATCHMAN_CHECKS) into an object
# whose run() takes no argument.
Adapter = Callable[[Callable[..., Any]], Any]

CHECK_KEYS = {
    "check", "name", "interval", "timeout", "critical", "failures_before_failing",
    "successes_before_passing", "stale_after", "description", "readiness", "depends_on",
}
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]+$")


def default_names() -> list[str]:
    """Every built-in that the site's settings make meaningful."""
    names = []
    if settings.DATABASES:
        names += ["database", "migrations"]
    real_caches = [
        c for c in settings.CACHES.values()
        if "DummyCache" not in c.get("BACKEND", "")
    ]
    if real_caches:
        names.append("cache")
    if redis_urls():
        names.append("redis")
    config = conf.get()
    if config.celery_broker_url or config.celery_workers:
        names.append("celery")
    email_backend = settings.EMAIL_BACKEND
    if email_backend and "dummy" not in email_backend:
        names.append("email")
    names.append("storage")
    return names


def _is_check_class(target: object) -> bool:
    """A class whose instances are checks: built like a built-in, from the entry's options."""
    return isinstance(target, type) and callable(getattr(target, "run", None))


def _instantiate(kind: type, options: dict[str, Any], label: str) -> Callable[[], Any]:
    try:
        instance = kind(**options)
    except TypeError as exc:
        raise ImproperlyConfigured(f"bad option for check {label!r}: {exc}") from exc
    return instance.run


def _resolve(target: str, options: dict[str, Any], adapter: Adapter | None,
             entry: Any, builtins: Mapping[str, type]) -> tuple[str, Callable[[], Any]]:
    """A built-in name or a dotted path, to (default check name, zero-argument callable)."""
    if target in builtins:
        return target, _instantiate(builtins[target], options, target)
    if "." not in target:
        raise ImproperlyConfigured(
            f"unknown check {target!r}: use one of {sorted(builtins)} or a dotted path"
        )
    try:
        found = import_string(target)
    except ImportError as exc:
        raise ImproperlyConfigured(f"cannot import check {target!r}: {exc}") from exc
    if not callable(found):
        raise ImproperlyConfigured(f"check {target!r} is not callable")
    name = getattr(found, "__name__", target.rsplit(".", 1)[-1])
    if adapter is None and _is_check_class(found):
        return name, _instantiate(found, options, target)
    if options:
        raise ImproperlyConfigured(f"unknown key(s) {sorted(options)} in {entry!r}")
    return name, adapter(found).run if adapter else found


def _positive(value: Any, what: str, entry: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ImproperlyConfigured(f"{what} must be a positive number in {entry!r}")
    return float(value)


def build_check(entry: Any, adapter: Adapter | None = None,
                builtins: Mapping[str, type] = BUILTINS,
                default_timeout: float | None = None) -> Check:
    """One entry of HEALTHD["CHECKS"] (a string or a dict) to a Check. The local checks
    (healthd.local.checks) are built from the same forms with their own ``builtins`` and
    ``default_timeout``."""
    if isinstance(entry, dict) and "passive" in entry and builtins is BUILTINS:
        return passive.build_check(entry)  # a job that reports in (healthd.checks.passive)
    config = conf.get()
    if isinstance(entry, str):
        entry = {"check": entry}
    if not isinstance(entry, dict) or not isinstance(entry.get("check"), str):
        raise ImproperlyConfigured(
            f"a check is a name, a dotted path or a dict with a 'check' key, not {entry!r}"
        )
    configured: str = entry["check"]
    target = LEGACY_PATHS.get(configured, configured)
    options = {k: v for k, v in entry.items() if k not in CHECK_KEYS}
    name, func = _resolve(target, options, adapter, entry, builtins)
    depends_on = dependencies.declared(entry)
    if depends_on is None:
        depends_on = dependencies.implied(target, options) if target in BUILTINS else ()
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
    interval = _positive(entry.get("interval", config.interval), "interval", entry)
    timeout = _positive(entry.get("timeout", default_timeout or config.timeout), "timeout", entry)
    return Check(
        name=name,
        func=func,
        timeout=timeout,
        critical=bool(entry.get("critical", True)),
        interval=interval,
        stale_after=(
            _positive(stale_after, "stale_after", entry)
            if stale_after is not None
            # A run may take its whole timeout: allow for it on top of the intervals.
            else interval * float(config.stale_after_intervals) + timeout
        ),
        description=str(entry.get("description", "")),
        readiness=bool(entry.get("readiness", False)),
        depends_on=depends_on,
        **counts,
    )


def _entries() -> list[tuple[Any, Adapter | None]]:
    config = conf.get()
    checks = config.checks
    if checks is None:
        checks = default_names()
    if isinstance(checks, str) or not isinstance(checks, list | tuple):
        raise ImproperlyConfigured("HEALTHD['CHECKS'] must be a list")
    entries: list[tuple[Any, Adapter | None]] = [(entry, None) for entry in checks]
    for path in config.dockerflow_checks:
        entries.append((path, DockerflowCheck))
    for path in config.watchman_checks or ():
        entries.append((path, WatchmanCheck))
    return entries


def _declares(entry: Any) -> bool:
    return isinstance(entry, dict) and "depends_on" in entry


def _settled(checks: dict[str, Check], declaring: set[str]) -> tuple[Check, ...]:
    """The checks, a built-in's own dependencies kept only where the check it names is
    configured (one the site declares is kept as it is: the system check names it)."""
    return tuple(
        check if check.name in declaring or not check.depends_on
        else dataclasses.replace(check, depends_on=tuple(d for d in check.depends_on
                                                         if d in checks))
        for check in checks.values())


@per_process.memoised
def configured_checks() -> tuple[Check, ...]:
    """Every configured check, by the settings in force (built once, until a setting
    changes); raises ImproperlyConfigured."""
    checks: dict[str, Check] = {}
    declaring: set[str] = set()
    for entry, adapter in _entries():
        check = build_check(entry, adapter)
        if check.name in checks:
            if adapter is not None:
                continue  # a legacy setting naming a check already configured
            raise ImproperlyConfigured(f"check name {check.name!r} is configured twice")
        checks[check.name] = check
        if _declares(entry):
            declaring.add(check.name)
    return _settled(checks, declaring)


def problems() -> list[str]:
    """Every configuration problem, for the system check (empty when all is well)."""
    found = []
    try:
        entries = _entries()
    except ImproperlyConfigured as exc:
        return [str(exc)]
    built: dict[str, Check] = {}
    declaring: set[str] = set()
    for entry, adapter in entries:
        try:
            check = build_check(entry, adapter)
        except ImproperlyConfigured as exc:
            found.append(str(exc))
            continue
        if check.name in built and adapter is None:
            found.append(f"check name {check.name!r} is configured twice")
        built.setdefault(check.name, check)
        if _declares(entry):
            declaring.add(check.name)
    return found + dependencies.problems(_settled(built, declaring))


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
