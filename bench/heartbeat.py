"""Benchmark the health probes against a trivial view and a bare answer, in one run.

Serves the benchmark site twice on loopback, each with 2 worker processes: gunicorn (sync
workers, :mod:`bench.wsgi`) and uvicorn (:mod:`bench.asgi`). Writes real results with
the real runner, then measures with wrk (Debian's ``wrk``) the requests per second and
p50 / p99 latency of:

- under gunicorn: a bare WSGI answer (no Django), the trivial Django view, each probe
  through Django, and each probe through ``healthd.wsgi.probes``;
- under a second gunicorn with ``HEALTHD["LOCAL_CHECKS"] = []``: the bare answer, the
  trivial view and ``/readyz`` both ways, so the cost of the local checks (on in the
  first) is printed from the same run: the early ``/readyz`` over the bare answer, off
  and on;
- under uvicorn: a bare ASGI answer, the trivial coroutine view, each probe through
  Django (coroutine views) and each through ``healthd.asgi.probes``.

Every path is measured in interleaved rounds (a busy neighbour hurts every path alike)
and its median printed with two ratios from the same run: to the trivial view of its
server, and to the bare answer of its server.

    python -m bench.heartbeat [--seconds 5] [--rounds 3] [--connections 16] [--only PATH ...]

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
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass

# The probes healthd.wsgi.probes and healthd.asgi.probes answer.
EARLY_PROBES = ["/__lbheartbeat__", "/livez", "/__heartbeat__", "/readyz", "/healthz",
                "/watchman/bare/"]
# Heavier views, through Django only.
DJANGO_ONLY = ["/status/api/health/", "/watchman/"]


@dataclass(frozen=True)
class Target:
    server: str  # "gunicorn" or "uvicorn"
    label: str
    path: str


def targets() -> list[Target]:
    found = [Target("gunicorn", "bare WSGI answer", "/bare"),
             Target("gunicorn", "trivial Django view", "/trivial")]
    found += [Target("gunicorn", f"{p} through Django", p) for p in [*EARLY_PROBES, *DJANGO_ONLY]]
    found += [Target("gunicorn", f"{p} through healthd.wsgi.probes", "/early" + p)
              for p in EARLY_PROBES]
    # The same gunicorn site with HEALTHD["LOCAL_CHECKS"] = [] (bench.settings reads
    # BENCH_LOCAL_CHECKS): /readyz before and after the local checks, in one run.
    found += [Target("gunicorn-off", "bare WSGI answer (local checks off)", "/bare"),
              Target("gunicorn-off", "trivial Django view (local checks off)", "/trivial"),
              Target("gunicorn-off", "/readyz through Django (local checks off)", "/readyz"),
              Target("gunicorn-off", "/readyz through healthd.wsgi.probes (off)",
                     "/early/readyz")]
    found += [Target("uvicorn", "bare ASGI answer", "/bare"),
              Target("uvicorn", "trivial async Django view", "/trivial-async")]
    found += [Target("uvicorn", f"{p} through Django (async view)", p)
              for p in [*EARLY_PROBES, "/watchman/"]]
    found += [Target("uvicorn", f"{p} through healthd.asgi.probes", "/early" + p)
              for p in EARLY_PROBES]
    return found


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
    raise SystemExit(f"the server did not answer {url} within {timeout:g} s")


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


def _wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t2", "-c", str(connections), "-d", str(seconds),
                          "--latency", url], capture_output=True, text=True, check=True).stdout
    return _parse_wrk(out)


def _start(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(command, env=env, start_new_session=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="+", default=(), metavar="PATH",
                        help="measure only these paths (and the yardsticks), e.g. /watchman/")
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

    env = {**os.environ, "REDIS_URL": settings.REDIS_URL}
    ports = {"gunicorn": _free_port(), "gunicorn-off": _free_port(), "uvicorn": _free_port()}
    python = sys.executable
    servers = [
        _start([python, "-m", "gunicorn", "bench.wsgi:application", "--bind",
                f"127.0.0.1:{ports['gunicorn']}", "--workers", str(args.workers),
                "--log-level", "warning"], env),
        _start([python, "-m", "gunicorn", "bench.wsgi:application", "--bind",
                f"127.0.0.1:{ports['gunicorn-off']}", "--workers", str(args.workers),
                "--log-level", "warning"], {**env, "BENCH_LOCAL_CHECKS": "off"}),
        _start([python, "-m", "uvicorn", "bench.asgi:application", "--host", "127.0.0.1",
                "--port", str(ports["uvicorn"]), "--workers", str(args.workers),
                "--log-level", "warning", "--no-access-log"], env),
    ]
    yardstick_paths = {"/bare", "/trivial", "/trivial-async"}
    chosen = [t for t in targets() if not args.only or t.path in yardstick_paths
              or t.path.removeprefix("/early") in args.only]
    runs: dict[Target, list[dict]] = {t: [] for t in chosen}
    try:
        base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        for server in base:
            _wait_until_serving(base[server] + "/__lbheartbeat__")
        for target in chosen:  # warm-up
            _wrk(base[target.server] + target.path, 1, args.connections)
        # Interleaved rounds, median per path: a busy neighbour hurts every path alike.
        for _ in range(args.rounds):
            for target in chosen:
                runs[target].append(_wrk(base[target.server] + target.path, args.seconds,
                                         args.connections))
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
        for server in servers:
            server.wait(15)

    rows = {}
    for target, measured in runs.items():
        by_rps = sorted(measured, key=lambda r: r["rps"])
        rows[target] = dict(by_rps[len(by_rps) // 2])
        rows[target]["non2xx"] = sum(r["non2xx"] for r in measured)
    yardsticks = {"gunicorn": ("/trivial", "/bare"), "gunicorn-off": ("/trivial", "/bare"),
                  "uvicorn": ("/trivial-async", "/bare")}
    print(f"{args.workers} worker processes each; wrk -t2 -c{args.connections} -d{args.seconds}s "
          f"x {args.rounds} interleaved rounds (median) on loopback; os.cpu_count()="
          f"{os.cpu_count()}")
    print(f"{'server':12} {'what':46} {'req/s':>8} {'/trivial':>8} {'/bare':>6} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>8}")
    for target, row in rows.items():
        trivial, bare = (next(rows[t]["rps"] for t in rows
                              if t.server == target.server and t.path == path)
                         for path in yardsticks[target.server])
        print(f"{target.server:12} {target.label:46} {row['rps']:8.0f} "
              f"{row['rps'] / trivial:8.2f} {row['rps'] / bare:6.2f} {row['p50']:7.2f} "
              f"{row['p99']:7.2f} {row['non2xx']:8d}")
    _print_local_checks_cost(rows)


def _print_local_checks_cost(rows: dict[Target, dict]) -> None:
    """The early /readyz against the bare answer of its own server, local checks off and on."""
    ratios, early = {}, {}
    for server in ("gunicorn-off", "gunicorn"):
        found = {t.path: row["rps"] for t, row in rows.items() if t.server == server}
        if "/early/readyz" in found and "/bare" in found:
            ratios[server] = found["/early/readyz"] / found["/bare"]
            early[server] = found["/early/readyz"]
    if len(ratios) == 2:
        print(f"early /readyz / bare WSGI answer: local checks off {ratios['gunicorn-off']:.2f}, "
              f"on {ratios['gunicorn']:.2f} (goal >= 0.90); early /readyz on / off: "
              f"{early['gunicorn'] / early['gunicorn-off']:.2f}")


if __name__ == "__main__":
    main()
