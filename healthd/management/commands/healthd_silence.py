"""Silence checks for a planned maintenance, list the silences, or end one early.

    manage.py healthd_silence database redis --for 2h --reason "database upgrade"
    manage.py healthd_silence --all --for 30m --reason "network work"
    manage.py healthd_silence --list
    manage.py healthd_silence --end 12
"""

from __future__ import annotations

import getpass
import re
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from healthd.alerting import silences
from healthd.models import Silence

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``1h30m``, ``1d`` (a bare number is minutes)."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return timedelta(minutes=float(text))
    parts = _DURATION.findall(text)
    if not parts or _DURATION.sub("", text).strip():
        raise ValueError(f"not a duration: {text!r} (try 90s, 15m, 2h, 1h30m, 1d)")
    seconds = sum(float(amount) * _UNITS[unit] for amount, unit in parts)
    if seconds <= 0:
        raise ValueError("a silence lasts more than nothing")
    return timedelta(seconds=seconds)


class Command(BaseCommand):
    help = ("Silence checks for a while: their transitions are recorded but nobody is "
            "notified, and a failure counts as a warning for the health views.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", metavar="NAME", help="checks to silence")
        parser.add_argument("--all", action="store_true", help="silence every check")
        parser.add_argument("--for", dest="duration", default="1h",
                            help="how long: 90s, 15m, 2h, 1h30m, 1d (default 1h)")
        parser.add_argument("--starts", help="when it starts (ISO 8601; default now)")
        parser.add_argument("--reason", default="", help="why, for the record")
        parser.add_argument("--by", default=None, help="who (default: the OS user)")
        parser.add_argument("--list", action="store_true",
                            help="list the silences in force or to come")
        parser.add_argument("--end", type=int, metavar="ID", help="end this silence now")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["list"]:
            return self._list()
        if options["end"] is not None:
            return self._end(options["end"])
        names: list[str] = options["names"]
        if not names and not options["all"]:
            raise CommandError("name the checks to silence, or pass --all for every check")
        if names and options["all"]:
            raise CommandError("either names or --all, not both")
        try:
            names = silences.checked_names(names)
            reason = silences.checked_reason(options["reason"])
            duration = parse_duration(options["duration"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        starts_at = None
        if options["starts"]:
            starts_at = parse_datetime(options["starts"])
            if starts_at is None:
                raise CommandError(f"--starts: not an ISO 8601 time: {options['starts']!r}")
            if timezone.is_naive(starts_at):
                starts_at = timezone.make_aware(starts_at)
        silence = silences.create(names, duration, reason=reason,
                                  created_by=options["by"] or _os_user(), starts_at=starts_at)
        starts = f"{silence.starts_at:%Y-%m-%d %H:%M:%S %Z}"
        self.stdout.write(f"silence {silence.pk}: {silence} (from {starts}); "
                          f"end it early with --end {silence.pk}")

    def _list(self) -> None:
        found = Silence.objects.filter(ends_at__gt=timezone.now()).order_by("starts_at")
        if not found:
            self.stdout.write("no silence in force or to come")
        for silence in found:
            self.stdout.write(f"{silence.pk}\t{silence.starts_at:%Y-%m-%d %H:%M:%S}\t"
                              f"{silence.ends_at:%Y-%m-%d %H:%M:%S}\t"
                              f"{', '.join(silence.checks) or 'every check'}\t{silence.reason}")

    def _end(self, pk: int) -> None:
        silence = Silence.objects.filter(pk=pk).first()
        if silence is None:
            raise CommandError(f"no silence {pk}")
        silences.end(silence)
        self.stdout.write(f"silence {pk} ended")


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, ImportError, OSError):  # a uid with no name (in a container): no one
        return ""
