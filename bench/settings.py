"""The standalone site, plus a trivial view to measure against, for the benchmarks."""

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
