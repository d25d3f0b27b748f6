"""django-watchman's reading of the checks: its set, its selection, its shape.

**The set.** ``WATCHMAN_CHECKS`` when it is set, else watchman's defaults (caches,
databases, storage; email too with ``WATCHMAN_ENABLE_PAID_CHECKS``), as watchman read
them: those of them that healthd runs, in that order. Checks healthd runs for other
reasons (migrations, redis, celery, ``DOCKERFLOW_CHECKS``) are not watchman's.

**The selection.** ``check`` and ``skip`` take watchman's dotted paths
(``watchman.checks.databases``, the paths in ``WATCHMAN_CHECKS``) and healthd check
names. As in watchman, the set is intersected with the checks asked for and the skipped
ones are taken out; a name that means nothing selects nothing.

**The shape.** ``databases`` and ``caches`` are lists of ``{alias: {"ok": …}}``
(narrowed by ``WATCHMAN_DATABASES`` and ``WATCHMAN_CACHES``), ``email`` and ``storage``
are ``{"ok": …}``, a custom ``WATCHMAN_CHECKS`` entry shows the dict it returned on its
last run, and any other check shows as ``{name: {"ok": …}}``. A part that is not ok
carries an ``"error"`` for callers who may see details, the exception's message alone as
watchman gave it (``"test error"``; healthd's own views name the class too); never a
stack trace. A stale or never-run check is not ok, and its error says why.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from healthd import conf
from healthd.checks import registry
from healthd.conf import per_process
from healthd.store import health as state

DEFAULT_PATHS = ("watchman.checks.caches", "watchman.checks.databases",
                 "watchman.checks.storage")
PAID_PATHS = ("watchman.checks.email",)
# healthd built-ins that watchman knew, by the key watchman's answer used.
KEYS = {"database": "databases", "cache": "caches", "email": "email", "storage": "storage"}
# The per-alias built-ins: the Django setting that lists them when the last run recorded
# none (WATCHMAN_DATABASES and WATCHMAN_CACHES narrow them).
ALIAS_SETTINGS = {"database": "DATABASES", "cache": "CACHES"}


def watchman_paths() -> tuple[str, ...]:
    """The dotted paths watchman would run here: WATCHMAN_CHECKS, else its defaults."""
    config = conf.get()
    if config.watchman_checks is not None:
        return config.watchman_checks
    if config.watchman_enable_paid_checks:
        return DEFAULT_PATHS + PAID_PATHS
    return DEFAULT_PATHS


# A test (or a reload) may point a path at another function.
@per_process.clears_on_setting_change
@functools.lru_cache(maxsize=256)
def check_name_of(path: str) -> str:
    """The healthd check a watchman dotted path runs as (the registry's naming)."""
    if path in registry.LEGACY_PATHS:
        return registry.LEGACY_PATHS[path]
    try:
        return getattr(import_string(path), "__name__", path.rsplit(".", 1)[-1])
    except ImportError:
        return path.rsplit(".", 1)[-1]


def watchman_set() -> list[str]:
    """The healthd check names of watchman's set here, in its order, those healthd runs."""
    configured = {c.name for c in registry.configured_checks()}
    named = dict.fromkeys(check_name_of(path) for path in watchman_paths())
    return [name for name in named if name in configured]


def selector_meanings() -> dict[str, str]:
    """Every name ``check`` and ``skip`` understand, to the healthd check it means."""
    meaning = {path: check_name_of(path) for path in watchman_paths()}
    meaning.update((path, name) for path, name in registry.LEGACY_PATHS.items()
                   if path.startswith("watchman."))
    meaning.update((c.name, c.name) for c in registry.configured_checks())
    return meaning


def select(checks: Sequence[str] | None, skips: Sequence[str] | None) -> list[str]:
    """watchman's rule: its set, intersected with ``checks`` when given, minus ``skips``.

    Names that mean nothing select nothing; the result may be empty (watchman's
    "No checks found"). Worked out once per selection and settings, not per request.
    """
    return list(_selected(None if checks is None else tuple(checks),
                          None if skips is None else tuple(skips)))


# Bounded: the selectors come from the query string. The selections follow the configured
# checks, which any setting may change.
@per_process.clears_on_setting_change
@functools.lru_cache(maxsize=64)
def _selected(checks: tuple[str, ...] | None, skips: tuple[str, ...] | None) -> tuple[str, ...]:
    if checks is None and skips is None:
        return tuple(watchman_set())
    meaning = selector_meanings()
    names = watchman_set()
    if checks is not None:
        wanted = {meaning[n] for n in checks if n in meaning}
        names = [n for n in names if n in wanted]
    if skips is not None:
        dropped = {meaning[n] for n in skips if n in meaning}
        names = [n for n in names if n not in dropped]
    return tuple(names)


@dataclass(frozen=True)
class Entry:
    """What one check adds to watchman's answer, and whether it makes the answer an error."""

    shown: dict[str, Any]
    # A critical check that is not ok in what is shown (so an alias that
    # WATCHMAN_DATABASES leaves out cannot fail the answer).
    fails: bool


def _message_alone(text: str | None, exception: object) -> str | None:
    """watchman's error text: an exception's message without healthd's ``Class: `` prefix
    (the run records the class it raised as ``exception``)."""
    if text and isinstance(exception, str) and exception:
        return text.removeprefix(f"{exception}: ")
    return text


def _check_error(check_state: state.CheckState) -> str:
    """The check's own message, as watchman's error text."""
    exception = check_state.result.details.get("exception") if check_state.result else None
    return _message_alone(check_state.message, exception) or check_state.message


def _part(ok: bool, error: str | None, details: bool) -> dict[str, Any]:
    if ok:
        return {"ok": True}
    return {"ok": False, "error": error or "not ok"} if details else {"ok": False}


def _cleaned(value: Any, details: bool) -> Any:
    """What a custom check returned, without stack traces (and errors, for anonymous)."""
    hidden = {"stacktrace"} if details else {"stacktrace", "error"}
    if isinstance(value, dict):
        return {k: _cleaned(v, details) for k, v in value.items() if k not in hidden}
    if isinstance(value, list):
        return [_cleaned(v, details) for v in value]
    return value


def _aliases(check_state: state.CheckState) -> list[tuple[str, bool, str | None]]:
    """(alias, ok, error) for each alias shown: those the last run probed (else the
    Django setting's), narrowed by WATCHMAN_DATABASES / WATCHMAN_CACHES.

    Each alias reads as its last run found it while the result is fresh and the
    failure, if any, is an alias's; otherwise as the check as a whole (stale, never run,
    or failing for a reason no alias carries).
    """
    config = conf.get()
    recorded = {part.label: part for part in check_state.parts}
    labels = list(recorded) or list(getattr(settings, ALIAS_SETTINGS[check_state.name]))
    watched = (config.watchman_databases if check_state.name == "database"
               else config.watchman_caches)
    if watched is not None:
        labels = [label for label in labels if label in watched]
    attributable = check_state.ok or any(not part.ok for part in recorded.values())
    shown: list[tuple[str, bool, str | None]] = []
    for label in labels:
        part = recorded.get(label)
        if part is not None and check_state.fresh and attributable:
            shown.append((label, part.ok, _message_alone(part.error, part.extra.get("exception"))
                           or _check_error(check_state)))
        else:
            shown.append((label, check_state.ok, _check_error(check_state)))
    return shown


def entry(check_state: state.CheckState, details: bool) -> Entry:
    """One check in watchman's shape; errors shown only when ``details``."""
    name = check_state.name
    if name in ALIAS_SETTINGS:
        aliases = _aliases(check_state)
        shown = {KEYS[name]: [{alias: _part(ok, error, details)}
                              for alias, ok, error in aliases]}
        return Entry(shown, check_state.counts_against and any(not ok for _, ok, _ in aliases))
    if name in KEYS:
        return Entry({KEYS[name]: _part(check_state.ok, _check_error(check_state), details)},
                     check_state.counts_against)
    returned = check_state.result.watchman if check_state.result else None
    if returned and check_state.fresh:
        return Entry(_cleaned(returned, details), check_state.counts_against)
    return Entry({name: _part(check_state.ok, _check_error(check_state), details)},
                 check_state.counts_against)


@dataclass(frozen=True)
class Report:
    """watchman's answer for a set of checks: the body, and whether it is an error."""

    body: dict[str, Any]
    fails: bool
    entries: tuple[tuple[state.CheckState, Entry], ...]


def report(health: state.Health, details: bool) -> Report:
    """The checks of ``health`` in watchman's shape; the store's error, if any, on top.
    Worked out once per evaluation of the checks (:meth:`healthd.store.health.Health.rendered`)."""
    return health.rendered(f"watchman:report:{details}", lambda: _report(health, details))


def _report(health: state.Health, details: bool) -> Report:
    body: dict[str, Any] = {}
    entries = []
    fails = health.error is not None
    for check_state in health.checks:
        shown = entry(check_state, details)
        entries.append((check_state, shown))
        body.update(shown.shown)
        fails = fails or shown.fails
    if health.error:
        body["error"] = health.error
    return Report(body, fails, tuple(entries))
