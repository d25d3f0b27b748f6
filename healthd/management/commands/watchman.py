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

from django.core.management.base import BaseCommand, CommandError, CommandParser

from healthd.compat.watchman import reading as dialect
from healthd.management.cached import read_health


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def select(checks: list[str] | None, skips: list[str] | None) -> list[str]:
    """The healthd check names to report, after ``-c`` and ``-s``; refuses unknown names
    and a selection that leaves nothing (exit status 2)."""
    meaning = dialect.selector_meanings()
    asked = (checks or []) + (skips or [])
    unknown = [n for n in dict.fromkeys(asked) if n not in meaning]
    if unknown:
        raise CommandError(
            f"unknown check(s): {', '.join(unknown)}; known: {', '.join(sorted(meaning))}",
            returncode=2)
    selected = dialect.select(checks, skips)
    if not selected:
        raise CommandError(
            "no check selected: watchman's checks here are "
            f"{', '.join(dialect.watchman_set()) or 'none'} (WATCHMAN_CHECKS or watchman's "
            "defaults, among the checks healthd runs)", returncode=2)
    return selected


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
        health = read_health(names)
        # An operator's command: every error is shown.
        report = dialect.report(health, details=True)
        verbose = int(options["verbosity"]) >= 2
        failing: dict[str, Any] = {}
        for _, entry in report.entries:
            if entry.fails:
                failing.update(entry.shown)
            elif verbose:
                self.stdout.write(json.dumps(entry.shown))
        if health.error:
            failing["error"] = health.error
        if failing:
            raise CommandError(json.dumps(failing))
