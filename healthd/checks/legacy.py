"""The replaced packages' checks: their dotted paths, their message ids, and their call
signatures adapted.

dockerflow's checks have Django's system-check signature; watchman's take a request and
return a dict. Both run on the schedule here, where there is no request. The built-ins
that stand for dockerflow's checks (database, migrations, redis) report their failures
under dockerflow's message ids, so the heartbeat's details read as dockerflow's did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.core.checks import ERROR, WARNING
from django.core.exceptions import ImproperlyConfigured

from healthd.checks.base import Observation, Status
from healthd.util.logs import get_logger
from healthd.util.redact import redact

logger = get_logger("healthd.checks.dockerflow")
# The logger watchman's checks logged on, which a site's LOGGING may route.
watchman_logger = get_logger("watchman")

# The replaced packages' dotted paths, so their settings carry over unchanged.
LEGACY_PATHS: dict[str, str] = {
    "dockerflow.django.checks.check_database_connected": "database",
    "dockerflow.django.checks.check_migrations_applied": "migrations",
    "dockerflow.django.checks.check_redis_connected": "redis",
    "watchman.checks.databases": "database",
    "watchman.checks.caches": "cache",
    "watchman.checks.email": "email",
    "watchman.checks.storage": "storage",
}


# dockerflow.health's message ids, for what healthd's built-ins find.
INFO_CANT_CHECK_MIGRATIONS = "dockerflow.health.I001"
WARNING_UNAPPLIED_MIGRATION = "dockerflow.health.W001"
ERROR_CANNOT_CONNECT_DATABASE = "dockerflow.health.E001"
ERROR_UNUSABLE_DATABASE = "dockerflow.health.E002"
ERROR_MISCONFIGURED_DATABASE = "dockerflow.health.E003"
ERROR_CANNOT_CONNECT_REDIS = "dockerflow.health.E004"
ERROR_MISSING_REDIS_CLIENT = "dockerflow.health.E005"
ERROR_MISCONFIGURED_REDIS = "dockerflow.health.E006"
ERROR_REDIS_PING_FAILED = "dockerflow.health.E007"


# dockerflow's texts for those ids ({error}: the exception's message).
TEXTS = {
    ERROR_CANNOT_CONNECT_DATABASE: "Could not connect to database: {error}",
    ERROR_UNUSABLE_DATABASE: "Database connection is not usable",
    ERROR_MISCONFIGURED_DATABASE: 'Database misconfigured: "{error}"',
    ERROR_CANNOT_CONNECT_REDIS: "Could not connect to redis: {error}",
    ERROR_MISSING_REDIS_CLIENT: "Redis client not available: {error}",
    ERROR_MISCONFIGURED_REDIS: 'Redis misconfigured: "{error}"',
    ERROR_REDIS_PING_FAILED: "Redis ping failed",
}


def message_text(message_id: str, exc: BaseException) -> str:
    """dockerflow's text for a message id, the exception's message in it (redacted)."""
    template = TEXTS.get(message_id)
    if template is None:
        return redact(f"{type(exc).__name__}: {exc}")
    return template.format(error=redact(exc))


class UnusableDatabase(Exception):
    """The connection answered, yet reports itself unusable (``is_usable()`` is false)."""


class RedisPingFailed(Exception):
    """PING answered, and not with PONG."""


def database_message_id(exc: BaseException) -> str:
    """dockerflow's id for a database alias that failed this way."""
    if isinstance(exc, UnusableDatabase):
        return ERROR_UNUSABLE_DATABASE
    if isinstance(exc, ImproperlyConfigured):
        return ERROR_MISCONFIGURED_DATABASE
    return ERROR_CANNOT_CONNECT_DATABASE


def redis_message_id(exc: BaseException) -> str:
    """dockerflow's id for a Redis that failed this way."""
    if isinstance(exc, RedisPingFailed):
        return ERROR_REDIS_PING_FAILED
    if isinstance(exc, NotImplementedError):
        return ERROR_MISSING_REDIS_CLIENT
    if isinstance(exc, ImproperlyConfigured):
        return ERROR_MISCONFIGURED_REDIS
    return ERROR_CANNOT_CONNECT_REDIS  # a connection error, a timeout, a refused login


@dataclass(frozen=True)
class DockerflowCheck:
    """A DOCKERFLOW_CHECKS function: ERROR and above fails, WARNING warns; a message
    SILENCED_SYSTEM_CHECKS names is left out, as dockerflow's heartbeat left it out."""

    func: Callable[..., Any]

    def run(self) -> Observation:
        """Call it as Django's system checks would (no app configs), and grade its messages.

        Each message is logged at its level on every run, as dockerflow logged it each
        time it ran the checks."""
        messages = [m for m in self.func(None) or [] if not m.is_silenced()]
        for message in messages:
            logger.log(message.level, "%s: %s", message.id or message.level, message.msg)
        worst = max((m.level for m in messages), default=0)
        text = "; ".join(f"{m.id or m.level}: {m.msg}" for m in messages) or "ok"
        details = {"messages": {str(m.id or m.level): str(m.msg) for m in messages},
                   "level": worst}
        if worst >= ERROR:
            return Observation(text, Status.FAILING, details=details)
        if worst >= WARNING:
            return Observation(text, Status.WARNING, details=details)
        return Observation(text, details=details)


def _oks(value: Any) -> Iterable[bool]:
    """Every ``ok`` flag in a watchman answer, however deeply nested."""
    if isinstance(value, dict):
        if "ok" in value:
            yield bool(value["ok"])
        for inner in value.values():
            yield from _oks(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _oks(inner)


@dataclass(frozen=True)
class WatchmanCheck:
    """A WATCHMAN_CHECKS function, run on the schedule with no request."""

    func: Callable[..., Any]

    def run(self) -> Observation:
        """Pass when every ``ok`` in its answer is true; the answer goes in the details.

        Logged on the ``watchman`` logger as watchman's ``check`` decorator logged it."""
        name = getattr(self.func, "__name__", repr(self.func))
        watchman_logger.debug("Checking '%s'", name)
        try:
            data = self.func(None) or {}
        except Exception as exc:  # broad: a site's watchman check; logged as watchman did
            watchman_logger.error("Error calling '%s': %s", name, redact(exc))
            raise
        ok = all(_oks(data))
        return Observation("ok" if ok else "not ok", Status.PASSING if ok else Status.FAILING,
                           details={"watchman": data})
