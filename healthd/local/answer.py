"""What one web process says of itself (its own module so that :mod:`healthd.local.verdict`,
which works it out, and :mod:`healthd.local.instances`, which publishes it, can both
name it without importing each other first)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LocalVerdict:
    """What ``/readyz`` and the published instance state say about this process.

    ``failures`` maps each failing local check to its (redacted) message; ``checks``
    names every local check evaluated, in order. ``shared`` maps those of the failures
    that most live pods share to a line such as "failing on 3 of 4 pods": they are
    published and shown but do not make ``ready`` false (:mod:`healthd.local.shared`).
    """

    ready: bool
    draining: bool
    failures: Mapping[str, str] = field(default_factory=dict)
    checked_at: float = 0.0
    checks: tuple[str, ...] = ()
    shared: Mapping[str, str] = field(default_factory=dict)
