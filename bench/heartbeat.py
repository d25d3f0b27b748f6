"""Benchmark the health views against a trivial Django view, in one run.

Serves the standalone site with gunicorn (2 sync workers) on loopback, writes real
results with the real runner, then for each path measures, with wrk (Debian's ``wrk``):
requests per second and p50 / p99 latency; and in-process microseconds per request
(Django's test client, no network). Every figure is printed with its ratio to the
trivial view measured in the same run.

    python -m bench.heartbeat [--seconds 5] [--rounds 3] [--connections 16]

Uses REDIS_URL / DATABASE_URL when set, else the embedded defaults. Not part of the
test run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

PATHS = ["/trivial", "/__lbheartbeat__", "/__heartbeat__", "/status/api/health/", "/watchman/",
         "/healthz"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_serving(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 - loopback only
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer {url} within {timeout:g} s")


def _parse_wrk(output: str) -> dict[str, float]:
    def millis(text: str) -> float:
        value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = millis(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
    p99 = millis(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    return {"rps": rps, "p50": p50, "p99": p99, "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(0) if errors else ""}


def in_process_us(path: str, count: int = 2000) -> float:
    from django.test import Client

    client = Client()
    for _ in range(100):
        client.get(path)
    started = time.perf_counter()
    for _ in range(count):
        client.get(path)
    return (time.perf_counter() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")

    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from healthd.tasks.run import run_and_record

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    summary = run_and_record()
    failing = [r.name for r in summary.results if r.status != "passing"]
    if failing:
        print(f"warning: not passing before the run: {failing}")

    port = _free_port()
    env = {**os.environ, "REDIS_URL": settings.REDIS_URL}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "bench.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", str(args.workers), "--log-level", "warning"],
        env=env, start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_serving(base + "/trivial")
        for path in PATHS:  # warm-up
            subprocess.run(["wrk", "-t2", "-c", str(args.connections), "-d", "1", base + path],
                           capture_output=True, check=True)
        runs: dict[str, list[dict]] = {path: [] for path in PATHS}
        # Interleaved rounds, median per path: a busy neighbour hurts every path alike.
        for _ in range(args.rounds):
            for path in PATHS:
                out = subprocess.run(
                    ["wrk", "-t2", "-c", str(args.connections), "-d", str(args.seconds),
                     "--latency", base + path],
                    capture_output=True, text=True, check=True,
                ).stdout
                runs[path].append(_parse_wrk(out))
        rows = {}
        for path, measured in runs.items():
            by_rps = sorted(measured, key=lambda r: r["rps"])
            rows[path] = dict(by_rps[len(by_rps) // 2])
            rows[path]["non2xx"] = sum(r["non2xx"] for r in measured)
        in_process: dict[str, list[float]] = {path: [] for path in PATHS}
        for _ in range(5):  # interleaved too
            for path in PATHS:
                in_process[path].append(in_process_us(path, 1000))
        for path in PATHS:
            rows[path]["us"] = statistics.median(in_process[path])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)

    trivial = rows["/trivial"]
    print(f"gunicorn {args.workers} sync workers, wrk -t2 -c{args.connections} "
          f"-d{args.seconds}s x {args.rounds} interleaved rounds (median) on loopback; "
          "ratios are against /trivial in this run")
    print(f"{'path':24} {'req/s':>9} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'in-proc us':>10} {'ratio':>6} {'non-2xx':>8}")
    for path, row in rows.items():
        print(f"{path:24} {row['rps']:9.0f} {row['rps'] / trivial['rps']:6.2f} "
              f"{row['p50']:7.2f} {row['p99']:7.2f} {row['us']:10.1f} "
              f"{trivial['us'] / row['us']:6.2f} {row['non2xx']:8d}")


if __name__ == "__main__":
    main()
