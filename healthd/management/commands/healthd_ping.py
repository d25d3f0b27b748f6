"""Run a command and report it as a passive check: its exit status, duration and the last
lines of its output (``healthd ping`` reaches this as ``healthd healthd_ping``).

    manage.py healthd_ping backup -- pg_dump -f /backups/db.sql mydb
    manage.py healthd_ping backup --url https://site.example/healthd/ping/ -- ./backup.sh
    manage.py healthd_ping backup                # just "it ran", as a ping would

With the site's settings the report is recorded directly; with ``--url`` (or
``HEALTHD_PING_URL``) it is sent over HTTP to the site's ping endpoint, with ``--token``
(or ``HEALTHD_PING_TOKEN``), for a host that only reaches the site. The command's output
goes through as it is; its exit status is this command's.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from healthd import passive
from healthd.checks.base import Check
from healthd.passive.declarations import monitor

# The message keeps this much of the output's end: the ping endpoint's body limit.
OUTPUT_LIMIT = 10 * 1024


def run_command(argv: list[str], lines: int) -> tuple[int, float, str]:
    """Run ``argv`` with its output passed through; (exit status, seconds, last lines)."""
    started = time.perf_counter()
    tail: collections.deque[bytes] = collections.deque(maxlen=max(1, lines))
    try:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as exc:
        return 127, time.perf_counter() - started, f"could not run {argv[0]!r}: {exc}"
    out = sys.stdout.buffer
    for line in process.stdout or ():  # a pipe: Popen was asked for one
        out.write(line)
        out.flush()
        tail.append(line)
    status = process.wait()
    text = b"".join(tail).decode("utf-8", errors="replace")[-OUTPUT_LIMIT:]
    return status, time.perf_counter() - started, text


def describe(status: int, took: float, output: str) -> str:
    """What the report says: the exit status, the duration and the output's last lines."""
    verdict = f"exit status {status} after {took:.3g} s"
    return f"{verdict}\n{output.rstrip()}" if output.strip() else verdict


class Command(BaseCommand):
    help = ("Run a command and report it as the passive check NAME: a success when it exits "
            "0, else a failure naming its exit status, with the last lines of its output.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", metavar="NAME", help="the passive check to report to")
        parser.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND ...",
                            help="the command to run (nothing: report a success now)")
        parser.add_argument("--url", default=os.environ.get("HEALTHD_PING_URL", ""),
                            help="the site's ping endpoint (…/healthd/ping/): report over "
                                 "HTTP rather than directly")
        parser.add_argument("--token", default=os.environ.get("HEALTHD_PING_TOKEN", ""),
                            help="the check's token, for --url")
        parser.add_argument("--lines", type=int, default=20,
                            help="how many of the output's last lines to report (default 20)")
        parser.add_argument("--every", help="declare the check here (seconds or 1d, 2h…) "
                                            "when the settings do not")
        parser.add_argument("--grace", help="with --every: how late it may be")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"]
        argv = self._options_after_name(name, list(options["argv"]), options)
        if options["url"]:
            reporter: Reporter = HttpReporter(options["url"], name, options["token"])
        else:
            reporter = DirectReporter(self._check(name, options))
        if not argv:
            self._warn(reporter.finish(True, "ping received", None))
            return
        self._warn(reporter.start())
        try:
            status, took, output = run_command(argv, options["lines"])
        except KeyboardInterrupt:
            self._warn(reporter.finish(False, "interrupted", None))
            raise
        self._warn(reporter.finish(status == 0, describe(status, took, output), took))
        if status:
            sys.exit(status if 0 < status < 256 else 1)

    def _options_after_name(self, name: str, argv: list[str], options: dict[str, Any]
                            ) -> list[str]:
        """The command to run; options written between NAME and ``--`` go into ``options``
        (argparse hands them over with the command, as the rest of the line)."""
        if "--" not in argv:
            return argv
        split = argv.index("--")
        leading, command = argv[:split], argv[split + 1:]
        if leading:
            parser = self.create_parser("manage.py", "healthd_ping")
            again = vars(parser.parse_args([*leading, name]))
            for key in ("url", "token", "lines", "every", "grace"):
                if again[key] != parser.get_default(key):
                    options[key] = again[key]
        return command

    def _check(self, name: str, options: dict[str, Any]) -> Check:
        if options["every"]:
            try:
                return monitor(name, options["every"], options["grace"], source="cli")
            except ImproperlyConfigured as exc:
                raise CommandError(str(exc)) from exc
        check = passive.check_named(name)
        if check is None:
            raise CommandError(f"no passive check {name!r}: declare it in HEALTHD['CHECKS'] "
                               "({'passive': ..., 'every': ...}) or pass --every")
        return check

    def _warn(self, problem: str | None) -> None:
        if problem:
            self.stderr.write(f"healthd ping: {problem}")


class Reporter:
    def start(self) -> str | None:
        raise NotImplementedError

    def finish(self, ok: bool, message: str, took: float | None) -> str | None:
        raise NotImplementedError


class DirectReporter(Reporter):
    """Records through the site's settings, as the decorator does."""

    def __init__(self, check: Check) -> None:
        self.check = check

    def start(self) -> str | None:
        return None if passive.report_start(self.check) else "could not record the start"

    def finish(self, ok: bool, message: str, took: float | None) -> str | None:
        result = passive.report_finish(self.check, ok, message, took)
        return None if result is not None else "could not record the result"


class HttpReporter(Reporter):
    """POSTs to the site's ping endpoint; the site measures the duration from the start."""

    def __init__(self, url: str, name: str, token: str) -> None:
        self.base = url.rstrip("/") + "/" + urllib.parse.quote(name)
        self.token = token

    def _post(self, suffix: str, body: str = "") -> str | None:
        request = urllib.request.Request(  # noqa: S310 - the site's URL, as configured
            self.base + suffix, data=body.encode(), method="POST",
            headers={"Content-Type": "text/plain; charset=utf-8"})
        if self.token:
            request.add_header("Authorization", f'WATCHMAN-TOKEN Token="{self.token}"')
        try:
            with urllib.request.urlopen(request, timeout=10):  # noqa: S310
                return None
        except urllib.error.HTTPError as exc:
            return f"the site answered {exc.code} to {self.base + suffix}"
        except OSError as exc:
            return f"could not reach {self.base + suffix}: {exc}"

    def start(self) -> str | None:
        return self._post("/start")

    def finish(self, ok: bool, message: str, took: float | None) -> str | None:
        return self._post("" if ok else "/fail", message[-OUTPUT_LIMIT:])
