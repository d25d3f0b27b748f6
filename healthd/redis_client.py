"""Redis clients made lazily in each process, after fork.

The reading client (views) has retries off and short timeouts: redis-py's default
retry policy turns one failed read into seconds of waiting. The writing client
(workers) keeps short retries: a worker would rather wait a little than lose a result.
"""

from __future__ import annotations

import os
import threading

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

from healthd import conf

_lock = threading.Lock()
_clients: dict[tuple, redis.Redis] = {}


class StoreNotConfigured(RuntimeError):
    """No Redis URL for the result store: set HEALTHD["REDIS_URL"] or REDIS_URL."""


def make_client(url: str, timeout: float, retries: int) -> redis.Redis:
    retry = Retry(NoBackoff(), 0) if retries == 0 else Retry(ExponentialBackoff(0.5, 0.05), retries)
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=retry,
        retry_on_timeout=retries > 0,
        health_check_interval=0,
        decode_responses=True,
    )


def _client(kind: str, timeout: float, retries: int) -> redis.Redis:
    url = conf.get().redis_url
    if not url:
        raise StoreNotConfigured("no Redis URL: set HEALTHD['REDIS_URL'] or REDIS_URL")
    key = (kind, os.getpid(), url, timeout)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = make_client(url, timeout, retries)
                _clients[key] = client
    return client


def reader() -> redis.Redis:
    """The client the views use: no retries, the configured short timeout."""
    return _client("reader", conf.get().redis_timeout, 0)


def writer() -> redis.Redis:
    """The client the workers use: a few quick retries, a few seconds of timeout."""
    return _client("writer", max(2.0, conf.get().redis_timeout), 2)


def forget_clients() -> None:
    """Drop every client (tests that move the store, and after fork)."""
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
