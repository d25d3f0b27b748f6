"""What redaction costs per message: microseconds for the messages a site's results carry.

Redaction runs on every result message (the runner, the store's reads, the pings, the
notifications), so it has to stay cheap. The site here configures what a real one does:
tokens, passive checks with ping tokens, Apprise URLs and a signed webhook, a Sentry DSN.

    python -m bench.redaction [--repeat 20000]

Prints, for each kind of message, its length and the microseconds per call (the best of
five rounds: the figure least disturbed by whatever else the machine runs).
"""

from __future__ import annotations

import argparse
import os
import time

MESSAGES = {
    "ok": "ok",
    "passing, 60 chars": "succeeded in 0.412 s; 3 tables, 12,345 rows, replica lag 0.1 s",
    "connection error with a URL": (
        "OperationalError: connection to server at \"db.internal\" (10.0.0.5), port 5432 "
        "failed: FATAL: password authentication failed for user \"app\" "
        "(postgres://app:S3cret@db.internal:5432/app)"),
    "a traceback, 2 KB": "Traceback (most recent call last):\n" + (
        '  File "/srv/app/jobs/backup.py", line 42, in run\n    dump(target, timeout=30)\n'
        * 24) + "RuntimeError: pg_dump exited 1",
    "a /fail body, 10 KB of log": ("2026-01-01T00:00:00 INFO copied chunk 17 of 200 "
                                   "(12.5 MB/s)\n" * 200)[:10240],
    "a /fail body quoting every secret": (
        'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.x {"password": "p"} '
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ backup-tok-1234 "
        "postgres://u:pa/ss@h/db ") * 20,
}

SITE = {
    "TOKENS": ["site-token-777", "site-token-888"],
    "CHECKS": ["database", "cache", *[{"passive": f"job{n}", "every": 60,
                                       "token": f"job-token-{n:04d}"} for n in range(20)]],
    "NOTIFY": ["slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
               "json://capuser:pw99xx@127.0.0.1:8845/apprise/Tok3nSegment99",
               {"webhook": "https://hookuser:hookpass@hooks.example.com/in/abc123",
                "secret": "hmac-secret-42"}],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django
    from django.conf import settings
    from django.test import override_settings

    django.setup()
    from healthd.util.redact import redact

    healthd = {**settings.HEALTHD, **SITE}
    with override_settings(HEALTHD=healthd,
                           SENTRY_DSN="https://abcdef0123456789@o1.ingest.sentry.io/42"):
        redact("warm up")
        print("| message | chars | µs per call |")
        print("| --- | ---: | ---: |")
        for label, message in MESSAGES.items():
            repeat = max(1, args.repeat * 60 // max(60, len(message)))
            rounds = []
            for _ in range(5):
                started = time.perf_counter()
                for _ in range(repeat):
                    redact(message)
                rounds.append((time.perf_counter() - started) / repeat * 1e6)
            print(f"| {label} | {len(message):,} | {min(rounds):.1f} |")


if __name__ == "__main__":
    main()
