"""Redis clients from a URL: one Redis, a master found through Sentinel, or a Cluster.

redis-py has URL forms for a single Redis only; the Sentinel and Cluster forms here are
the ones Celery and django-redis users know (see :func:`cluster_nodes`). Written by hand
for that reason; everything else is redis-py's own.
"""

from __future__ import annotations

from typing import Any, TypeAlias
from urllib.parse import parse_qs, unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.sentinel
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

# What healthd talks to: one Redis (directly or through Sentinel) or a cluster. Every key
# healthd writes carries one hash tag (see healthd.store.keyspace.hash_tagged), so on a cluster
# all of them live on one master and each command, pipeline or script reaches that one.
Client: TypeAlias = redis.Redis | RedisCluster

SENTINEL_SCHEME = "redis+sentinel://"
CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")


def _sentinel_client(url: str, sentinel_class: type = redis.sentinel.Sentinel,
                     **options: Any) -> Any:
    """``redis+sentinel://[:password@]host:port[,host:port]/service[/db][?sentinel_password=]``.

    redis-py has no URL form for Sentinel; this is the one Celery and django-redis users
    know, so the master is found through the sentinels and followed on failover.
    """

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


def cluster_nodes(url: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """The startup nodes and connection options of a cluster URL:
    ``redis+cluster://[[user]:password@]host:port[,host:port…][?ssl_ca_certs=…]``, or
    ``rediss+cluster://`` for TLS. Any one node that answers is enough: the client
    learns the others (and follows a failover) from the cluster itself.

    Raises ValueError for a URL that names no node, or a database other than 0 (a
    cluster has only that one).
    """
    tls = url.startswith("rediss+cluster://")
    parts = urlsplit("redis://" + url.split("://", 1)[1])
    credentials, _, hosts = parts.netloc.rpartition("@")
    username, _, password = credentials.partition(":")
    nodes = [_host_port(node, 6379) for node in hosts.split(",") if node]
    if not nodes or not all(host for host, _ in nodes):
        raise ValueError("a cluster URL names its nodes: redis+cluster://host:6379,host:6380")
    if parts.path.strip("/") not in ("", "0"):
        raise ValueError("a Redis Cluster has only database 0")
    options: dict[str, Any] = {"username": unquote(username) or None,
                               "password": unquote(password) or None}
    if tls:
        options["ssl"] = True
        for name, values in parse_qs(parts.query).items():
            if name in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs"):
                options[name] = values[0]
    return nodes, options


def _cluster_client(url: str, retry: Retry, **options: Any) -> RedisCluster:
    nodes, extra = cluster_nodes(url)
    options.pop("retry_on_timeout", None)
    # The retry policy is the cluster client's own: it retries a command on another
    # connection after refreshing the slot map (a master died and its replica took over).
    return RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in nodes],
                        retry=retry, **extra, **options)


def make_client(url: str, timeout: float, retries: int) -> Client:
    """A client for redis://, rediss:// (TLS), unix://, redis+sentinel:// or
    redis+cluster:// (rediss+cluster://) URLs."""
    retry = Retry(NoBackoff(), 0) if retries == 0 else Retry(ExponentialBackoff(0.5, 0.05), retries)
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry_on_timeout": retries > 0,
        "health_check_interval": 0,
        "decode_responses": True,
    }
    if url.startswith(CLUSTER_SCHEMES):
        return _cluster_client(url, retry, **options)
    if url.startswith(SENTINEL_SCHEME):
        return _sentinel_client(url, retry=retry, **options)
    return redis.Redis.from_url(url, retry=retry, **options)


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
