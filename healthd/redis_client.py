"""Redis clients made lazily in each process, after fork.

The reading client (views) has retries off and short timeouts: redis-py's default
retry policy turns one failed read into seconds of waiting. The writing client
(workers) keeps short retries: a worker would rather wait a little than lose a result.
Under ASGI the views read with redis-py's asyncio client instead, made lazily in each
event loop (an asyncio connection belongs to the loop it was opened in), with the
reading client's timeouts and no retries.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.sentinel
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

from healthd import conf

_lock = threading.Lock()
_clients: dict[tuple, redis.Redis] = {}
_async_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple, redis.asyncio.Redis]] = weakref.WeakKeyDictionary()


class StoreNotConfigured(RuntimeError):
    """No Redis URL for the result store: set HEALTHD["REDIS_URL"] or REDIS_URL."""


SENTINEL_SCHEME = "redis+sentinel://"


def _sentinel_client(url: str, sentinel_class: type = redis.sentinel.Sentinel,
                     **options: Any) -> Any:
    """``redis+sentinel://[:password@]host:port[,host:port]/service[/db][?sentinel_password=]``.

    redis-py has no URL form for Sentinel; this is the one Celery and django-redis users
    know, so the master is found through the sentinels and followed on failover.
    """
    from urllib.parse import parse_qs, unquote, urlsplit

    parts = urlsplit(url.replace(SENTINEL_SCHEME, "redis://", 1))
    credentials, _, hosts = parts.netloc.rpartition("@")
    username, _, password = credentials.partition(":")
    nodes = []
    for node in hosts.split(","):
        nodes.append(_host_port(node))
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ValueError("a Sentinel URL names the service: redis+sentinel://host:26379/mymaster")
    service, db = path[0], int(path[1]) if len(path) > 1 else 0
    query = parse_qs(parts.query)
    # The sentinels get the same timeouts and retry policy as the master: redis-py's
    # default retries would turn frozen sentinels into a many-second wait per read.
    sentinel_kwargs = {"socket_timeout": options["socket_timeout"],
                       "socket_connect_timeout": options["socket_connect_timeout"],
                       "retry": options["retry"]}
    if "sentinel_password" in query:
        sentinel_kwargs["password"] = query["sentinel_password"][0]
    sentinel = sentinel_class(nodes, sentinel_kwargs=sentinel_kwargs)
    return sentinel.master_for(service, username=unquote(username) or None,
                               password=unquote(password) or None, db=db, **options)


def _host_port(node: str, default_port: int = 26379) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port``."""
    if node.startswith("["):
        host, _, rest = node[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    host, _, port = node.partition(":")
    return host, int(port) if port else default_port


def make_client(url: str, timeout: float, retries: int) -> redis.Redis:
    """A client for redis://, rediss:// (TLS), unix:// or redis+sentinel:// URLs."""
    retry = Retry(NoBackoff(), 0) if retries == 0 else Retry(ExponentialBackoff(0.5, 0.05), retries)
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": retry,
        "retry_on_timeout": retries > 0,
        "health_check_interval": 0,
        "decode_responses": True,
    }
    if url.startswith(SENTINEL_SCHEME):
        return _sentinel_client(url, **options)
    return redis.Redis.from_url(url, **options)


def make_async_client(url: str, timeout: float) -> redis.asyncio.Redis:
    """The asyncio twin of the reading client: the same URL forms, timeouts and no retries."""
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": redis.asyncio.retry.Retry(NoBackoff(), 0),
        "retry_on_timeout": False,
        "health_check_interval": 0,
        "decode_responses": True,
    }
    if url.startswith(SENTINEL_SCHEME):
        return _sentinel_client(url, redis.asyncio.sentinel.Sentinel, **options)
    return redis.asyncio.Redis.from_url(url, **options)


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


def writer() -> redis.Redis:
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
