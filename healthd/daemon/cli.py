"""The ``healthd`` command.

``healthd run`` starts the whole daemon: migrate, then web, worker and beat under one
supervisor that restarts any of them that dies; it says what it waits for until the
first results are in, then one line per change; Ctrl-C (or SIGTERM) stops all of it.
Anything else is a Django management command run with ``DJANGO_SETTINGS_MODULE``
(default: the standalone site), e.g. ``healthd migrate``, ``healthd healthd_check``,
``healthd status health -e``. Whatever started the embedded Redis stops it on the way out.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import IO

import django
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command, execute_from_command_line

from healthd.daemon import embedded
from healthd.daemon.progress import Progress
from healthd.daemon.supervisor import Supervisor
from healthd.util import extras

DEFAULT_SETTINGS = "healthd.site.settings"
# How often ``healthd run`` reaps and restarts processes, and reads the store.
TICK = 0.25
POLL_EVERY = 0.5
USAGE = """usage: healthd run [--asgi]

Migrates, then runs web (gunicorn; with --asgi, uvicorn), worker and beat, restarting any
that dies, until
Ctrl-C or SIGTERM. Configured from the environment: PORT (8000), HEALTHD_BIND
(127.0.0.1), HEALTHD_STATE_DIR (./.state), DATABASE_URL, REDIS_URL... (see README.md).
"""


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", DEFAULT_SETTINGS)
    django.setup()


def worker_name() -> str:
    """The full name of ``healthd run``'s worker, which its celery check expects."""
    return f"healthd@{socket.gethostname()}"


def processes(port: int, host: str, asgi: bool = False) -> dict[str, list[str]]:
    """The Procfile's processes, as ``healthd run`` starts them (web under uvicorn with
    ``asgi``, where the health views are async views)."""
    python = sys.executable
    web = [python, "-m", "gunicorn", "healthd.site.wsgi:application",
           "--bind", f"{host}:{port}", "--workers", "2",
           "-c", "python:healthd.site.gunicorn_conf"]
    if asgi:
        web = [python, "-m", "uvicorn", "healthd.site.asgi:application",
               "--host", host, "--port", str(port), "--workers", "2", "--no-access-log"]
    return {
        "web": web,
        "worker": [python, "-m", "celery", "-A", "healthd.site", "worker", "--loglevel", "INFO",
                   "--concurrency", "2", "--hostname", worker_name(), "--without-mingle",
                   "--without-gossip"],
        "beat": [python, "-m", "celery", "-A", "healthd.site", "beat", "--loglevel", "INFO",
                 "--scheduler", "healthd.beat:Scheduler"],
    }


def port_problem(host: str, port: int) -> str | None:
    """Why gunicorn could not listen on host:port, or None when it can."""
    def refusal(candidate: int) -> OSError | None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
            try:
                probe.bind((host, candidate))
            except OSError as exc:
                return exc
        return None

    error = refusal(port)
    if error is None:
        return None
    free = next((p for p in range(port + 1, min(port + 50, 65536)) if refusal(p) is None), None)
    hint = (f"choose another port with PORT, e.g. `PORT={free} healthd run`" if free
            else "choose another port with PORT (e.g. `PORT=8080 healthd run`)")
    if error.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is already taken by another program; {hint}"
    if error.errno == errno.EACCES:
        return f"not allowed to listen on port {port} on {host}; {hint}"
    return f"cannot listen on {host}:{port} ({error.strerror}); {hint} or HEALTHD_BIND"


def take_run_lock(state_dir: Path) -> tuple[IO[str] | None, str]:
    """Hold the state folder for this ``healthd run``; (None, who holds it) when taken."""
    handle = open(state_dir / "run.lock", "a+")  # noqa: SIM115 - held until the run ends
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        return None, holder
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    return handle, ""


def _refuse(reason: str) -> int:
    print(f"healthd: {reason}", file=sys.stderr, flush=True)
    return 2


