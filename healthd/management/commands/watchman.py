"""``watchman [-c PATHS] [-s PATHS]``: django-watchman's command, from the cached state.

For exec probes and cron jobs that called watchman's command. As watchman's did, it
prints nothing while every check is ok, prints each check's JSON with ``-v 2`` or
more, and exits 1 with the JSON of the checks that are not ok. It runs no check: it
reads the latest results the workers stored (a stale or never-run result is not ok).

The checks are watchman's set: ``WATCHMAN_CHECKS``, else watchman's defaults (caches,
databases, storage; email too with ``WATCHMAN_ENABLE_PAID_CHECKS``), those of them that
healthd runs. ``-c`` and ``-s`` take comma-separated dotted paths (or healthd check
names). Unlike watchman, a name that means nothing is refused (exit status 2) and so is
a selection that leaves no check, so a typo cannot turn a probe green. A failing check
marked ``"critical": False`` is printed but does not fail the command.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.module_loading import import_string

from healthd.checks import registry
from healthd.management.cached import CachedCheck, read_checks

DEFAULT_CHECKS = ("watchman.checks.caches", "watchman.checks.databases", "watchman.checks.storage")
PAID_CHECKS = ("watchman.checks.email",)
# healthd built-ins that watchman knew, by the key watchman's output used.
WATCHMAN_KEYS = {"database": "databases", "cache": "caches", "email": "email",
                 "storage": "storage"}
# The per-alias built-ins, with the watchman setting that narrows their aliases.
ALIAS_SETTINGS = {"database": ("WATCHMAN_DATABASES", "DATABASES"),
                  "cache": ("WATCHMAN_CACHES", "CACHES")}


def watchman_paths() -> tuple[str, ...]:
    """The dotted paths watchman would run here: WATCHMAN_CHECKS, else its defaults."""
    configured = getattr(settings, "WATCHMAN_CHECKS", None)
    if configured is not None:
        return tuple(configured)
    if getattr(settings, "WATCHMAN_ENABLE_PAID_CHECKS", False):
        return DEFAULT_CHECKS + PAID_CHECKS
    return DEFAULT_CHECKS


def check_name_of(path: str) -> str:
    """The healthd check a watchman path runs as (the registry's naming)."""
    if path in registry.LEGACY_PATHS:
        return registry.LEGACY_PATHS[path]
    try:
        return getattr(import_string(path), "__name__", path.rsplit(".", 1)[-1])
    except ImportError:
        return path.rsplit(".", 1)[-1]


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def select(checks: list[str] | None, skips: list[str] | None) -> list[str]:
    """The healthd check names to report, after ``-c`` and ``-s``; refuses unknown names."""
    configured = [c.name for c in registry.configured_checks()]
    in_set = [name for name in dict.fromkeys(check_name_of(p) for p in watchman_paths())
              if name in configured]
    meaning = {path: check_name_of(path) for path in watchman_paths()}
    meaning.update((p, n) for p, n in registry.LEGACY_PATHS.items() if p.startswith("watchman."))
    meaning.update((name, name) for name in configured)
    asked = (checks or []) + (skips or [])
    unknown = [n for n in dict.fromkeys(asked) if n not in meaning]
    if unknown:
        raise CommandError(
            f"unknown check(s): {', '.join(unknown)}; known: {', '.join(sorted(meaning))}",
            returncode=2)
    selected = in_set
    if checks is not None:
        wanted = {meaning[n] for n in checks}
        selected = [n for n in selected if n in wanted]
    if skips is not None:
        dropped = {meaning[n] for n in skips}
        selected = [n for n in selected if n not in dropped]
    if not selected:
        raise CommandError(
            "no check selected: watchman's checks here are "
            f"{', '.join(in_set) or 'none'} (WATCHMAN_CHECKS or watchman's defaults, "
            "among the checks healthd runs)", returncode=2)
    return selected


def _part(ok: bool, error: str) -> dict[str, Any]:
    return {"ok": True} if ok else {"ok": False, "error": error or "not ok"}


def _without_stacktraces(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_stacktraces(v) for k, v in value.items() if k != "stacktrace"}
    if isinstance(value, list):
        return [_without_stacktraces(v) for v in value]
    return value


def _aliases(check: CachedCheck) -> list[str]:
    watched_setting, django_setting = ALIAS_SETTINGS[check.name]
    recorded = [alias for alias, info in check.details.items() if isinstance(info, dict)]
    aliases = recorded or list(getattr(settings, django_setting, {}))
    watched = getattr(settings, watched_setting, None)
    if watched is not None:
        aliases = [alias for alias in aliases if alias in watched]
    return aliases


def entry(check: CachedCheck) -> dict[str, Any]:
    """What one check adds to watchman's output, in watchman's shape."""
    if check.name in ALIAS_SETTINGS:
        parts = []
        for alias in _aliases(check):
            info = check.details.get(alias)
            if check.fresh and isinstance(info, dict):
                parts.append({alias: _part(bool(info.get("ok")), str(info.get("error", "")))})
            else:
                parts.append({alias: _part(check.ok, check.message)})
        return {WATCHMAN_KEYS[check.name]: parts}
    if check.name in WATCHMAN_KEYS:
        return {WATCHMAN_KEYS[check.name]: _part(check.ok, check.message)}
    returned = check.details.get("watchman")
    if check.ok and isinstance(returned, dict) and returned:
        return _without_stacktraces(returned)
    return {check.name: _part(check.ok, check.message)}


def _has_failure(value: Any) -> bool:
    if isinstance(value, dict):
        return value.get("ok") is False or any(_has_failure(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_failure(v) for v in value)
    return False


class Command(BaseCommand):
    help = ("Report django-watchman's checks from the cached state: nothing when all are ok "
            "(each check's JSON with -v 2), exit status 1 with the failing checks' JSON.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-c", "--checks", dest="checks",
                            help="a comma-separated list of watchman checks to report "
                                 "(full python dotted paths, or healthd check names)")
        parser.add_argument("-s", "--skips", dest="skips",
                            help="a comma-separated list of watchman checks to skip "
                                 "(full python dotted paths, or healthd check names)")

    def handle(self, *args: Any, **options: Any) -> None:
        names = select(_split(options["checks"]), _split(options["skips"]))
        health = read_checks(names)
        verbose = int(options["verbosity"]) >= 2
        failing: dict[str, Any] = {}
        for check in health.checks:
            shown = entry(check)
            if check.critical and _has_failure(shown):
                failing.update(shown)
            elif verbose:
                self.stdout.write(json.dumps(shown))
        if health.error:
            failing["error"] = health.error
        if failing:
            raise CommandError(json.dumps(failing))
