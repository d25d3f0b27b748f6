"""Benchmark settings for the load run: the real checks every second, one that flips."""

from bench.settings import *  # noqa: F403

HEALTHD = {
    **HEALTHD,  # noqa: F405
    "CHECKS": ["database", "cache", "redis", "celery", "storage", "bench.checks.flapping"],
    "INTERVAL": 1,
}
