"""Redis URLs as Celery spells them and as redis-py does.

kombu names a Redis unix socket ``redis+socket://``, redis-py ``unix://``; TCP URLs
(``redis://``, ``rediss://``) read the same to both. Imports nothing of healthd, so
settings modules can use it before Django is set up.
"""

from __future__ import annotations

CELERY_SOCKET = "redis+socket://"
REDIS_SOCKET = "unix://"
REDIS_TCP = ("redis://", "rediss://")


def celery_broker_url(redis_url: str) -> str:
    """The broker URL Celery needs to reach the Redis at ``redis_url``."""
    if redis_url.startswith(REDIS_SOCKET):
        return CELERY_SOCKET + redis_url[len(REDIS_SOCKET) :]
    return redis_url


def redis_url_of_broker(broker_url: str | None) -> str | None:
    """The redis-py URL of a Celery broker URL, or None when the broker is not Redis."""
    if not broker_url:
        return None
    if broker_url.startswith(REDIS_TCP):
        return broker_url
    if broker_url.startswith(CELERY_SOCKET):
        return REDIS_SOCKET + broker_url[len(CELERY_SOCKET) :]
    return None
