"""The soak benchmark's own reading: it runs what the Procfile runs, and its "flat" verdict
tells a steady rise from sampling noise (the README's soak figures rest on both)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

from bench.soak import _process_figures, procfile_commands, report, slope_with_error, soak_commands
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _noisy(rise_mb_per_hour: float, seed: int = 7) -> list[tuple[float, float]]:
    """An hour of RSS samples every 20 s: 90 MB, ±0.3 MB of noise, plus a steady rise."""
    noise = random.Random(seed)
    return [(t, 90 + rise_mb_per_hour * t / 3600 + noise.uniform(-0.3, 0.3))
            for t in range(0, 3600, 20)]


def test_the_soak_runs_the_procfiles_processes_on_its_own_port():
    commands = procfile_commands(ROOT / "Procfile", 8123)

    assert set(commands) == {"web", "worker", "beat"}
    for command in commands.values():
        assert command[:2] == [sys.executable, "-m"]
    web = commands["web"]
    assert web[2] == "gunicorn"
    assert web[web.index("--bind") + 1] == "127.0.0.1:8123"
    assert web[web.index("--workers") + 1] == "2"  # ${WEB_CONCURRENCY:-2}
    assert "python:healthd.site.gunicorn_conf" in web
    assert commands["beat"][-2:] == ["--scheduler", "healthd.beat:Scheduler"]


def test_the_asgi_soak_runs_uvicorn_as_healthd_run_asgi_does():
    commands = soak_commands(8124, asgi=True)

    assert set(commands) == {"web", "worker", "beat"}
    web = commands["web"]
    assert web[:3] == [sys.executable, "-m", "uvicorn"]
    assert web[web.index("--port") + 1] == "8124"
    assert web[web.index("--workers") + 1] == "2"  # several, so each is replaced on schedule
    assert commands["worker"] == soak_commands(8124)["worker"]


def test_a_child_that_exited_but_is_not_reaped_is_sampled_as_gone():
    """uvicorn's supervisor reaps a replaced worker up to half a second after it exits."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        wait_for(lambda: "\nState:\tZ" in Path(f"/proc/{child.pid}/status").read_text(),
                 timeout=10, message="the child to exit")
        assert _process_figures(child.pid) is None
        assert _process_figures(os.getpid())["rss_kb"] > 0
    finally:
        child.wait(5)


def test_noise_alone_reads_flat_and_a_steady_rise_does_not():
    flat_slope, flat_error = slope_with_error(_noisy(0.0))
    assert abs(flat_slope) <= 2 * flat_error

    rising_slope, rising_error = slope_with_error(_noisy(0.5))
    assert rising_slope - 2 * rising_error > 0
    assert 0.3 < rising_slope < 0.7


def test_the_report_gives_each_figure_its_second_half_verdict():
    samples = []
    for (t, flat), (_, rising) in zip(_noisy(0.0), _noisy(2.0, seed=8), strict=True):
        samples.append({
            "t": 1_000_000 + t,
            "processes": {
                "beat": {"pid": 10, "rss_kb": flat * 1024, "threads": 1, "fds": 8},
                "worker": {"pid": 11, "rss_kb": rising * 1024, "threads": 2, "fds": 30},
            },
            "redis": {"keys": 12, "healthd_keys": 7, "used_memory_kb": 2048},
            "rows": {},
        })

    rows = {line.split(" | ")[0].lstrip("| "): line.rstrip(" |").rsplit(" | ", 1)[-1]
            for line in report(samples).splitlines() if line.startswith("| ")}

    assert rows["beat RSS MB"] == "yes"
    assert rows["worker RSS MB"] == "no"
    assert rows["redis keys"] == "yes"
