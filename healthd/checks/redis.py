"""``redis``: PING every Redis the site uses, with latency."""

from __future__ import annotations

from collections.abc import Callable

from healthd.broker import redis_url_of_broker
from healthd.checks.base import Observation, Status
from healthd.checks.probe import probe_each
from healthd.redact import safe_url


def redis_urls() -> dict[str, str]:
    """Every Redis the site uses, by a label: the store, the broker, the Redis caches."""
    from django.conf import settings

    from healthd import conf

    urls: dict[str, str] = {}
    if conf.get().redis_url:
        urls["store"] = conf.get().redis_url
    broker = redis_url_of_broker(getattr(settings, "CELERY_BROKER_URL", None))
    if broker:
        urls["broker"] = broker
    for alias, cache in getattr(settings, "CACHES", {}).items():
        if "redis" in cache.get("BACKEND", "").lower():
            location = cache.get("LOCATION")
            locations = location if isinstance(location, list | tuple) else [location]
            for index, loc in enumerate(loc for loc in locations if loc):
                label = f"cache:{alias}" if len(locations) == 1 else f"cache:{alias}:{index}"
                urls[label] = loc
    return urls


def _ping(url: str, timeout: float) -> None:
    from healthd.redis_client import make_client

    client = make_client(url, timeout, 0)
    try:
        client.ping()
    finally:
        client.close()


def make(timeout: float = 2.0) -> Callable[[], Observation]:
    def check_redis() -> Observation:
        targets: dict[str, str] = {}
        for label, url in redis_urls().items():
            if url not in targets.values():  # the store is often the broker too
                targets[label] = url
        if not targets:
            return Observation("no Redis configured", Status.WARNING)
        return probe_each(
            ((label, lambda u=url: _ping(u, timeout)) for label, url in targets.items()),
            "Redis server(s) answered PING",
            extra={label: {"url": safe_url(url)} for label, url in targets.items()},
        )

    return check_redis
