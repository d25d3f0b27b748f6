"""watchman's error texts: the exception's message alone, and never a stack trace.

watchman's ``check`` decorator answered ``{"ok": false, "error": "test error"}`` for a
check raising ``FakeException("test error")``, whole or for one alias: alert rules match
that text. healthd's own views (``/healthz``) still name the class; the watchman dialect
does not.
"""

from __future__ import annotations

import json
from unittest.mock import MagicMock

import pytest

from healthd.checks import database as database_check
from tests.compat.helpers import run_here
from tests.compat.peer_checks import FakeException
from tests.support.results import write_all

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def token(settings):
    settings.WATCHMAN_TOKEN = "foo"
    settings.WATCHMAN_TOKENS = None
    write_all()


def _status(client) -> dict:
    response = client.get("/watchman/", {"watchman-token": "foo"})
    return json.loads(response.content.decode())


def test_a_raising_custom_check_reads_as_its_message(client, settings):
    settings.WATCHMAN_CHECKS = ["tests.compat.peer_checks.raising_check"]
    run_here("raising_check")
    shown = _status(client)["raising_check"]
    assert shown == {"ok": False, "error": "test error"}


def test_a_raising_alias_reads_as_its_message(client, monkeypatch):
    broken = MagicMock()
    broken["default"].cursor.side_effect = FakeException("test error")
    monkeypatch.setattr(database_check, "connections", broken)
    run_here("database")
    [part] = _status(client)["databases"]
    assert part == {"default": {"ok": False, "error": "test error"}}


def test_healthds_own_view_still_names_the_class(client, settings, monkeypatch):
    broken = MagicMock()
    broken["default"].cursor.side_effect = FakeException("test error")
    monkeypatch.setattr(database_check, "connections", broken)
    run_here("database")
    settings.DEBUG = True
    assert "FakeException: test error" in client.get("/healthz").content.decode()
