"""A bounded load run: heartbeats at full speed while the checks run and one flips.

Starts gunicorn (2 workers), a Celery worker and beat on the standalone site with every
check run each second and one check (bench.checks.flapping) failing every other five
seconds; then wrk sends /__heartbeat__ for ``--seconds`` (default 30) on loopback and
reports every status code seen, socket errors, and p50 / p99 latency. The only status
other than 200 should be the intended 500 of the flapping windows.

    python -m bench.load [--seconds 30] [--connections 16]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from bench.heartbeat import _free_port, _parse_wrk, _wait_until_serving

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")

    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings_load"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    env = {**os.environ, "REDIS_URL": settings.REDIS_URL, "C_FORCE_ROOT": "1"}
    port = _free_port()
    python = sys.executable
    commands = {
        "web": [python, "-m", "gunicorn", "bench.wsgi:application", "--bind",
                f"127.0.0.1:{port}", "--workers", "2", "--log-level", "warning"],
        "worker": [python, "-m", "celery", "-A", "healthd.site", "worker", "--loglevel",
                   "WARNING", "--concurrency", "2"],
        "beat": [python, "-m", "celery", "-A", "healthd.site", "beat", "--loglevel", "WARNING",
                 "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
                 "--max-interval", "1"],
    }
    processes = {
        name: subprocess.Popen(command, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name, command in commands.items()
    }
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_serving(base + "/__lbheartbeat__")
        deadline = time.monotonic() + 60
        import urllib.error
        import urllib.request

        while time.monotonic() < deadline:  # until the first run has been stored
            try:
                urllib.request.urlopen(base + "/__heartbeat__", timeout=2)  # noqa: S310
                break
            except urllib.error.HTTPError as error:
                if error.code == 500 and int(time.time() // 5) % 2:
                    break  # red because of the flapping window: the checks are running
            except OSError:
                pass
            time.sleep(0.5)
        out = subprocess.run(
            ["wrk", "-t2", "-c", str(args.connections), "-d", str(args.seconds), "--latency",
             "-s", os.path.join(HERE, "statuses.lua"), base + "/__heartbeat__"],
            capture_output=True, text=True, check=False,
        )
        if out.returncode:
            raise SystemExit(f"wrk failed: {out.stderr or out.stdout}")
        out = out.stdout
    finally:
        for process in processes.values():
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            process.wait(15)
    row = _parse_wrk(out)
    statuses = dict(re.findall(r"status (\d+): (\d+)", out))
    print(f"{args.seconds} s of /__heartbeat__ from wrk -t2 -c{args.connections} on loopback, "
          "checks run every second, one flipping every 5 s")
    print(f"requests/s {row['rps']:.0f}; p50 {row['p50']:.2f} ms; p99 {row['p99']:.2f} ms")
    print("responses by status: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
    print(f"socket errors: {row['socket_errors'] or 'none'}")
    unexpected = {k: v for k, v in statuses.items() if k not in ("200", "500")}
    if unexpected or row["p99"] > 100:
        raise SystemExit(f"FAILED: unexpected statuses {unexpected} or p99 over 100 ms")


if __name__ == "__main__":
    main()
