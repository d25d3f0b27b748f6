"""Each built-in check against the real service, up and failing."""

from __future__ import annotations

import os

import pytest
from django.db import connection, connections
from django.test import override_settings

from healthd.checks.base import Check, Status
from healthd.checks.cache import Cache
from healthd.checks.database import Database
from healthd.checks.email import Email
from healthd.checks.migrations import Migrations
from healthd.checks.redis import Redis
from healthd.checks.runner import run_concurrently
from healthd.checks.storage import Storage


def _run(probe, name="check", timeout=10.0):
    (result,) = run_concurrently([Check(name, probe.run, timeout=timeout)])
    return result


@pytest.fixture
def unreachable_database():
    """A second alias whose server is not there (a closed port, or a path that cannot exist)."""
    if connection.vendor == "postgresql":
        config = {**connection.settings_dict, "HOST": "127.0.0.1", "PORT": "1", "NAME": "nope"}
    else:
        config = {**connection.settings_dict, "NAME": "/nonexistent/dir/healthd.sqlite3"}
    connections.settings["unreachable"] = config
    yield "unreachable"
    connections["unreachable"].close()
    del connections.settings["unreachable"]


@pytest.mark.django_db
def test_database_passes_with_its_latency():
    result = _run(Database(("default",)))
    assert result.status == Status.PASSING
    assert result.unit == "ms" and result.value > 0
    assert result.details["default"]["ok"] is True


def test_database_fails_naming_the_alias(unreachable_database, django_db_blocker):
    with django_db_blocker.unblock():
        result = _run(Database(("default", unreachable_database)))
    assert result.status == Status.FAILING
    assert result.message.startswith("unreachable: OperationalError")
    assert result.details["default"]["ok"] is True
    assert result.details["unreachable"]["ok"] is False


@pytest.mark.django_db(transaction=True)
def test_the_database_check_leaves_no_connection_open():
    if connection.vendor != "postgresql":
        pytest.skip("counts server-side connections, which only PostgreSQL reports")

    port = int(connection.settings_dict["PORT"] or 5432)

    def backends() -> int:
        """TCP connections this process holds to the database server (other processes,
        such as a worker, do not count)."""
        inodes = set()
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        count = 0
        for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
            with open(table) as handle:
                for line in list(handle)[1:]:
                    fields = line.split()
                    remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                    if remote_port == port and fields[9] in inodes and fields[3] == "01":
                        count += 1
        return count

    before = backends()
    for _ in range(5):
        assert _run(Database(("default",))).status == Status.PASSING
    assert backends() == before


@pytest.mark.django_db(transaction=True)
def test_migrations_warn_when_one_is_unapplied():
    assert _run(Migrations(("default",))).status == Status.PASSING
    from django.db.migrations.recorder import MigrationRecorder

    recorder = MigrationRecorder(connection)
    latest = recorder.migration_qs.filter(app="healthd").order_by("-name").first().name
    recorder.record_unapplied("healthd", latest)
    try:
        result = _run(Migrations(("default",)))
        assert result.status == Status.WARNING
        assert result.value == 1
        assert f"healthd.{latest}" in result.details["default"]["unapplied"]
        assert _run(Migrations(("default",), level="failing")).status == Status.FAILING
    finally:
        recorder.record_applied("healthd", latest)


def test_cache_passes_on_every_alias():
    result = _run(Cache())
    assert result.status == Status.PASSING
    assert set(result.details) == {"default", "redis"}


def test_cache_fails_when_its_redis_is_gone():
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "gone": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                 "LOCATION": "redis://:cachepass99@127.0.0.1:1/0"},
    }
    with override_settings(CACHES=caches):
        result = _run(Cache())
    assert result.status == Status.FAILING
    assert result.message.startswith("gone: ConnectionError")
    assert "cachepass99" not in repr(result.to_dict())


def test_redis_pings_every_redis_the_site_uses():
    result = _run(Redis())
    assert result.status == Status.PASSING
    assert result.unit == "ms"
    assert "store" in result.details


def test_redis_fails_with_the_password_masked(settings):
    settings.HEALTHD = {**settings.HEALTHD, "REDIS_URL": "redis://:topsecret42@127.0.0.1:1/0"}
    result = _run(Redis(timeout=0.5))
    assert result.status == Status.FAILING
    assert "topsecret42" not in repr(result.to_dict())
    assert result.details["store"]["url"] == "redis://:********@127.0.0.1:1/0"


def test_email_opens_a_connection_and_sends_only_to_a_configured_recipient(settings):
    from django.core import mail

    assert _run(Email()).status == Status.PASSING
    assert mail.outbox == []
    result = _run(Email(recipient="ops@example.com"))
    assert result.status == Status.PASSING
    assert [m.to for m in mail.outbox] == [["ops@example.com"]]


def test_email_fails_when_the_smtp_server_is_gone(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    result = _run(Email())
    assert result.status == Status.FAILING
    assert "ConnectionRefusedError" in result.message


def test_storage_round_trip_leaves_nothing_behind(tmp_path, settings):
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path)}}}
    from django.core.files.storage import storages

    storages._storages = {}
    result = _run(Storage())
    assert result.status == Status.PASSING
    assert list(tmp_path.iterdir()) == []


def test_storage_fails_when_it_cannot_write(tmp_path, settings):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(blocker)}}}
    from django.core.files.storage import storages

    storages._storages = {}
    result = _run(Storage())
    assert result.status == Status.FAILING
    assert "Error" in result.message
