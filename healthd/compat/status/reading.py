"""django-status's reading of the checks and stats: its providers, their values, who sees them.

**The providers.** healthd's table (:func:`healthd.compat.status.stats.providers`: ``health`` ping,
databases, caches; ``stats`` databases, code; every ``STATUS_PROVIDERS`` entry), with
the ``celery`` built-ins only when ``STATUS_CELERY_WORKERS`` names workers (or
``STATUS_PROVIDERS`` names them), as django-status added them.

**The values.** A ``health`` built-in is worked out from the latest check results
(``databases`` → ``{alias: ok}``; a stale or never-run check reads as false); every
other provider is the value the ``gather_stats`` task stored.

**Who sees them.** The ``health`` built-ins are statuses (booleans keyed by alias or
worker), public as django-status's were. Stats and custom providers are details (worker
host names and pids, the commit's author, whatever a custom provider returns): only
callers who may see details get them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from healthd import conf
from healthd.compat.status import stats as stats_store
from healthd.conf import per_process
from healthd.store import health as state

# django-status's health providers that healthd works out from a check's latest result.
CHECK_OF_PROVIDER = {"databases": "database", "caches": "cache", "celery": "celery"}


class NotGathered(Exception):
    """A stats or custom provider the ``gather_stats`` task has not stored a value for."""

    def __init__(self, label: str) -> None:
        super().__init__(f"{label} was not gathered yet: is the healthd.tasks.gather_stats "
                         "task scheduled?")


def _named_celery_providers() -> set[tuple[str, str]]:
    """(resource, name) of each STATUS_PROVIDERS entry that names a celery built-in."""
    named = set()
    for resource, entries in conf.get().status_providers.items():
        for entry in entries or ():
            if isinstance(entry, list | tuple) and len(entry) >= 2:
                builtin = stats_store.BUILTIN_PATHS.get(str(entry[1]))
                if builtin and builtin[1] == "celery":
                    named.add((str(resource), str(entry[0])))
    return named


@per_process.memoised
def providers() -> dict[str, dict[str, stats_store.Provider]]:
    """django-status's providers here, by resource and name (see the module's docstring).
    Worked out once per settings; callers read the table and never change it."""
    table = stats_store.providers()
    if conf.get().celery_workers:
        return table
    named = _named_celery_providers()
    return {
        resource: {
            name: provider for name, provider in by_name.items()
            if not (provider.builtin and provider.builtin[1] == "celery"
                    and (resource, name) not in named)
        }
        for resource, by_name in table.items()
    }


def is_public(provider: stats_store.Provider) -> bool:
    """True for a health built-in: statuses, worked out from the check results. Stats and
    custom providers are details, read from the gathered stats."""
    return provider.builtin is not None and provider.builtin[0] == stats_store.HEALTH


def aliases_ok(check_state: state.CheckState | None, fallback: list[str]) -> dict[str, bool]:
    """{alias: ok} from a database or cache check's last run; false when not fresh."""
    parts = check_state.parts if check_state else ()
    if not parts:
        return dict.fromkeys(fallback, check_state is not None and check_state.fresh
                             and check_state.ok)
    if check_state is None or not check_state.fresh:
        return {part.label: False for part in parts}
    return {part.label: part.ok for part in parts}


def celery_ok(check_state: state.CheckState | None) -> dict[str, bool]:
    """{worker: answered}: STATUS_CELERY_WORKERS when set, else the workers that answered."""
    expected = list(conf.get().celery_workers)
    if check_state is None or check_state.result is None or not check_state.fresh:
        return dict.fromkeys(expected, False)
    answered = check_state.result.workers
    missing = set(check_state.result.missing_workers)
    if expected:
        return {w: w not in missing and bool(answered) for w in expected}
    return dict.fromkeys(answered, True)


def health_value(kind: str, health: state.Health) -> Any:
    """A health built-in's value (``ping``, ``databases``, ``caches``, ``celery``)."""
    if kind == "ping":
        return {"pong": True}
    check_state = health.by_name().get(CHECK_OF_PROVIDER[kind])
    if kind == "celery":
        return celery_ok(check_state)
    return aliases_ok(check_state, list(getattr(settings, kind.upper(), {}) or {}))


def stored_value(provider: stats_store.Provider, data: dict[str, Any]) -> Any:
    """A stats or custom provider's value from the gathered stats; raises NotGathered."""
    if provider.builtin:
        stored = (data.get("builtin") or {}).get(provider.builtin[1])
    else:
        stored = ((data.get("providers") or {}).get(provider.resource) or {}).get(provider.name)
    if stored is None:
        raise NotGathered(f"{provider.resource}/{provider.name}")
    return stored["value"] if "value" in stored else {"error": stored.get("error")}
