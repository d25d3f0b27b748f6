"""This process's own verdict: its local checks and whether it is draining."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from healthd.local import draining


@dataclass(frozen=True)
class LocalVerdict:
    """What ``/readyz`` and the published instance state say about this process.

    ``failures`` maps each failing local check to its (redacted) message.
    """

    ready: bool
    draining: bool
    failures: Mapping[str, str] = field(default_factory=dict)
    checked_at: float = 0.0


def current() -> LocalVerdict:
    """This process's verdict now (the local checks' cached answers and the drain flag)."""
    is_draining = draining.is_draining()
    return LocalVerdict(ready=not is_draining, draining=is_draining, checked_at=time.time())
