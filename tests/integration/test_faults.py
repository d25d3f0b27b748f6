"""Faults survived, with nothing lost: a result store of its own that is killed and
restarted, a database cut behind a proxy, workers and beat killed, a hanging check,
and three workers racing over a flapping check. Real processes throughout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection
from django.db.models import Count

from healthd.models import CheckResult
from healthd.store import Keys
from healthd.store import client as redis_client
from healthd.store import health as state
from tests.site import faultchecks
from tests.store.test_redis_topologies import REDIS_SERVER
from tests.support.ports import free_port
from tests.support.processes import start_process, start_worker, stop_process
from tests.support.proxy import TcpProxy
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


class StoreServer:
    """A redis-server of the suite's own on a spare loopback port, to kill and restart."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_timeout=0.2)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_for(answers, timeout=10, message="the store's redis-server")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(5)


@pytest.fixture
def flags() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(django_settings.REDIS_URL, decode_responses=True)
    for name in ("flappy", "hanging"):
        client.delete(faultchecks.flag_key(name))
    client.delete(faultchecks.signals_key())
    yield client
    for name in ("flappy", "hanging"):
        client.delete(faultchecks.flag_key(name))
    client.delete(faultchecks.signals_key())
    client.close()


class Site:
    def __init__(self, store: StoreServer, proxy: TcpProxy | None):
        self.store = store
        self.proxy = proxy
        self.workers: list = []
        self.beat: subprocess.Popen | None = None
        self.queue = f"healthd-fault-{django_settings.RUN_ID}-{time.monotonic_ns()}"

    def env(self) -> dict[str, str]:
        env = {"HEALTHD_TEST_STORE_URL": self.store.url, "HEALTHD_TEST_CHECKS": "fault",
               "HEALTHD_TEST_QUEUE": self.queue,
               "HEALTHD_TEST_INTERVAL": "1", "HEALTHD_TEST_COUNT_SIGNALS": "1"}
        if self.proxy:
            env["HEALTHD_TEST_DB_PORT"] = str(self.proxy.port)
        return env

    def start_workers(self, count: int) -> None:
        for index in range(count):
            name = f"fault{index}-{django_settings.RUN_ID}-{time.monotonic_ns()}@localhost"
            self.workers.append(start_worker(name, self.env()))

    def start_beat(self) -> None:
        from healthd.tasks.schedule import sync_schedule

        sync_schedule()
        # healthd's scheduler, as the standalone site runs it: django-celery-beat's own
        # exits on a database that refuses it (see test_beat_outage).
        self.beat = start_process(
            ["beat", "--scheduler", "healthd.beat:Scheduler",
             "--loglevel", "INFO", "--max-interval", "1"], "fault-beat", self.env())

    def stop(self) -> None:
        if self.beat:
            stop_process(self.beat)
        for worker in self.workers:
            stop_process(worker.process)


@pytest.fixture
def site(settings, tmp_path, flags) -> Iterator[Site]:
    store = StoreServer(tmp_path)
    store.start()
    proxy = None
    if connection.vendor == "postgresql":
        proxy = TcpProxy((connection.settings_dict["HOST"] or "127.0.0.1",
                          int(connection.settings_dict["PORT"] or 5432)))
        proxy.start()
    settings.HEALTHD = {**settings.HEALTHD, "REDIS_URL": store.url,
                        "CHECKS": django_settings.FAULT_CHECKS, "INTERVAL": 1}
    redis_client.forget_clients()
    state.forget()
    running = Site(store, proxy)
    yield running
    running.stop()
    store.kill()
    if proxy:
        proxy.cut()


def _heartbeat(client) -> tuple[int, float]:
    state.forget()  # ask the store every time, as a new request after the memo expires would
    started = time.monotonic()
    response = client.get("/__heartbeat__")
    return response.status_code, time.monotonic() - started


def _latest_checked_at(store: StoreServer, name: str) -> float:
    import json

    raw = redis.Redis.from_url(store.url).hget(Keys(django_settings.KEY_PREFIX).latest, name)
    return json.loads(raw)["checked_at"] if raw else 0.0


def test_store_killed_and_restarted(site, client):
    site.start_workers(1)
    site.start_beat()
    wait_for(lambda: _heartbeat(client)[0] == 200, timeout=30, message="green before the fault")
    rows_before = CheckResult.objects.count()
    site.store.kill()
    killed = time.monotonic()
    code, took = _heartbeat(client)
    time_to_red = time.monotonic() - killed
    assert code == 500 and took < 0.5
    assert client.get("/__lbheartbeat__").status_code == 200
    # Runs go on while the store is down, and every one of them reaches the database.
    wait_for(lambda: CheckResult.objects.count() >= rows_before + 6, timeout=20,
             message="history written while the store is down")
    site.store.start()
    restarted = time.monotonic()
    wait_for(lambda: _heartbeat(client)[0] == 200, timeout=30, message="green after restart")
    time_to_green = time.monotonic() - restarted
    print(f"\nstore killed: red after {time_to_red:.3f} s; green {time_to_green:.2f} s "
          "after restart")
    # Counted in one statement: beat and the worker go on, and a run's rows are one INSERT,
    # so two counts taken apart could straddle a run.
    rows = dict(CheckResult.objects.filter(name__in=["database", "flappy"])
                .values_list("name").annotate(Count("id")))
    assert rows["flappy"] == rows["database"]  # whole runs, none lost


