"""What a check depends on: declared in HEALTHD["CHECKS"] or by a built-in, refused at
start-up when it names no check or makes a cycle, and used by the record script to hold
back a dependent's news while its dependency fails, then tell it once."""

from __future__ import annotations

import json
import time

import pytest
from django.core import checks as django_checks

from healthd import store
from healthd.checks import registry
from healthd.checks.base import Check, Result, Status
from healthd.store import client as redis_client

FLAG = "tests.site.faultchecks.Flagged"


def _by_name() -> dict[str, tuple[str, ...]]:
    return {c.name: c.depends_on for c in registry.configured_checks()}


def _errors() -> list[str]:
    return [m.msg for m in django_checks.run_checks(tags=["healthd"])]


def test_built_ins_declare_what_they_depend_on(settings):
    settings.CACHES = {**settings.CACHES, "db": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "t"}}
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": [
        "database", "migrations", "redis", "celery",
        {"check": "cache", "name": "db-cache", "aliases": ["db"]},
        {"check": "cache", "name": "locmem", "aliases": ["default"]},
        {"check": FLAG, "name": "site", "flag": "site", "depends_on": ["database"]},
    ]}
    assert _by_name() == {
        "database": (), "migrations": ("database",), "redis": (),
        "celery": ("redis",),  # the tests' broker is a Redis, which the redis check PINGs
        "db-cache": ("database",), "locmem": (), "site": ("database",)}
    assert _errors() == []


def test_a_built_in_whose_dependency_is_not_configured_depends_on_nothing(settings):
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": ["migrations", "celery"]}
    assert _by_name() == {"migrations": (), "celery": ()}
    assert _errors() == []


@pytest.mark.parametrize(("entries", "expected"), [
    ([{"check": FLAG, "name": "a", "flag": "a", "depends_on": ["nothere"]}],
     "HEALTHD[\"CHECKS\"]: check 'a' depends on 'nothere', which is not a configured check"),
    ([{"check": FLAG, "name": "a", "flag": "a", "depends_on": ["b"]},
      {"check": FLAG, "name": "b", "flag": "b", "depends_on": ["c"]},
      {"check": FLAG, "name": "c", "flag": "c", "depends_on": ["a"]}],
     "HEALTHD[\"CHECKS\"]: depends_on makes a cycle: "),
    ([{"check": "database", "depends_on": ["database"]}], "depends_on makes a cycle"),
    ([{"check": "database", "depends_on": 3}], "depends_on must be a list of check names"),
])
def test_an_unknown_dependency_or_a_cycle_is_a_system_check_error(settings, entries,
                                                                  expected):
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": entries}
    errors = _errors()
    assert any(expected in e for e in errors), errors


# --- the record script ------------------------------------------------------------------

CHECKS = [Check("db", lambda: None), Check("other", lambda: None),
          Check("migrations", lambda: None, depends_on=("db",)),
          Check("cache", lambda: None, depends_on=("db",))]


def _run(statuses: dict[str, Status], at: float) -> None:
    # The dependents first: the store records them after what they depend on.
    store.record_run([Result(name, status, f"{name} {status}", at, 0.01)
                      for name, status in reversed(statuses.items())], CHECKS)


def _told() -> list[tuple[str, str, str, str, str]]:
    """The outbox's entries: (check, previous, status, silenced, suppressed_by)."""
    entries = redis_client.writer().xrange(store.keys().outbox)
    return [(f["check"], f["previous"], f["status"], f["silenced"], f["suppressed_by"])
            for _, f in entries]


def test_a_dependent_is_held_back_while_its_dependency_fails_then_told_once():
    now = time.time()
    everyone = ("db", "other", "migrations", "cache")
    _run(dict.fromkeys(everyone, Status.PASSING), now - 10)
    assert _told() == []

    _run({"db": Status.FAILING, "other": Status.PASSING, "migrations": Status.FAILING,
          "cache": Status.FAILING}, now - 9)
    assert _told() == [("db", "passing", "failing", "0", ""),
                       ("migrations", "passing", "failing", "0", "db"),
                       ("cache", "passing", "failing", "0", "db")]
    latest = json.loads(redis_client.writer().hget(store.keys().latest, "cache"))
    assert (latest["state"], latest["suppressed_by"]) == ("failing", "db")

    # The database is back; migrations with it, the cache still failing: told now, once.
    _run({"db": Status.PASSING, "other": Status.PASSING, "migrations": Status.PASSING,
          "cache": Status.FAILING}, now - 8)
    assert _told()[3:] == [("db", "failing", "passing", "0", ""),
                           ("migrations", "failing", "passing", "0", "db"),
                           ("cache", "passing", "failing", "0", "")]
    _run({"db": Status.PASSING, "other": Status.PASSING, "migrations": Status.PASSING,
          "cache": Status.FAILING}, now - 7)
    assert len(_told()) == 6

    # Failing on its own: told at once, as any check.
    _run({"db": Status.PASSING, "other": Status.PASSING, "migrations": Status.FAILING,
          "cache": Status.FAILING}, now - 6)
    assert _told()[6:] == [("migrations", "passing", "failing", "0", "")]


def test_a_dependent_already_failing_and_told_is_not_told_again_when_its_dependency_ends():
    now = time.time()
    _run({"db": Status.PASSING, "cache": Status.PASSING}, now - 10)
    _run({"db": Status.PASSING, "cache": Status.FAILING}, now - 9)
    _run({"db": Status.FAILING, "cache": Status.FAILING}, now - 8)
    _run({"db": Status.PASSING, "cache": Status.FAILING}, now - 7)
    assert _told() == [("cache", "passing", "failing", "0", ""),
                       ("db", "passing", "failing", "0", ""),
                       ("db", "failing", "passing", "0", "")]
