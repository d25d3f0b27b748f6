"""The standalone site, plus a trivial view to measure against, for the benchmarks."""

import os

from healthd.site.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
DEBUG = False
ALLOWED_HOSTS = ["*"]
# Every check but celery (no worker runs during the benchmark), with a long interval so
# the results written before the run stay fresh throughout it.
HEALTHD = {
    **HEALTHD,  # noqa: F405
    "CHECKS": ["database", "migrations", "cache", "redis", "email", "storage"],
    "INTERVAL": 3600,
}
# The benchmark's second gunicorn measures /readyz without the local checks.
if os.environ.get("BENCH_LOCAL_CHECKS") == "off":
    HEALTHD["LOCAL_CHECKS"] = []
