"""Test settings: the machine's PostgreSQL and Redis when DATABASE_URL / REDIS_URL are
given (CI), else SQLite and the embedded Redis. Every key this run writes carries a
prefix of its own, and its Celery queue is its own, so tests never touch other data.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import environ

from healthd.daemon.embedded import broker_url, ensure_redis

env = environ.Env()
# The tests' folder (the state folder stays tests/.state, beside the site, not in it).
BASE_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = Path(env.str("HEALTHD_TEST_STATE_DIR", default=str(BASE_DIR / ".state")))
STATE_DIR.mkdir(parents=True, exist_ok=True)

# One id per test session, handed to the worker and beat processes it starts.
RUN_ID = os.environ.setdefault("HEALTHD_TEST_RUN_ID", uuid.uuid4().hex[:12])

SECRET_KEY = "tests-secret-key-not-for-production-0123456789"
DEBUG = False
ALLOWED_HOSTS = ["*"]

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
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.site.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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
    "default": env.db("DATABASE_URL", default=f"sqlite:///{STATE_DIR / 'tests.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not memory, so the worker process shares the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(STATE_DIR / f"test-{RUN_ID}.sqlite3")}
    DATABASES["default"]["OPTIONS"] = {"timeout": 20}
elif DATABASES["default"]["ENGINE"].endswith("mysql"):
    # MySQL / MariaDB: four-byte UTF-8 (a check's message may hold any character), and a
    # test database of this run's own name, made with the same character set.
    DATABASES["default"]["OPTIONS"] = {"charset": "utf8mb4"}
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}",
                                    "CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
# The worker process is pointed at the test database by name (and, in the fault suite,
# through a proxy that the test can cut).
if os.environ.get("HEALTHD_TEST_WORKER_DB_NAME"):
    DATABASES["default"]["NAME"] = os.environ["HEALTHD_TEST_WORKER_DB_NAME"]
if os.environ.get("HEALTHD_TEST_DB_PORT"):
    DATABASES["default"]["HOST"] = "127.0.0.1"
    DATABASES["default"]["PORT"] = os.environ["HEALTHD_TEST_DB_PORT"]

# Started here when there is no REDIS_URL, and stopped by the session that started it.
REDIS_URL = env.str("REDIS_URL", default="") or ensure_redis(STATE_DIR)
KEY_PREFIX = f"healthd-test:{RUN_ID}:"
# The broker is Redis unless a test's worker is given another (RabbitMQ: tests/support/rabbitmq.py).
CELERY_BROKER_URL = env.str("HEALTHD_TEST_BROKER_URL", default="") or broker_url(REDIS_URL)
# The fault suite's processes get a queue of their own, apart from the session's worker.
CELERY_TASK_DEFAULT_QUEUE = env.str("HEALTHD_TEST_QUEUE", default="") or f"healthd-test-{RUN_ID}"
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Control messages (ping) are broadcast: keep them apart from other runs too.
CELERY_CONTROL_EXCHANGE = f"healthd-test-{RUN_ID}"
if CELERY_BROKER_URL.startswith(("redis", "unix")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": KEY_PREFIX}

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "redis": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": KEY_PREFIX,
    },
}

# The fault suite gives the result store a redis-server of its own, which it kills.
STORE_URL = env.str("HEALTHD_TEST_STORE_URL", default="") or REDIS_URL
FAULT_CHECKS = [
    {"check": "database", "aliases": ["default"], "timeout": 3},
    {"check": "tests.site.faultchecks.flappy", "name": "flappy", "timeout": 3},
    {"check": "tests.site.faultchecks.hanging", "name": "hanging", "timeout": 1, "critical": False},
]
HEALTHD = {
    "REDIS_URL": STORE_URL,
    "KEY_PREFIX": KEY_PREFIX,
    "CHECKS": [
        {"check": "database", "aliases": ["default"]},
        {"check": "migrations", "aliases": ["default"]},
        "cache",
        "redis",
        "celery",
        "email",
        "storage",
    ],
    "INTERVAL": env.float("HEALTHD_TEST_INTERVAL", default=30.0),
    # The alerting tests see each transition's own notification at once; the grouping
    # tests (tests/alerting/test_grouping*.py) set their own GROUP_WAIT.
    "GROUP_WAIT": 0,
}
if env.str("HEALTHD_TEST_CHECKS", default="") == "fault":
    HEALTHD["CHECKS"] = FAULT_CHECKS
# A worker process started by a test gets that test's HEALTHD keys (NOTIFY, KEY_PREFIX…).
HEALTHD.update(json.loads(env.str("HEALTHD_TEST_OVERRIDES", default="{}")))
# The beat outage tests re-read the schedule every few seconds, not every five minutes.
if env.str("HEALTHD_TEST_SCHEDULE_REFRESH", default=""):
    HEALTHD["SCHEDULE_REFRESH_SECONDS"] = env.float("HEALTHD_TEST_SCHEDULE_REFRESH")

EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MEDIA_ROOT = str(STATE_DIR / "media")
STATIC_URL = "/static/"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
