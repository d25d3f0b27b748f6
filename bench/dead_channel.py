"""A soak with a dead channel: does a worker grow while deliveries keep failing and retrying?

Starts a redis-server of its own, migrates the database, then runs the Procfile's worker
(prefork, as the Procfile) and beat, with the standalone site's checks plus
``bench.checks.flapping`` (a transition every five seconds) every ``--interval`` seconds,
and one notification channel: a signed webhook nobody answers (``--webhook``; by default a
closed port on loopback, refused at once; a black-holed address such as
``http://10.255.255.1/hook`` makes each attempt wait out NOTIFY_TIMEOUT instead). Every
transition is a delivery that retries with backoff for NOTIFY_RETRY_FOR (an hour, the
default). Every ``--sample`` seconds it prints the RSS of the worker's main process and
of each pool process, and the deliveries still retrying; at the end, each process's
slope in MB per minute over the whole run and over its second half (warm-up, such as the
first delivery's imports, is in the first half only). The worker's main process holds each
retry until it is due (Celery keeps a task with a countdown in memory), so it grows until
the first deliveries give up, ``--retry-for`` seconds in, and is flat from then on.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dead_channel \\
        python -m bench.dead_channel --minutes 20 [--interval 1] [--sample 30] \\
        [--retry-for 3600] [--webhook http://10.255.255.1/hook] [--out /tmp/dead-channel]

``--baseline`` runs the same without any channel: what the runs alone cost. Without
DATABASE_URL the site's SQLite file in the state folder is used. Needs Linux (/proc).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.soak import (
    ROOT,
    _children,
    _ensure_postgres_database,
    _free_port,
    _process_figures,
    _start_redis,
    _stop,
    slope_with_error,
)


def _rss_mb(pid: int) -> float | None:
    figures = _process_figures(pid)
    return figures["rss_kb"] / 1024 if figures else None


def _retrying() -> tuple[int, int]:
    """Deliveries neither delivered nor given up, and the attempts made so far."""
    from django.db.models import Sum

    from healthd.models import Delivery

    pending = Delivery.objects.filter(delivered_at=None, failed_at=None)
    attempts = Delivery.objects.aggregate(total=Sum("attempts"))["total"] or 0
    return pending.count(), attempts


def _slopes(samples: list[dict]) -> list[str]:
    """Each process's RSS slope in MB per minute: whole run, and its second half."""
    names = sorted({name for sample in samples for name in sample["rss"]})
    lines = ["| process | start MB | end MB | MB/min | MB/min, 2nd half |",
             "| --- | ---: | ---: | ---: | ---: |"]
    start = samples[0]["t"]
    for name in names:
        points = [(s["t"] - start, s["rss"][name]) for s in samples if name in s["rss"]]
        half = points[len(points) // 2:]
        whole, second = slope_with_error(points)[0], slope_with_error(half)[0]
        lines.append(f"| {name} | {points[0][1]:.1f} | {points[-1][1]:.1f} | "
                     f"{whole / 60:+.3f} | {second / 60:+.3f} |")
    return lines


def run(args: argparse.Namespace) -> None:
    out = Path(args.out or tempfile.mkdtemp(prefix="healthd-dead-channel-"))
    (out / "state").mkdir(parents=True, exist_ok=True)
    redis_server, redis_url = _start_redis(out / "state")
    if os.environ.get("DATABASE_URL"):
        _ensure_postgres_database(os.environ["DATABASE_URL"])
    webhook = args.webhook or f"http://127.0.0.1:{_free_port()}/hook"
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "bench.settings_dead_channel",
        "BENCH_NOTIFY_RETRY_FOR": str(args.retry_for),
        "REDIS_URL": redis_url,
        "HEALTHD_STATE_DIR": str(out / "state"),
        "HEALTHD_INTERVAL": str(args.interval),
        "HEALTHD_KEY_PREFIX": "dead-channel:",
        "HEALTHD_EXTRA_CHECKS": "bench.checks.flapping",
        "HEALTHD_NOTIFY": json.dumps([] if args.baseline else [
            {"webhook": webhook, "secret": "dead-channel-soak"}]),
        "C_FORCE_ROOT": "1",
        "PYTHONUNBUFFERED": "1",
    })
    os.environ.pop("CELERY_BROKER_URL", None)  # the broker is the soak's own Redis
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    python = sys.executable
    commands = {
        "worker": [python, "-m", "celery", "-A", "healthd.site", "worker", "--loglevel",
                   "INFO", "--concurrency", str(args.concurrency)],
        "beat": [python, "-m", "celery", "-A", "healthd.site", "beat", "--loglevel", "INFO",
                 "--scheduler", "healthd.beat:Scheduler"],
    }
    processes: dict[str, subprocess.Popen] = {}
    samples: list[dict] = []
    try:
        for name, command in commands.items():
            log = open(out / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
            processes[name] = subprocess.Popen(command, cwd=ROOT, stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True)
        print(f"dead channel: {'none (baseline)' if args.baseline else webhook}; logs and "
              f"samples in {out}", flush=True)
        started = time.monotonic()
        time.sleep(args.sample)  # the first sample once the worker is up
        seconds = args.minutes * 60
        while True:
            dead = [name for name, process in processes.items() if process.poll() is not None]
            if dead:
                raise SystemExit(f"{', '.join(dead)} exited; see {out}/*.log")
            worker = processes["worker"].pid
            rss = {"worker": _rss_mb(worker)}
            for index, child in enumerate(_children(worker), start=1):
                rss[f"pool {index} (pid {child})"] = _rss_mb(child)
            retrying, attempts = _retrying()
            sample = {"t": time.time(), "retrying": retrying, "attempts": attempts,
                      "rss": {name: mb for name, mb in rss.items() if mb is not None}}
            samples.append(sample)
            with (out / "samples.jsonl").open("a") as handle:
                handle.write(json.dumps(sample) + "\n")
            pools = ", ".join(f"{mb:.1f}" for name, mb in sample["rss"].items()
                              if name.startswith("pool"))
            print(f"{(time.monotonic() - started) / 60:5.1f} min: worker "
                  f"{sample['rss'].get('worker', 0):.1f} MB, pool {pools} MB; "
                  f"{retrying} deliveries retrying, {attempts} attempts", flush=True)
            if time.monotonic() - started >= seconds:
                break
            time.sleep(max(0.0, args.sample - (time.monotonic() - started) % args.sample))
    finally:
        for process in processes.values():
            _stop(process)
        with contextlib.suppress(Exception):
            _stop(redis_server)
    print()
    print("\n".join(_slopes(samples)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--interval", type=float, default=1, help="seconds between runs")
    parser.add_argument("--sample", type=float, default=30, help="seconds between samples")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes")
    parser.add_argument("--webhook", help="the dead webhook (default: a closed local port)")
    parser.add_argument("--retry-for", type=float, default=3600,
                        help="NOTIFY_RETRY_FOR: seconds a delivery is retried (default an hour)")
    parser.add_argument("--baseline", action="store_true",
                        help="no channel at all: what the runs alone cost")
    parser.add_argument("--out", help="folder for samples and logs (default: a new temp one)")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
