"""What a check depends on: ``"depends_on": ["database"]`` in its ``HEALTHD["CHECKS"]``
entry, or what a built-in declares by itself.

While a dependency fails, a dependent's transitions are recorded and signalled but told to
nobody (the record script marks them ``suppressed_by`` the failing dependency); when the
dependency recovers and the dependent's state still differs from what was last told, it
is told then, once. A run records its results dependencies first, so a dependency that
fails in the same run as its dependents suppresses them.

Built-ins declare theirs when the check they need is configured: ``migrations`` on
``database``; ``cache`` on ``database`` when one of its caches is a database cache;
``celery`` on ``redis`` when the broker is a Redis (the ``redis`` check PINGs it). With
another broker (RabbitMQ) no built-in check watches the broker itself: name one with
``depends_on`` if the site has it.

Cycles are found by :mod:`graphlib` (the standard library's topological sorter) rather
than by a walk of our own.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from healthd import conf
from healthd.checks.base import Check
from healthd.util.redis_urls import redis_url_of_broker


def declared(entry: dict[str, Any]) -> tuple[str, ...] | None:
    """The ``depends_on`` an entry names (None when it names none); raises on a bad one."""
    if "depends_on" not in entry:
        return None
    value = entry["depends_on"]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(n, str) and n for n in value):
        raise ImproperlyConfigured(
            f"depends_on must be a list of check names in {entry!r}")
    return tuple(dict.fromkeys(value))


def _database_cache(aliases: Sequence[str]) -> bool:
    caches = settings.CACHES
    return any("DatabaseCache" in str(caches.get(alias, {}).get("BACKEND", ""))
               for alias in (aliases or tuple(caches)))


def implied(builtin: str, options: dict[str, Any]) -> tuple[str, ...]:
    """What a built-in depends on by itself (before checking the names are configured)."""
    if builtin == "migrations":
        return ("database",)
    if builtin == "cache":
        aliases = options.get("aliases") or ()
        aliases = (aliases,) if isinstance(aliases, str) else tuple(aliases)
        return ("database",) if _database_cache(aliases) else ()
    if builtin == "celery" and redis_url_of_broker(conf.get().celery_broker_url):
        return ("redis",)
    return ()


def problems(checks: Iterable[Check]) -> list[str]:
    """A dependency that names no configured check, or a cycle, in words."""
    checks = list(checks)
    names = {c.name for c in checks}
    found = [f"check {c.name!r} depends on {dep!r}, which is not a configured check"
             for c in checks for dep in c.depends_on if dep not in names]
    try:
        order(checks)
    except graphlib.CycleError as exc:
        cycle = exc.args[1] if len(exc.args) > 1 else []
        found.append(f"depends_on makes a cycle: {' -> '.join(reversed(cycle))}")
    return found


def order(checks: Iterable[Check]) -> dict[str, int]:
    """{check name: its rank}, dependencies before their dependents; raises CycleError."""
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for check in checks:
        sorter.add(check.name, *check.depends_on)
    return {name: rank for rank, name in enumerate(sorter.static_order())}


def in_order(names_of: Sequence[Any], checks: Iterable[Check], name: Any = None) -> list[Any]:
    """``names_of`` (results, or anything with a ``name``) dependencies first; as given
    when the dependencies make a cycle (the system check says so)."""
    try:
        rank = order(checks)
    except graphlib.CycleError:
        return list(names_of)
    key = name or (lambda item: item.name)
    return sorted(names_of, key=lambda item: rank.get(key(item), -1))
