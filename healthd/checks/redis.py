"""``redis``: PING every Redis the site uses, with latency."""

from __future__ import annotations

import time
from collections.abc import Callable

from healthd.checks.base import Observation, Status
from healthd.redact import redact, safe_url


def redis_urls() -> dict[str, str]:
    """Every Redis the site uses, by a label: the store, the broker, the Redis caches."""
    from django.conf import settings

    from healthd import conf

    urls: dict[str, str] = {}
    if conf.get().redis_url:
        urls["store"] = conf.get().redis_url
    broker = getattr(settings, "CELERY_BROKER_URL", None) or ""
    if broker.startswith(("redis://", "rediss://")):
        urls["broker"] = broker
    elif broker.startswith("redis+socket://"):
        urls["broker"] = "unix://" + broker[len("redis+socket://") :]
    for alias, cache in getattr(settings, "CACHES", {}).items():
        if "redis" in cache.get("BACKEND", "").lower():
            location = cache.get("LOCATION")
            locations = location if isinstance(location, list | tuple) else [location]
            for index, loc in enumerate(loc for loc in locations if loc):
                label = f"cache:{alias}" if len(locations) == 1 else f"cache:{alias}:{index}"
                urls[label] = loc
    return urls


def make(timeout: float = 2.0) -> Callable[[], Observation]:
    def check_redis() -> Observation:
        from healthd.redis_client import make_client

        details: dict[str, dict] = {}
        worst = 0.0
        seen: set[str] = set()
        for label, url in redis_urls().items():
            if url in seen:
                continue
            seen.add(url)
            client = make_client(url, timeout, 0)
            started = time.perf_counter()
            try:
                client.ping()
            except Exception as exc:
                details[label] = {
                    "ok": False,
                    "url": safe_url(url),
                    "error": redact(f"{type(exc).__name__}: {exc}"),
                }
                continue
            finally:
                client.close()
            latency = (time.perf_counter() - started) * 1000
            worst = max(worst, latency)
            details[label] = {"ok": True, "url": safe_url(url), "latency_ms": round(latency, 2)}
        if not details:
            return Observation("no Redis configured", Status.WARNING, details=details)
        failed = [label for label, d in details.items() if not d["ok"]]
        if failed:
            message = "; ".join(f"{label}: {details[label]['error']}" for label in failed)
            return Observation(message, Status.FAILING, details=details)
        return Observation(
            f"{len(details)} Redis server(s) answered PING",
            value=round(worst, 2),
            unit="ms",
            details=details,
        )

    return check_redis
