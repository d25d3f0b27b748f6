"""Checks and signal counters for the fault suite, steered through the tests' main Redis
(not the result store, which the suite kills)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis
from django.conf import settings


def _flags() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)


def flag_key(name: str) -> str:
    return f"{settings.KEY_PREFIX}fault-flag:{name}"


def signals_key() -> str:
    return f"{settings.KEY_PREFIX}fault-signals"


def flappy() -> str:
    """Fails while the test sets its flag to "fail"."""
    if _flags().get(flag_key("flappy")) == b"fail":
        raise RuntimeError("flappy was told to fail")
    return "flappy is fine"


def hanging() -> str:
    """Hangs (past its timeout) while the test sets its flag."""
    if _flags().get(flag_key("hanging")):
        time.sleep(30)
    return "not hanging"


def count_signals() -> None:
    """In a worker: record every transition signal in the main Redis, for the test to read."""
    from healthd import signals

    def recorder(kind):
        def receive(sender, check, previous, result, **kwargs):
            _flags().rpush(signals_key(), f"{kind}:{check}:{previous}->{result.status}")
        return receive

    for kind in ("failed", "recovered", "changed"):
        getattr(signals, f"check_{kind}").connect(recorder(kind), weak=False)


@dataclass(frozen=True)
class Flagged:
    """A check (``{"check": "tests.site.faultchecks.Flagged", "flag": "db"}``) that fails
    while the test sets its flag to "fail"."""

    flag: str

    def run(self) -> str:
        if _flags().get(flag_key(self.flag)) == b"fail":
            raise RuntimeError(f"{self.flag} was told to fail")
        return f"{self.flag} is fine"
