"""What the tests share: writing results into the real store, counting Redis commands, a
check a test turns failing and passing."""

from __future__ import annotations

import time

import redis.asyncio

from healthd import store
from healthd.checks import registry
from healthd.checks.base import Result, Status
from healthd.store import client as redis_client
from healthd.store import health as state

STORE_DOWN = "redis://127.0.0.1:1/0"


class CommandCounter:
    """Counts the commands the views' real Redis clients send: the reading client, and
    the asyncio clients views served under ASGI read with."""

    def __init__(self, monkeypatch):
        self.count = 0
        client = redis_client.reader()
        original = client.execute_command
        original_async = redis.asyncio.Redis.execute_command

        def counting(*args, **kwargs):
            self.count += 1
            return original(*args, **kwargs)

        async def counting_async(async_client, *args, **kwargs):
            self.count += 1
            return await original_async(async_client, *args, **kwargs)

        monkeypatch.setattr(client, "execute_command", counting)
        monkeypatch.setattr(redis.asyncio.Redis, "execute_command", counting_async)


def write_result(name: str, status: Status, age: float = 0.0, message: str | None = None,
                 details: dict | None = None, value: float | None = None,
                 unit: str | None = None) -> None:
    """Store one result of a configured check, ``age`` seconds old, as a worker would."""
    result = Result(name, status, message or f"{name} is {status}", time.time() - age, 0.01,
                    value=value, unit=unit, details=details or {})
    store.record([result], list(registry.configured_checks()))
    state.forget()


def write_all(status: Status = Status.PASSING, but: str = "", age: float = 0.0) -> None:
    """Store a result for every configured check (but one, if named)."""
    for check in registry.configured_checks():
        if check.name != but:
            write_result(check.name, status, age)


def only(settings, *checks, **extra) -> None:
    """Configure just these checks (and any other HEALTHD keys)."""
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": list(checks), **extra}
    state.forget()


def store_down(settings) -> None:
    """Point the store at a closed port."""
    settings.HEALTHD = {**settings.HEALTHD, "REDIS_URL": STORE_DOWN}
    state.forget()


# tests.support.results.toggled fails while TOGGLED["fail"] is set (see the toggled_check fixture).
TOGGLED = {"fail": False}


def toggled() -> str:
    if TOGGLED["fail"]:
        raise RuntimeError("service at postgres://app:pa55word@db/x refused")
    return "fine"
