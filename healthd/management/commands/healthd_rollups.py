"""``manage.py healthd_rollups --rebuild [--since DATE]``: make the summaries again from
the results (after a restore, an import, a bulk load, or a fix to how they are counted)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from healthd.history import rebuild


class Command(BaseCommand):
    help = ("Rebuild the hourly rollups (with their duration buckets), the daily rollups "
            "and each check's current state from the results kept.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rebuild", action="store_true",
                            help="rebuild every summary from the results")
        parser.add_argument("--since", metavar="DATE",
                            help="only from this day on (YYYY-MM-DD, the site's time zone)")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["rebuild"]:
            raise CommandError("say --rebuild to rebuild the summaries from the results")
        since = None
        if options["since"]:
            try:
                since = dt.date.fromisoformat(options["since"])
            except ValueError as exc:
                raise CommandError(f"--since: {options['since']!r} is not a date "
                                   "(YYYY-MM-DD)") from exc
        started = time.perf_counter()
        say = (self.stdout.write if options["verbosity"] > 1 else (lambda _: None))
        written = rebuild.rebuild(since, say=say)
        self.stdout.write(
            f"rebuilt {written['hourly']} hourly rollups, {written['daily']} daily rollups "
            f"and {written['states']} check states in {time.perf_counter() - started:.1f} s")
