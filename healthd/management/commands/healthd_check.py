"""``healthd_check``: run the checks now, in this process, and record what they found.

For an operator at a shell or a deploy step: the results are written to Redis and the
history exactly as a scheduled run writes them, and the exit status is 1 when a
critical check fails, so ``healthd healthd_check && …`` gates on it.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from healthd.checks import registry
from healthd.checks.base import Result, Status
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
    help = ("Run the health checks now in this process, record the results, and print them. "
            "Exits 1 when a critical check fails.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", metavar="CHECK",
                            help="only these checks (default: every configured check)")
        parser.add_argument("-f", "--format", choices=["table", "json"], default="table")

    def handle(self, *args: Any, **options: Any) -> None:
        names = options["names"] or None
        if names:
            known = {c.name for c in registry.configured_checks()}
            unknown = [n for n in names if n not in known]
            if unknown:
                raise CommandError(f"unknown check(s): {', '.join(unknown)}; "
                                   f"known: {', '.join(sorted(known))}")
        summary = run_and_record(names)
        rows = result_rows(summary.results)
        if options["format"] == "json":
            self.stdout.write(json.dumps({
                "checks": rows, "stored": summary.stored, "saved": summary.saved,
            }, indent=2))
        else:
            self.stdout.write(format_table(rows))
            if not summary.stored:
                self.stderr.write("warning: the results could not be written to Redis")
            if not summary.saved:
                self.stderr.write("warning: the history could not be written to the database")
        failed = [r.name for r in summary.results if r.critical and r.status == Status.FAILING]
        if failed:
            raise CommandError(f"critical check(s) failing: {', '.join(failed)}", returncode=1)
