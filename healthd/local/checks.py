"""The checks each web process runs itself (``HEALTHD["LOCAL_CHECKS"]``), built from the
same entry forms as the scheduled ones (:func:`healthd.checks.registry.build_check`).

Built-ins, the default list: ``connection`` (this process reaches its databases: a
``SELECT 1`` per alias), ``disk`` (free space where the site writes) and ``memory``
(the process's cgroup against its limit). A site's own check is a dotted path to a
function or a class with ``run()``, as in ``HEALTHD["CHECKS"]``.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from healthd import conf
from healthd.checks import registry
from healthd.checks.base import Check
from healthd.checks.database import Database
from healthd.checks.disk import Disk
from healthd.checks.memory import Memory
from healthd.conf import per_process

BUILTINS: Mapping[str, type] = {"connection": Database, "disk": Disk, "memory": Memory}
# A local check answers a probe: unless its entry says otherwise it gets the kubelet's
# default probe timeout (timeoutSeconds: 1), so a hang still fails the probe in time.
DEFAULT_TIMEOUT = 1.0


def default_names() -> list[str]:
    """Every built-in that applies: ``connection`` only when the site has a database."""
    return [*(["connection"] if settings.DATABASES else []), "disk", "memory"]


def _entries() -> list[object]:
    entries = conf.get().local_checks
    if entries is None:
        return list(default_names())
    if isinstance(entries, str) or not isinstance(entries, list | tuple):
        raise ImproperlyConfigured("must be a list")
    return list(entries)


def _build(entry: object) -> Check:
    if isinstance(entry, dict) and ("passive" in entry or "readiness" in entry):
        raise ImproperlyConfigured(
            f"a local check takes neither 'passive' nor 'readiness': {entry!r}")
    return registry.build_check(entry, builtins=BUILTINS, default_timeout=DEFAULT_TIMEOUT)


@per_process.memoised
def configured() -> tuple[Check, ...]:
    """The local checks by the settings in force (built once, until a setting changes);
    raises ImproperlyConfigured."""
    checks: dict[str, Check] = {}
    for entry in _entries():
        check = _build(entry)
        if check.name in checks:
            raise ImproperlyConfigured(f"local check name {check.name!r} is configured twice")
        checks[check.name] = check
    return tuple(checks.values())


def problems() -> list[str]:
    """Every problem of ``HEALTHD["LOCAL_CHECKS"]``, for the system check."""
    try:
        entries = _entries()
    except ImproperlyConfigured as exc:
        return [str(exc)]
    found: list[str] = []
    names: set[str] = set()
    for entry in entries:
        try:
            check = _build(entry)
        except ImproperlyConfigured as exc:
            found.append(str(exc))
            continue
        if check.name in names:
            found.append(f"local check name {check.name!r} is configured twice")
        names.add(check.name)
    return found
