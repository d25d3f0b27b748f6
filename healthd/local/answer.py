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
    names every local check evaluated, in order.
    """

    ready: bool
    draining: bool
    failures: Mapping[str, str] = field(default_factory=dict)
    checked_at: float = 0.0
    checks: tuple[str, ...] = ()
