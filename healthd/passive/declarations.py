"""Which passive checks there are, and what each one is: declared in ``HEALTHD["CHECKS"]``,
in code (``healthd.monitored``), by a watched beat row, or known from its last report.

A check's definition is kept in its bookkeeping hash (``<prefix>passive:<name>``, see
:mod:`healthd.passive.recording`), so a worker that has never imported the job's code
still knows how late it may be; the settings' declaration always wins.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from healthd import store
from healthd.checks import registry
from healthd.checks.base import Check
from healthd.checks.passive import (
    Passive,
    check_for,
    is_passive,
    make_passive,
    required_passive,
    valid_name,
)
from healthd.store import client as redis_client


def declared() -> dict[str, Check]:
    """The passive checks ``HEALTHD["CHECKS"]`` declares, by name."""
    return {c.name: c for c in registry.configured_checks() if is_passive(c)}


def definition_of(check: Check) -> str:
    """What a check's hash keeps of it: its :class:`Passive` and ``critical``, as JSON."""
    passive = required_passive(check)
    return json.dumps({**passive.as_details(), "critical": check.critical})


def check_from_hash(name: str, info: dict[str, str]) -> Check | None:
    """The check a hash describes: as the settings declare it, else as its last report did."""
    known = declared().get(name)
    if known is not None:
        return known
    try:
        data = json.loads(info.get("definition") or "null")
    except ValueError:
        return None
    passive = Passive.from_details(data)
    if passive is None or passive.source == "settings":
        return None  # a declaration since removed from the settings
    return check_for(name, passive, bool(data.get("critical", False)))


def resolve(check: Check) -> Check:
    """The settings' declaration of a check wins over what a decorator or row says."""
    return declared().get(check.name, check)


def source_of(definition: str | None) -> str | None:
    """Who declared a check, from the definition in its hash."""
    try:
        data = json.loads(definition or "null")
    except ValueError:
        return None
    return data.get("source") if isinstance(data, dict) else None


def known_names() -> set[str]:
    """Every passive check: declared in the settings, or known from its reports (one a
    declaration since removed from the settings is not)."""
    names = set(declared())
    client = redis_client.writer()
    layout = store.keys()
    reported = sorted(str(n) for n in client.smembers(layout.passive_names))
    pipe = client.pipeline(transaction=False)
    for name in reported:
        pipe.hget(layout.passive_check(name), "definition")
    for name, definition in zip(reported, pipe.execute(), strict=True):
        if source_of(definition) != "settings":
            names.add(name)
    return names


def check_named(name: str) -> Check | None:
    """A passive check by name, as declared or as last reported; None if unknown."""
    known = declared().get(name)
    if known is not None:
        return known
    info: dict[str, str] = redis_client.writer().hgetall(  # type: ignore[assignment]
        store.keys().passive_check(name))
    return check_from_hash(name, info) if info else None


def monitor(name: str, every: Any, grace: Any = None, critical: bool = False,
            slow_after: Any = None, source: str = "task") -> Check:
    """The check a job declares in code; ImproperlyConfigured when it is malformed."""
    if not isinstance(critical, bool):
        raise ImproperlyConfigured(f"critical must be True or False, not {critical!r}")
    return check_for(valid_name(name), make_passive(every, grace, slow_after, source=source),
                     critical)


def forget(name: str) -> bool:
    """Forget a passive check no longer wanted (its job is gone): its bookkeeping and its
    latest result. True when there was something to forget."""
    layout = store.keys()
    pipe = redis_client.writer().pipeline(transaction=True)
    pipe.delete(layout.passive_check(name))
    pipe.srem(layout.passive_names, name)
    pipe.hdel(layout.latest, name)
    removed = pipe.execute()
    return any(removed)
