"""``database``: one round trip to every alias in DATABASES, with its latency."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from django.db import connections

from healthd.checks.base import Observation, Status
from healthd.redact import redact


def make(aliases: Sequence[str] | None = None) -> Callable[[], Observation]:
    def check_databases() -> Observation:
        details: dict[str, dict] = {}
        worst = 0.0
        for alias in aliases or list(connections):
            started = time.perf_counter()
            try:
                with connections[alias].cursor() as cursor:
                    cursor.execute("SELECT 1")
                    cursor.fetchone()
            except Exception as exc:
                details[alias] = {"ok": False, "error": redact(f"{type(exc).__name__}: {exc}")}
                continue
            latency = (time.perf_counter() - started) * 1000
            worst = max(worst, latency)
            details[alias] = {"ok": True, "latency_ms": round(latency, 2)}
        failed = [a for a, d in details.items() if not d["ok"]]
        if failed:
            message = "; ".join(f"{a}: {details[a]['error']}" for a in failed)
            return Observation(message, Status.FAILING, details=details)
        return Observation(
            f"{len(details)} database(s) answered",
            value=round(worst, 2), unit="ms", details=details,
        )

    return check_databases
