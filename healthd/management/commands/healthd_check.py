"""``healthd_check``: run the checks now, in this process, and print what they found.

A diagnostic for an operator at a shell or a deploy step: it only prints, so running it
by hand never changes the live state (a check that fails from this shell, where the
site's workers or files may not be, must not turn the heartbeat red). ``--record``
writes the results to Redis and the history exactly as a scheduled run writes them.
The exit status is 1 when a critical check fails, so ``healthd healthd_check && …``
gates on it. (The admin's "run now" button goes through the Celery task instead.)
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from healthd.checks import registry
from healthd.checks.base import Result, Status
from healthd.checks.runner import run_concurrently
from healthd.tasks.run import run_and_record


def result_rows(results: list[Result]) -> list[dict[str, Any]]:
    """The printable fields of each result."""
    return [
        {"name": r.name, "status": str(r.status), "critical": r.critical,
         "duration_ms": round(r.duration * 1000, 1), "message": r.message}
        for r in results
    ]


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain text table: name, status, duration (ms), message."""
    headers = ("name", "status", "duration ms", "message")
    lines = [(r["name"], r["status"] + ("" if r["critical"] else " (not critical)"),
              f"{r['duration_ms']:.1f}", r["message"].replace("\n", " ")) for r in rows]
    widths = [max([len(h)] + [len(line[i]) for line in lines]) for i, h in enumerate(headers[:3])]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers[:3], widths, strict=True)) + "  message"]
    for line in lines:
        out.append("  ".join(v.ljust(w) for v, w in zip(line[:3], widths, strict=True))
                   + "  " + line[3])
    return "\n".join(out)


class Command(BaseCommand):
    help = ("Run the health checks now in this process and print the results (--record: "
            "also store them, as a scheduled run does). Exits 1 when a critical check fails.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", metavar="CHECK",
                            help="only these checks (default: every configured check)")
        parser.add_argument("-f", "--format", choices=["table", "json"], default="table")
        parser.add_argument("--record", action="store_true",
                            help="also write the results to Redis and the history, as a "
                                 "scheduled run does (changes the live state)")

    def handle(self, *args: Any, **options: Any) -> None:
        names = options["names"] or None
        if names:
            known = {c.name for c in registry.configured_checks()}
            unknown = [n for n in names if n not in known]
            if unknown:
                raise CommandError(f"unknown check(s): {', '.join(unknown)}; "
                                   f"known: {', '.join(sorted(known))}")
        written: dict[str, bool] = {}
        if options["record"]:
            summary = run_and_record(names)
            results = summary.results
            written = {"stored": summary.stored, "saved": summary.saved}
        else:
            results = run_concurrently(registry.checks_named(names))
        rows = result_rows(results)
        if options["format"] == "json":
            self.stdout.write(json.dumps({"checks": rows, "recorded": options["record"],
                                          **written}, indent=2))
        else:
            self.stdout.write(format_table(rows))
            if written and not written["stored"]:
                self.stderr.write("warning: the results could not be written to Redis")
            if written and not written["saved"]:
                self.stderr.write("warning: the history could not be written to the database")
        failed = [r.name for r in results if r.critical and r.status == Status.FAILING]
        if failed:
            raise CommandError(f"critical check(s) failing: {', '.join(failed)}", returncode=1)
