"""``cache``: set, get and delete a unique key in every alias of CACHES."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence

from django.core.cache import caches

from healthd.checks.base import Observation, Status
from healthd.redact import redact


def make(aliases: Sequence[str] | None = None) -> Callable[[], Observation]:
    def check_caches() -> Observation:
        from django.conf import settings

        details: dict[str, dict] = {}
        worst = 0.0
        for alias in aliases or list(settings.CACHES):
            key = f"healthd-check-{uuid.uuid4().hex}"
            value = uuid.uuid4().hex
            started = time.perf_counter()
            try:
                cache = caches[alias]
                cache.set(key, value, 30)
                got = cache.get(key)
                cache.delete(key)
                if got != value:
                    raise ValueError("value read back differs from the value written")
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
            f"{len(details)} cache(s) answered", value=round(worst, 2), unit="ms", details=details
        )

    return check_caches
