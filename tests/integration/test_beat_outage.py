"""Beat outlives a database outage (healthd.beat.Scheduler), with real processes.

The database is cut behind the fault suite's TCP proxy (refused connections) across
beat's full re-read of the schedule, shortened from five minutes to three seconds.
django-celery-beat's own DatabaseScheduler is run through the same outage as the
reproduction: it dies (strict xfail), healthd's does not.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from healthd.daemon.cli import processes
from healthd.store import client as redis_client
from healthd.store import health as state
from tests.integration.test_faults import (
    Site,
    StoreServer,
    _heartbeat,
    _latest_checked_at,
)
from tests.support.processes import ROOT, start_process
from tests.support.proxy import TcpProxy
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

INTERVAL = 2  # seconds between runs
REFRESH = 3  # seconds between beat's full re-reads of the schedule
HEALTHD_SCHEDULER = "healthd.beat:Scheduler"
STOCK_SCHEDULER = pytest.param(
    "tests.site.beat_stock:Scheduler",
    marks=pytest.mark.xfail(strict=True, raises=AssertionError,
                            reason="the reproduction: django-celery-beat's "
                            "DatabaseScheduler exits on a re-read the database refuses"),
    id="django-celery-beat")
COULD_NOT = "beat could not"
ANSWERS_AGAIN = "the database answers again"
SENT = "Sending due task"


class OutageSite(Site):
    """The fault suite's site, with the scheduler under test and a short re-read."""

    def env(self) -> dict[str, str]:
        return {**super().env(), "HEALTHD_TEST_INTERVAL": str(INTERVAL),
                "HEALTHD_TEST_SCHEDULE_REFRESH": str(REFRESH)}

    def start_beat_with(self, scheduler: str) -> Path:
        """Start beat; return its log file (each beat gets a fresh one)."""
        from healthd.tasks.schedule import sync_schedule

        sync_schedule()
        name = f"outage-beat-{time.monotonic_ns()}"
        self.beat = start_process(["beat", "--scheduler", scheduler, "--loglevel", "INFO",
                                   "--max-interval", "1"], name, self.env())
        return Path(django_settings.STATE_DIR) / f"{name}-{django_settings.RUN_ID}.log"

    def beat_alive(self) -> bool:
        return self.beat is not None and self.beat.poll() is None


@pytest.fixture
def outage_site(settings, tmp_path) -> Iterator[OutageSite]:
    if connection.vendor != "postgresql":
        pytest.skip("the database is cut through a TCP proxy: PostgreSQL only")
    store = StoreServer(tmp_path)
    store.start()
    proxy = TcpProxy((connection.settings_dict["HOST"] or "127.0.0.1",
                      int(connection.settings_dict["PORT"] or 5432)))
    proxy.start()
    settings.HEALTHD = {**settings.HEALTHD, "REDIS_URL": store.url,
                        "CHECKS": django_settings.FAULT_CHECKS, "INTERVAL": INTERVAL}
    redis_client.forget_clients()
    state.forget()
    running = OutageSite(store, proxy)
    yield running
    running.stop()
    store.kill()
    if running.proxy and running.proxy._open:
        running.proxy.cut()


def _lines(log: Path, text: str) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if text in line]


@pytest.mark.parametrize("scheduler", [HEALTHD_SCHEDULER, STOCK_SCHEDULER])
def test_beat_rides_out_a_database_outage_across_its_full_reread(outage_site, client,
                                                                 scheduler):
    site = outage_site
    site.start_workers(1)
    log = site.start_beat_with(scheduler)
    wait_for(lambda: len(_lines(log, SENT)) >= 2, timeout=60, message="beat sending runs")
    wait_for(lambda: _heartbeat(client)[0] == 200, timeout=45, message="green before the cut")

    site.proxy.cut()
    cut_at = time.time()
    outage = 3 * REFRESH  # at least two full re-reads fall inside it
    while time.time() < cut_at + outage:
        assert site.beat_alive(), f"beat exited during the outage; see {log}"
        time.sleep(0.25)
    # Runs went on from beat's memory: results reach Redis while the database is away.
    assert _latest_checked_at(site.store, "flappy") > cut_at + outage - 2 * INTERVAL
    assert _heartbeat(client)[0] == 500  # the database check says the database is away
    assert len(_lines(log, COULD_NOT)) == 1  # said once, not once per attempt
    assert not _lines(log, "Traceback")

    site.proxy.restore()
    restored = time.monotonic()
    wait_for(lambda: _heartbeat(client)[0] == 200, timeout=6 * INTERVAL,
             message="green after the database came back")
    time_to_green = time.monotonic() - restored
    wait_for(lambda: _lines(log, ANSWERS_AGAIN), timeout=10,
             message="beat to refresh its schedule")
    assert site.beat_alive()
    assert len(_lines(log, COULD_NOT)) == 1
    print(f"\ndatabase away {outage} s across beat's re-read every {REFRESH} s: beat kept "
          f"sending; green {time_to_green:.1f} s after it came back (interval {INTERVAL} s)")
    assert time_to_green <= 2 * INTERVAL


@pytest.mark.parametrize("scheduler", [HEALTHD_SCHEDULER, STOCK_SCHEDULER])
def test_beat_started_while_the_database_is_away_runs_the_settings_schedule(outage_site, client,
                                                              scheduler):
    site = outage_site
    site.start_workers(1)
    site.proxy.cut()
    log = site.start_beat_with(scheduler)

    def said_so() -> bool:
        assert site.beat_alive(), f"beat exited at start-up; see {log}"
        return bool(_lines(log, COULD_NOT))

    wait_for(said_so, timeout=60, message="beat to say it could not read its schedule")
    said_at = time.time()
    # It sends healthd's rows as the settings make them: runs reach Redis meanwhile.
    wait_for(lambda: _latest_checked_at(site.store, "flappy") > said_at, timeout=3 * INTERVAL,
             message="a run sent while the database is away")
    deadline = time.monotonic() + 4  # several attempts, one every --max-interval
    while time.monotonic() < deadline:
        assert site.beat_alive(), f"beat exited at start-up; see {log}"
        time.sleep(0.25)
    assert len(_lines(log, COULD_NOT)) == 1
    assert not _lines(log, "Traceback")
    site.proxy.restore()
    wait_for(lambda: _lines(log, ANSWERS_AGAIN), timeout=10,
             message="beat to read its schedule")
    wait_for(lambda: _heartbeat(client)[0] == 200, timeout=30,
             message="green once beat has read its schedule")
    assert site.beat_alive()


def test_the_standalone_site_runs_beat_with_healthds_scheduler():
    procfile = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines()
                    if line.strip())
    for beat in (procfile["beat"], " ".join(processes(8000, "127.0.0.1")["beat"])):
        assert f"--scheduler {HEALTHD_SCHEDULER}" in beat
    site_settings = (ROOT / "healthd" / "site" / "settings.py").read_text()
    assert f'\nCELERY_BEAT_SCHEDULER = "{HEALTHD_SCHEDULER}"\n' in site_settings
