"""One settings object and one receiver: every setting healthd honours is read through
``healthd.conf`` with its default in one table, and every per-process cache is dropped by
``healthd.conf.per_process`` when a setting changes."""

from __future__ import annotations

import ast
import dataclasses
import functools
from pathlib import Path
from typing import Any

from django.conf import global_settings
from django.test import override_settings

from healthd import conf
from healthd.conf import per_process
from healthd.conf.defaults import DEFAULTS, PEER_DEFAULTS

HEALTHD = Path(__file__).resolve().parents[2] / "healthd"

# Settings of the site's own that healthd reads directly: the standalone site's (the
# `healthd run` daemon's state folder and embedded Redis) and a secret it masks.
SITE_SETTINGS = {"STATE_DIR", "REDIS_URL", "SENTRY_DSN"}
# Modules other engineers own, not moved to the attributes yet.
RAW_READERS_LEFT: set[str] = set()
OWN_RECEIVERS_LEFT: set[str] = set()


def _attributes() -> dict[str, Any]:
    settings = conf.get()
    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)
            if f.name != "raw"}


def _unlike(default: Any) -> Any:
    """A value no default is, that each attribute shows changed."""
    return False if default is True else "x-not-the-default"


def test_every_setting_in_the_table_reaches_the_settings_object(settings):
    """A setting in the table that the object does not carry would be honoured nowhere."""
    before = _attributes()
    unread = []
    for key, default in DEFAULTS.items():
        with override_settings(HEALTHD={**settings.HEALTHD, key: _unlike(default)}):
            if _attributes() == before:
                unread.append(key)
    for name, default in PEER_DEFAULTS.items():
        with override_settings(**{name: _unlike(default)}):
            if _attributes() == before:
                unread.append(name)
    assert unread == []
    assert _attributes() == before


def test_a_peer_setting_left_out_reads_as_its_default(settings):
    for name in ("WATCHMAN_CHECKS", "WATCHMAN_TOKEN_NAME", "DOCKERFLOW_VERSION_CALLBACK"):
        if hasattr(settings, name):
            delattr(settings, name)
    config = conf.get()
    assert config.watchman_checks is None  # watchman's own set, not an empty one
    assert config.token_name == PEER_DEFAULTS["WATCHMAN_TOKEN_NAME"] == "watchman-token"
    assert config.dockerflow_version_callback is None
    settings.WATCHMAN_CHECKS = []
    assert conf.get().watchman_checks == ()


def test_the_tokens_come_from_healthd_and_watchman(settings):
    settings.HEALTHD = {**settings.HEALTHD, "TOKENS": ["a-token"]}
    settings.WATCHMAN_TOKEN = "b-token"
    settings.WATCHMAN_TOKENS = "c-token, d-token,"
    assert conf.get().tokens == ("a-token", "b-token", "c-token", "d-token")
    assert not any(token in repr(conf.get()) for token in conf.get().tokens)


def _settings_read_outside_conf() -> dict[str, list[str]]:
    """{setting name: [where]} of every ``settings.NAME`` and ``getattr(settings, "NAME")``
    outside healthd.conf and the standalone site's settings module."""
    found: dict[str, list[str]] = {}
    for path in sorted(HEALTHD.rglob("*.py")):
        relative = path.relative_to(HEALTHD).as_posix()
        if relative.startswith(("conf/", "site/", "migrations/")):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            name = None
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "settings" and node.attr.isupper()):
                name = node.attr
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id == "getattr" and len(node.args) >= 2
                  and isinstance(node.args[0], ast.Name) and node.args[0].id == "settings"
                  and isinstance(node.args[1], ast.Constant)):
                name = str(node.args[1].value)
            if name:
                found.setdefault(name, []).append(f"{relative}:{node.lineno}")
    return found


def test_only_django_settings_are_read_around_the_settings_object():
    # ROOT_URLCONF has no default: Django requires it.
    django_own = {name for name in dir(global_settings) if name.isupper()} | {"ROOT_URLCONF"}
    strays = {name: where for name, where in _settings_read_outside_conf().items()
              if name not in django_own and name not in SITE_SETTINGS}
    assert strays == {}


def test_no_default_is_restated_around_the_table():
    restated = []
    for path in sorted(HEALTHD.rglob("*.py")):
        relative = path.relative_to(HEALTHD).as_posix()
        if relative.startswith("conf/") or relative in RAW_READERS_LEFT:
            continue
        if ".raw[" in path.read_text() or ".raw.get(" in path.read_text():
            restated.append(relative)
    assert restated == []


def test_one_receiver_drops_every_cache():
    receivers = []
    for path in sorted(HEALTHD.rglob("*.py")):
        relative = path.relative_to(HEALTHD).as_posix()
        if "setting_changed" in path.read_text() and relative not in OWN_RECEIVERS_LEFT:
            receivers.append(relative)
    assert receivers == ["conf/per_process.py"]


def test_a_memoised_value_is_kept_until_any_setting_changes(settings):
    made: list[object] = []

    @per_process.memoised
    def value() -> object:
        made.append(object())
        return made[-1]

    first = value()
    assert value() is first and len(made) == 1
    settings.SOME_UNRELATED_SETTING = True
    assert value() is not first and len(made) == 2
    value.cache_clear()
    value()
    assert len(made) == 3


def test_a_value_worked_out_while_a_setting_changes_is_not_kept():
    made: list[int] = []

    @per_process.memoised
    def value() -> int:
        made.append(len(made))
        if len(made) == 1:
            with override_settings(SOME_UNRELATED_SETTING=True):
                pass  # as another thread would, while this one reads the settings
        return made[-1]

    assert value() == 0  # what it worked out is returned, not kept
    assert value() == 1
    assert value() == 1


def test_a_kept_value_and_an_argument_keyed_cache_are_dropped_too(settings):
    kept: per_process.Kept[str] = per_process.Kept()
    assert kept.keep("drawn", per_process.generation())
    assert not kept.keep("stale", per_process.generation() - 1)

    @per_process.clears_on_setting_change
    @functools.lru_cache(maxsize=8)
    def double(number: int) -> int:
        return 2 * number

    double(2)
    assert kept.value == "drawn" and double.cache_info().currsize == 1
    settings.SOME_UNRELATED_SETTING = True
    assert kept.value is None and double.cache_info().currsize == 0


def test_the_settings_object_follows_a_peer_setting(settings):
    first = conf.get()
    assert conf.get() is first  # memoised: the heartbeat reads it on every request
    settings.EXPOSE_WATCHMAN_VERSION = True
    assert conf.get() is not first and conf.get().expose_watchman_version is True
