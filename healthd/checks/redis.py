"""``redis``: PING every Redis the site uses, with latency."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.conf import settings

from healthd import conf
from healthd.checks.base import Observation, Status
from healthd.checks.legacy import RedisPingFailed, redis_message_id
from healthd.checks.probe import probe_each
from healthd.util.redact import safe_url
from healthd.util.redis_connect import make_client
from healthd.util.redis_urls import redis_url_of_broker


def redis_urls() -> dict[str, str]:
    """Every Redis the site uses, by a label: the store, the broker, the Redis caches."""
    urls: dict[str, str] = {}
    store_url = conf.get().redis_url
    if store_url:
        urls["store"] = store_url
    broker = redis_url_of_broker(conf.get().celery_broker_url)
    if broker:
        urls["broker"] = broker
    for alias, cache in settings.CACHES.items():
        if "redis" in cache.get("BACKEND", "").lower():
            location = cache.get("LOCATION")
            locations = location if isinstance(location, list | tuple) else [location]
            for index, loc in enumerate(loc for loc in locations if loc):
                label = f"cache:{alias}" if len(locations) == 1 else f"cache:{alias}:{index}"
                urls[label] = loc
    return urls


def _ping(url: str, timeout: float) -> None:
    client = make_client(url, timeout, 0)
    try:
        if not client.ping():
            raise RedisPingFailed("PING was not answered with PONG")
    finally:
        client.close()


def _labelled(
    urls: Mapping[str, str] | Iterable[str | tuple[str, str]] | str,
) -> tuple[tuple[str, str], ...]:
    """Named URLs keep their labels; bare URLs are labelled by themselves, password masked."""
    if isinstance(urls, str):
        urls = [urls]
    if isinstance(urls, Mapping):
        urls = urls.items()
    return tuple(
        (str(item[0]), item[1]) if isinstance(item, tuple) else (safe_url(item), item)
        for item in urls
    )


@dataclass(frozen=True)
class Redis:
    """PING each Redis; no ``urls`` means every Redis the settings name, found at run time.

    ``urls`` is a mapping of label to URL, or a list of URLs. URLs may carry a password, so
    they stay out of the repr.
    """

    urls: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    timeout: float = 2.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "urls", _labelled(self.urls))

    def run(self) -> Observation:
        """Pass with the slowest PING; fail naming every Redis that did not answer."""
        targets: dict[str, str] = {}
        for label, url in self.urls or tuple(redis_urls().items()):
            if url not in targets.values():  # the store is often the broker too
                targets[label] = url
        if not targets:
            return Observation("no Redis configured", Status.WARNING)
        return probe_each(
            ((label, functools.partial(_ping, url, self.timeout))
             for label, url in targets.items()),
            "Redis server(s) answered PING",
            extra={label: {"url": safe_url(url)} for label, url in targets.items()},
            message_id=redis_message_id,
        )
