"""Checks written the way the peers' test suites write them, for the ported tests."""

from __future__ import annotations

from django.core import checks


# A DOCKERFLOW_CHECKS entry: Django's system-check signature, one message each.
def error(app_configs, **kwargs):
    return [checks.Error("some error", id="tests.checks.E001")]


def warning(app_configs, **kwargs):
    return [checks.Warning("some warning", id="tests.checks.W001")]


class FakeException(Exception):
    """The exception django-watchman's decorator tests raise from a check."""


# A WATCHMAN_CHECKS entry that raises.
def raising_check(request):
    raise FakeException("test error")
