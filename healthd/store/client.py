"""Redis clients made lazily in each process, after fork.

The reading client (views) has retries off and short timeouts: redis-py's default
retry policy turns one failed read into seconds of waiting. The writing client
(workers) keeps short retries: a worker would rather wait a little than lose a result.

``HEALTHD["REDIS_URL"]`` may name a single Redis (``redis://``, ``rediss://``,
``unix://``), a master found through Sentinel (``redis+sentinel://``) or a Redis
Cluster (``redis+cluster://`` or ``rediss+cluster://``, see :func:`cluster_nodes`).

Under ASGI the views read with redis-py's asyncio client instead, made lazily in each
event loop (an asyncio connection belongs to the loop it was opened in), with the
reading client's timeouts and no retries.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.sentinel

from healthd import conf
from healthd.util.redis_connect import Client, make_async_client, make_client

_lock = threading.Lock()
_clients: dict[tuple, Client] = {}
_async_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple, redis.asyncio.Redis]] = weakref.WeakKeyDictionary()


class StoreNotConfigured(RuntimeError):
    """No Redis URL for the result store: set HEALTHD["REDIS_URL"] or REDIS_URL."""


def _client(kind: str, timeout: float, retries: int) -> Client:
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


def reader() -> Client:
    """The client the views use: no retries, the configured short timeout."""
    return _client("reader", conf.get().redis_timeout, 0)


def async_reader() -> redis.asyncio.Redis:
    """The reading client for the running event loop, made the first time it asks."""
    config = conf.get()
    if not config.redis_url:
        raise StoreNotConfigured("no Redis URL: set HEALTHD['REDIS_URL'] or REDIS_URL")
    loop = asyncio.get_running_loop()
    clients = _async_clients.get(loop)
    if clients is None:
        clients = _async_clients.setdefault(loop, {})
    key = (os.getpid(), config.redis_url, config.redis_timeout)
    client = clients.get(key)
    if client is None:
        client = clients[key] = make_async_client(config.redis_url, config.redis_timeout)
    return client


def writer() -> Client:
    """The client the workers use: a few quick retries, a few seconds of timeout."""
    return _client("writer", max(2.0, conf.get().redis_timeout), 2)


def forget_clients() -> None:
    """Drop every client (tests that move the store, and after fork)."""
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
        # An asyncio client can only be closed from its own loop: dropped, its connections
        # close when it is collected.
        _async_clients.clear()
