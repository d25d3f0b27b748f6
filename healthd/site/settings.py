"""The standalone healthd site: every setting from the environment (django-environ).

DATABASE_URL (default SQLite in the state folder), REDIS_URL (default an embedded
Redis, started here and stopped when this process exits), SENTRY_DSN, SECRET_KEY,
DEBUG, ALLOWED_HOSTS, HEALTHD_TOKENS, HEALTHD_EXTRA_CHECKS, PORT (read by the
launcher); README.md lists them all.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from healthd.daemon.embedded import broker_url, ensure_redis
from healthd.util import extras

if extras.missing(extras.STANDALONE):  # the core install: a site brings its own settings
    raise ImproperlyConfigured(extras.needs("healthd's standalone site (healthd.site.settings)",
                                            "standalone"))

# After the check above, so the core install is told which extra brings it.
import environ

env = environ.Env()


def _env_names(name: str) -> list[str]:
    """A comma-separated variable as a list, blanks around each item dropped."""
    return [item.strip() for item in env.list(name, default=[]) if item.strip()]


BASE_DIR = Path(env.str("HEALTHD_BASE_DIR", default=os.getcwd()))
STATE_DIR = Path(env.str("HEALTHD_STATE_DIR", default=str(BASE_DIR / ".state")))
STATE_DIR.mkdir(parents=True, exist_ok=True)


def _local_secret_key() -> str:
    """A key kept in the state folder, so a laptop needs no setup and no key is committed."""
    path = STATE_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _local_secret_key()
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "healthd",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "healthd.middleware.RequestSummaryMiddleware",
]

ROOT_URLCONF = "healthd.site.urls"
WSGI_APPLICATION = "healthd.site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{STATE_DIR / 'healthd.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # web, worker and beat share the file: wait for a lock rather than fail.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"].endswith(("postgresql", "mysql")):
        # A database that stops answering must fail the database check, not hang the run.
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    if DATABASES["default"]["ENGINE"].endswith("mysql"):
        # MySQL / MariaDB: four-byte UTF-8, as a check's message may hold any character.
        DATABASES["default"]["OPTIONS"].setdefault("charset", "utf8mb4")

REDIS_URL = env.str("REDIS_URL", default="") or ensure_redis(STATE_DIR)

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL},
}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or broker_url(REDIS_URL)
# django-celery-beat's scheduler, made to outlive a database outage.
CELERY_BEAT_SCHEDULER = "healthd.beat:Scheduler"
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A pool process is replaced after this many tasks (0: never). What a long-lived process
# keeps per run outside healthd's reach (kombu's and Celery's per-connection and per-task
# bookkeeping, reference cycles) is then bounded by this many runs, not by its uptime;
# measured in the README's soak.
CELERY_WORKER_MAX_TASKS_PER_CHILD = env.int("CELERY_WORKER_MAX_TASKS_PER_CHILD",
                                            default=1000) or None
# Full worker names (celery@host) the celery check expects; `healthd run` names its own.
STATUS_CELERY_WORKERS = _env_names("STATUS_CELERY_WORKERS")

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.locmem.EmailBackend")

HEALTHD = {
    "REDIS_URL": REDIS_URL,
    "KEY_PREFIX": env.str("HEALTHD_KEY_PREFIX", default="healthd:"),
    "SENTRY_CRONS": env.bool("HEALTHD_SENTRY_CRONS", default=False),
    "INTERVAL": env.float("HEALTHD_INTERVAL", default=30.0),
    # A JSON list of channels: Apprise URLs or dicts (see the README's Notifications).
    "NOTIFY": env.json("HEALTHD_NOTIFY", default=[]),
    "REMIND_EVERY": env.float("HEALTHD_REMIND_EVERY", default=None),
    # Transitions close together reach a channel as one notification (0: one each).
    "GROUP_WAIT": env.float("HEALTHD_GROUP_WAIT", default=10.0),
    "GROUP_INTERVAL": env.float("HEALTHD_GROUP_INTERVAL", default=60.0),
    # Tokens that unlock per-check details (?watchman-token=...), comma-separated.
    "TOKENS": _env_names("HEALTHD_TOKENS"),
    # /status/uptime/ and the badges for anyone; GROUPS as JSON: {"Website": ["database"]}.
    "PUBLIC_STATUS_PAGE": env.bool("HEALTHD_PUBLIC_STATUS_PAGE", default=False),
    "GROUPS": env.json("HEALTHD_GROUPS", default=None),
    # Seconds each web process keeps its local checks' answers (/readyz).
    "LOCAL_CHECK_SECONDS": env.float("HEALTHD_LOCAL_CHECK_SECONDS", default=5.0),
    # Above this fraction of the live pods, a failing local check is shared (1: off).
    "LOCAL_SHARED_FRACTION": env.float("HEALTHD_LOCAL_SHARED_FRACTION", default=0.5),
    # Seconds /readyz answers 503 "draining" after SIGTERM, before the server stops.
    "DRAIN_SECONDS": env.float("HEALTHD_DRAIN_SECONDS", default=5.0),
    # Seconds a gunicorn worker serves before a fresh one replaces it (0: never).
    "RECYCLE_SECONDS": env.float("HEALTHD_RECYCLE_SECONDS", default=21600.0),
    # The name this pod publishes its state under (default: HOSTNAME, else the host name),
    # and how long it may stay unready before that is a transition.
    "INSTANCE": env.str("HEALTHD_INSTANCE", default="") or None,
    "INSTANCE_GRACE": env.float("HEALTHD_INSTANCE_GRACE", default=60.0),
}

# Checks of the site's own (dotted paths, comma-separated), run beside the built-ins.
_extra_checks = _env_names("HEALTHD_EXTRA_CHECKS")
if _extra_checks:
    # The built-ins this site's settings make meaningful, as healthd's default list
    # picks them (checks.registry.default_names; a test keeps the two in step).
    HEALTHD["CHECKS"] = [
        "database", "migrations", "cache", "redis", "celery",
        *(["email"] if EMAIL_BACKEND and "dummy" not in EMAIL_BACKEND else []),
        "storage",
        *_extra_checks,
    ]

MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(STATE_DIR / "media"))
STATIC_URL = "/static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(STATE_DIR / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOG_FORMAT = env.str("LOG_FORMAT", default="text")  # "json": mozlog, as dockerflow logs
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "healthd.logging.MozlogFormatter", "logger_name": "healthd"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    # Every line one line, bounded and redacted, whichever library logged it.
    "filters": {"one_line": {"()": "healthd.logging.OneLineFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["one_line"],
                    "formatter": "json" if LOG_FORMAT == "json" else "text"},
    },
    # Not propagated: a Celery worker gives the root logger a handler of its own, which
    # would write each of these lines a second time.
    "loggers": {
        "healthd": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO"),
                    "propagate": False},
        "request.summary": {"handlers": ["console"],
                            "level": "INFO" if LOG_FORMAT == "json" else "WARNING",
                            "propagate": False},
        # A failed notification attempt as Apprise tells it, through the same filter.
        "apprise": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}

SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    import sentry_sdk

    from healthd.logging import sentry_traces_sampler

    sentry_sdk.init(dsn=SENTRY_DSN, send_default_pii=False,
                    environment=env.str("SENTRY_ENVIRONMENT", default="production"),
                    traces_sampler=sentry_traces_sampler)
