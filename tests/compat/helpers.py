"""Setup the ported tests share: results recorded as a worker would record them."""

from __future__ import annotations

from healthd import store
from healthd.checks import registry, runner
from healthd.store import health as state
from healthd.tasks.run import run_and_record


def run_here(name: str) -> None:
    """Run one configured check in this thread (so a test's patch applies) and store it."""
    checks = list(registry.configured_checks())
    check = next(c for c in checks if c.name == name)
    store.record([runner.run_one(check)], checks)
    state.forget()


def run_now(*names: str) -> None:
    """Run these checks as a scheduled run does (a pool, Redis, the history)."""
    run_and_record(list(names))
    state.forget()


def check_names() -> list[str]:
    return [c.name for c in registry.configured_checks()]