def run(argv: list[str]) -> int:
    """Check the state folder and the port, migrate, then supervise web, worker and beat."""
    asgi = argv == ["--asgi"]
    if argv and not asgi:
        wants_help = argv[0] in ("-h", "--help")
        print(USAGE, file=sys.stdout if wants_help else sys.stderr)
        return 0 if wants_help else 2
    port = int(os.environ.get("PORT", "8000"))
    host = os.environ.get("HEALTHD_BIND", "127.0.0.1")
    _setup()
    state_dir = Path(getattr(settings, "STATE_DIR", ".state"))
    lock, holder = take_run_lock(state_dir)
    if lock is None:
        return _refuse(
            f"another `healthd run` ({holder or 'starting'}) already uses the state folder "
            f"{state_dir.resolve()} (its database, its embedded Redis); stop it first, or give "
            "this one a folder and a port of its own: HEALTHD_STATE_DIR=... PORT=... healthd run")
    try:
        problem = port_problem(host, port)
        if problem:
            return _refuse(problem)
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - shown, not bound
        heartbeat = f"http://{shown}:{port}/__heartbeat__"
        lock.write(f", heartbeat at {heartbeat}")
        lock.flush()
        started_at = time.time()
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        return _supervise(processes(port, host, asgi), _children_env(), heartbeat, started_at)
    finally:
        lock.close()


def _children_env() -> dict[str, str]:
    """This environment, plus what web, worker and beat must share with this process."""
    env = dict(os.environ)
    # The embedded one, when none was given (a setting of the standalone site only).
    env["REDIS_URL"] = str(getattr(settings, "REDIS_URL", ""))
    env["DJANGO_SETTINGS_MODULE"] = os.environ["DJANGO_SETTINGS_MODULE"]
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("STATUS_CELERY_WORKERS", worker_name())  # no wait for others' replies
    return env


def _supervise(programs: dict[str, list[str]], env: dict[str, str], heartbeat: str,
               started_at: float) -> int:
    """Run the programs until SIGINT or SIGTERM, telling the user what happens."""
    def say(text: str) -> None:
        supervisor.write(f"healthd: {text}\n".encode())

    supervisor = Supervisor(programs, env, say, sys.stdout.buffer)
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        supervisor.start()
        say(f"heartbeat at {heartbeat} (admin at /admin/, status at /status/); "
            "Ctrl-C stops web, worker and beat")
        watch = Progress(say, started_at)
        next_poll = 0.0
        while not stopping.wait(TICK):
            supervisor.check()
            if time.monotonic() >= next_poll:
                try:
                    watch.poll()
                except (ImproperlyConfigured, OSError) as exc:
                    # a bad HEALTHD["CHECKS"] or an output gone: the supervising goes on
                    say(f"could not read the results: {type(exc).__name__}")
                next_poll = time.monotonic() + POLL_EVERY
    finally:
        say("stopping web, worker and beat")
        supervisor.stop()
        restarts = {n: c for n, c in supervisor.restart_counts().items() if c}
        say(f"stopped (restarts: {', '.join(f'{n} {c}' for n, c in restarts.items()) or 'none'})")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def missing_standalone(argv: list[str]) -> str | None:
    """Why this command cannot run on the core install, or None: ``healthd run`` and the
    standalone site (``DJANGO_SETTINGS_MODULE`` unset) need the standalone extra."""
    if not extras.missing(extras.STANDALONE):
        return None
    if argv[:1] == ["run"]:
        return extras.needs("healthd run", "standalone")
    if "DJANGO_SETTINGS_MODULE" not in os.environ:
        command = " ".join(["healthd", *argv[:1]])
        return extras.needs(f"{command} on the standalone site (DJANGO_SETTINGS_MODULE unset)",
                            "standalone")
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    problem = missing_standalone(argv)
    if problem:
        print(problem, file=sys.stderr, flush=True)
        return 2
    try:
        if argv[:1] == ["run"]:
            return run(argv[1:])
        if argv[:1] == ["ping"]:  # `healthd ping NAME -- command…`
            argv[0] = "healthd_ping"
        _setup()
        execute_from_command_line(["healthd", *argv])
        return 0
    finally:
        embedded.stop_owned_redis()  # only if this process started it


if __name__ == "__main__":
    raise SystemExit(main())
