"""Silence checks for a planned maintenance, list the silences, or end one early.

    manage.py healthd_silence database redis --for 2h --reason "database upgrade"
    manage.py healthd_silence --for 10m --reason deploy        (no names: every check)
    manage.py healthd_silence --all --for 30m --reason "network work"
    manage.py healthd_silence database --every "0 2 * * 0" --duration 2h --tz Europe/Paris
    manage.py healthd_silence database --days sun --from 02:00 --to 04:00 --tz Europe/Paris
    manage.py healthd_silence --list
    manage.py healthd_silence --end 12
"""

from __future__ import annotations

import getpass
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from healthd.alerting import silences
from healthd.models import Silence
from healthd.util import recurrence
from healthd.util.durations import format_duration, parse_duration

__all__ = ["Command", "parse_duration"]


class Command(BaseCommand):
    help = ("Silence checks for a while: their transitions are recorded but nobody is "
            "notified, and a failure counts as a warning for the health views.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", metavar="NAME",
                            help="checks to silence (none: every check)")
        parser.add_argument("--all", action="store_true", help="silence every check")
        parser.add_argument("--for", "--duration", dest="duration", default=None,
                            help="how long (each window, when it repeats): 90s, 15m, 2h, "
                                 "1h30m, 1d (default 1h)")
        parser.add_argument("--starts", help="when it starts (ISO 8601; default now)")
        parser.add_argument("--every", metavar="CRON",
                            help='repeat: a window starts each time this cron expression '
                                 'fires ("0 2 * * 0": Sundays at 02:00); needs --for')
        parser.add_argument("--days", help="repeat on these days (sun, mon-fri, sat,sun, *), "
                                           "from --from to --to")
        parser.add_argument("--from", dest="from_", metavar="HH:MM",
                            help="with --days: when each window starts")
        parser.add_argument("--to", metavar="HH:MM",
                            help="with --days: when each window ends (at or before --from: "
                                 "the next day)")
        parser.add_argument("--tz", default="",
                            help="the time zone of --every or --days (IANA, e.g. Europe/Paris; "
                                 "default the site's TIME_ZONE)")
        parser.add_argument("--until", help="when a repeating silence stops (ISO 8601; "
                                            "default never)")
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
        # No names is every check, as --all says explicitly: the one-line deploy hook is
        # ``healthd_silence --for 10m --reason deploy``.
        if names and options["all"]:
            raise CommandError("either names or --all, not both")
        starts_at = _moment(options["starts"], "--starts")
        try:
            names = silences.checked_names(names)
            reason = silences.checked_reason(options["reason"])
            repeat = _repeat(options)
            if repeat is None:
                if options["tz"] or options["until"]:
                    raise ValueError("--tz and --until are for a repeating silence "
                                     "(--every or --days)")
                duration = parse_duration(options["duration"] or "1h")
                silence = silences.create(names, duration, reason=reason,
                                          created_by=options["by"] or _os_user(),
                                          starts_at=starts_at)
            else:
                every, duration = repeat
                silence = silences.create_recurring(
                    names, every, duration, time_zone=options["tz"], reason=reason,
                    created_by=options["by"] or _os_user(), starts_at=starts_at,
                    ends_at=_moment(options["until"], "--until"))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if silence.every:
            self.stdout.write(f"silence {silence.pk}: {silence}; {_next(silence)}; "
                              f"stop it with --end {silence.pk}")
            return None
        starts = f"{silence.starts_at:%Y-%m-%d %H:%M:%S %Z}"
        self.stdout.write(f"silence {silence.pk}: {silence} (from {starts}); "
                          f"end it early with --end {silence.pk}")
        return None

    def _list(self) -> None:
        found = Silence.objects.filter(Q(ends_at__gt=timezone.now()) | Q(ends_at__isnull=True)
                                       ).order_by("starts_at")
        if not found:
            self.stdout.write("no silence in force or to come")
        for silence in found:
            which = ", ".join(silence.checks) or "every check"
            if silence.every:
                until = (f"until {silence.ends_at:%Y-%m-%d %H:%M:%S}" if silence.ends_at
                         else "for ever")
                self.stdout.write(
                    f"{silence.pk}\tevery {silence.every} for "
                    f"{format_duration(silence.duration or timedelta(0))} "
                    f"({silence.zone_name}), {until}; {_next(silence)}\t{which}\t"
                    f"{silence.reason}")
                continue
            self.stdout.write(f"{silence.pk}\t{silence.starts_at:%Y-%m-%d %H:%M:%S}\t"
                              f"{silence.ends_at:%Y-%m-%d %H:%M:%S}\t{which}\t{silence.reason}")

    def _end(self, pk: int) -> None:
        silence = Silence.objects.filter(pk=pk).first()
        if silence is None:
            raise CommandError(f"no silence {pk}")
        silences.end(silence)
        self.stdout.write(f"silence {pk} ended")


def _repeat(options: dict[str, Any]) -> tuple[str, timedelta] | None:
    """The cron expression and window length asked for, or None for a one-off silence."""
    every, days, start, end = (options["every"], options["days"], options["from_"],
                               options["to"])
    if every and (days or start or end):
        raise ValueError("either --every (with --for) or --days with --from and --to")
    if every:
        if not options["duration"]:
            raise ValueError("--every needs --for: how long each window lasts")
        return recurrence.normal_cron(every), parse_duration(options["duration"])
    if days or start or end:
        if not (days and start and end):
            raise ValueError("--days, --from and --to go together "
                             "(e.g. --days sun --from 02:00 --to 04:00)")
        if options["duration"]:
            raise ValueError("--days ... --from ... --to say how long: no --for")
        return recurrence.from_days_and_hours(days, start, end)
    return None


def _moment(text: str | None, option: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = parse_datetime(text)
    except ValueError:  # well formed, but no such day or hour
        moment = None
    if moment is None:
        raise CommandError(f"{option}: not an ISO 8601 time: {text!r}")
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def _next(silence: Silence) -> str:
    """When its window in force or next ends and starts, in its own time zone."""
    now = timezone.now()
    found = silence.windows(now, now + timedelta(days=400), limit=1)
    if not found:
        return "no window to come"
    start, end = found[0]
    zone = recurrence.parse_zone(silence.zone_name)
    shown = f"{start.astimezone(zone):%Y-%m-%d %H:%M %Z} to {end.astimezone(zone):%H:%M %Z}"
    return f"in force now ({shown})" if start <= now else f"next {shown}"


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, ImportError, OSError):  # a uid with no name (in a container): no one
        return ""