def test_database_cut(site, client):
    if site.proxy is None:
        pytest.skip("the database is cut through a TCP proxy: PostgreSQL only")
    site.start_workers(1)
    site.start_beat()
    # Two runs: the worker's first and one beat sent, so beat is running when the database
    # goes (test_beat_outage starts beat while it is away).
    wait_for(lambda: CheckResult.objects.filter(name="flappy").count() >= 2, timeout=30,
             message="a run from beat in the database")
    site.proxy.cut()
    cut_at = time.time()
    before = _latest_checked_at(site.store, "flappy")
    # The Redis state keeps being written while the database is away.
    wait_for(lambda: _latest_checked_at(site.store, "flappy") > cut_at, timeout=20,
             message="a result in Redis after the database was cut")
    resumed_after = time.time() - cut_at
    wait_for(lambda: _latest_checked_at(site.store, "flappy") > before + 2, timeout=20,
             message="results in Redis during the database outage")
    assert _heartbeat(client)[0] == 500  # the database check says so
    restored_at = time.time()
    site.proxy.restore()
    # History resumes, and the runs made during the outage are written too.
    wait_for(lambda: CheckResult.objects.filter(
        name="flappy", checked_at__gt=_dt(cut_at + 0.5),
        checked_at__lt=_dt(restored_at)).exists(), timeout=40,
        message="the outage's results written after the database came back")
    written_back = CheckResult.objects.filter(
        name="flappy", checked_at__gt=_dt(cut_at), checked_at__lt=_dt(restored_at)).count()
    print(f"\ndatabase cut for {restored_at - cut_at:.1f} s: a result in Redis "
          f"{resumed_after:.1f} s after the cut; {written_back} flappy rows of the outage "
          "written back")


def _dt(timestamp: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, tz=UTC)


def test_worker_killed_mid_run_then_beat_stopped(site, client, flags):
    site.start_workers(1)
    site.start_beat()
    wait_for(lambda: _heartbeat(client)[0] == 200, timeout=30, message="green")
    flags.set(faultchecks.flag_key("hanging"), "1")  # runs now take a second each
    os.killpg(site.workers[0].process.pid, signal.SIGKILL)
    killed = time.monotonic()
    wait_for(lambda: _heartbeat(client)[0] == 500, timeout=10, message="red after the kill")
    time_to_red = time.monotonic() - killed
    # stale_after is three intervals of 1 s plus the critical checks' own 3 s timeout
    assert time_to_red < 3 * 1 + 3 + 2
    response = client.get("/__heartbeat__", HTTP_AUTHORIZATION="")
    assert response.json()["status"] == "error"
    site.workers.clear()
    flags.delete(faultchecks.flag_key("hanging"))
    site.start_workers(1)
    wait_for(lambda: _heartbeat(client)[0] == 200, timeout=30, message="green again")
    stop_process(site.beat)
    stopped = time.monotonic()
    wait_for(lambda: _heartbeat(client)[0] == 500, timeout=10, message="red after beat stops")
    print(f"\nworker killed: red after {time_to_red:.1f} s; beat stopped: red after "
          f"{time.monotonic() - stopped:.1f} s")


def test_a_hanging_check_fails_alone(site, client, flags, settings):
    settings.DEBUG = True
    flags.set(faultchecks.flag_key("hanging"), "1")
    site.start_workers(1)
    site.start_beat()

    def hanging_reported():
        state.forget()
        body = client.get("/__heartbeat__").json()
        return body.get("details", {}).get("hanging", {}).get("healthd_status") == "failing"

    wait_for(hanging_reported, timeout=30, message="the hanging check to fail")
    body = client.get("/__heartbeat__").json()
    assert "TimeoutError" in body["details"]["hanging"]["messages"]["healthd.hanging"]
    assert body["checks"]["flappy"] == "ok" and body["checks"]["check_database_connected"] == "ok"


def test_three_workers_and_a_flapping_check_each_flip_signalled_once(site, flags):
    from healthd.tasks import run_checks

    site.start_workers(3)
    flips = 6
    for flip in range(flips):
        flags.set(faultchecks.flag_key("flappy"), "fail" if flip % 2 == 0 else "pass")
        status = "failing" if flip % 2 == 0 else "passing"
        results_before = CheckResult.objects.filter(name="flappy", status=status).count()
        for _ in range(9):  # a burst of concurrent runs over the three workers
            run_checks.apply_async(kwargs={"names": ["flappy"]}, queue=site.queue)
        wait_for(lambda s=status, n=results_before: CheckResult.objects.filter(
            name="flappy", status=s).count() >= n + 9, timeout=30,
            message=f"flip {flip} to be run by every task of its burst")
    seen = flags.lrange(faultchecks.signals_key(), 0, -1)
    failed = [s for s in seen if s.startswith("failed:flappy")]
    recovered = [s for s in seen if s.startswith("recovered:flappy")]
    print(f"\n{flips} flips over 3 workers: {len(failed)} check_failed, "
          f"{len(recovered)} check_recovered")
    assert len(failed) == flips // 2
    assert len(recovered) == flips // 2 - 0  # the last flip is back to passing
