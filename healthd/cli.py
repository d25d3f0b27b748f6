"""The ``healthd`` command.

``healthd run`` starts the whole daemon (migrate, then web, worker and beat under one
supervisor; Ctrl-C stops all of it). Anything else is a Django management command run
with ``DJANGO_SETTINGS_MODULE`` (default: the standalone site), e.g. ``healthd migrate``,
``healthd healthd_check``, ``healthd status health -e``.
"""

from __future__ import annotations

import contextlib
import os
import sys

DEFAULT_SETTINGS = "healthd.site.settings"


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", DEFAULT_SETTINGS)
    import django

    django.setup()


def processes(port: int, host: str) -> dict[str, str]:
    """The Procfile's processes, for the supervisor."""
    python = sys.executable
    return {
        "web": f"{python} -m gunicorn healthd.site.wsgi:application "
               f"-c python:healthd.site.gunicorn_conf --bind {host}:{port} --workers 2",
        "worker": f"{python} -m celery -A healthd.site worker --loglevel INFO --concurrency 2",
        "beat": f"{python} -m celery -A healthd.site beat --loglevel INFO "
                "--scheduler healthd.beat:Scheduler",
    }


def run(argv: list[str]) -> int:
    """Migrate, collect static files, then supervise web, worker and beat."""
    from django.conf import settings
    from django.core.management import call_command
    from honcho.manager import Manager

    port = int(os.environ.get("PORT", "8000"))
    host = os.environ.get("HEALTHD_BIND", "127.0.0.1")
    _setup()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    env = dict(os.environ)
    env["REDIS_URL"] = settings.REDIS_URL  # the embedded one, when none was given
    env["DJANGO_SETTINGS_MODULE"] = os.environ["DJANGO_SETTINGS_MODULE"]
    env["PYTHONUNBUFFERED"] = "1"
    manager = Manager()
    for name, command in processes(port, host).items():
        manager.add_process(name, command, env=env)
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - shown, not bound
    print(f"healthd: heartbeat at http://{shown}:{port}/__heartbeat__ "
          f"(admin at /admin/, status at /status/); Ctrl-C stops web, worker and beat",
          flush=True)
    try:
        manager.loop()
    finally:
        if not os.environ.get("REDIS_URL"):
            _stop_embedded_redis(settings.REDIS_URL)
    return manager.returncode or 0


def _stop_embedded_redis(url: str) -> None:
    """Ctrl-C stops all of it: the embedded Redis too (its data is saved in the state folder)."""
    import redis

    # Shutdown closes the connection as the server exits, which redis-py reports.
    with contextlib.suppress(redis.ConnectionError, redis.ResponseError):
        redis.Redis.from_url(url, socket_timeout=2).shutdown(save=True)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"]:
        return run(argv[1:])
    _setup()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["healthd", *argv])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
