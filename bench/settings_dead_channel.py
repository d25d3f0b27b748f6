"""Settings for bench.dead_channel: the standalone site, with how long a failed
notification is retried taken from BENCH_NOTIFY_RETRY_FOR (seconds; default an hour)."""

import os

from healthd.site.settings import *  # noqa: F403

HEALTHD = {
    **HEALTHD,  # noqa: F405
    "NOTIFY_RETRY_FOR": float(os.environ.get("BENCH_NOTIFY_RETRY_FOR", "3600")),
}
