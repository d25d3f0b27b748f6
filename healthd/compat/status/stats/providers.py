"""Which providers each django-status resource has.

The built-ins (``health``: ping, databases, caches, celery; ``stats``: databases,
celery, code) plus every ``STATUS_PROVIDERS`` entry, which adds a provider or replaces
a built-in of the same resource and name. django-status's own dotted paths
(``status.providers.django.health.databases``…) are served by the matching built-in;
any other dotted path is a custom provider, called with its args and kwargs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from healthd import conf
from healthd.checks import registry
from healthd.conf import per_process

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


def _status_providers() -> Mapping[str, Any]:
    value = conf.get().status_providers
    if not isinstance(value, Mapping):
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
    return bool(conf.get().celery_workers) or any(
        c.name == "celery" for c in registry.configured_checks()
    )


@per_process.memoised
def providers() -> dict[str, dict[str, Provider]]:
    """Every resource's providers, by name: the built-ins, then STATUS_PROVIDERS.

    Worked out once per settings (STATUS_PROVIDERS, the checks, the Celery workers), not on
    every request to the status API; callers read the table and never change it."""
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
