"""django-status's ``stats`` resource and custom ``STATUS_PROVIDERS``, gathered on the schedule.

Gathering stats costs queries, a Celery broadcast and a ``git`` call, so the views never
do it: the ``healthd.tasks.gather_stats`` task runs :func:`gather_stats` in a worker and
:func:`store_stats` keeps the JSON in Redis; the views read it back through
:func:`latest_stats`, a per-process copy refreshed at most once per ``CACHE_SECONDS``
(like the check results in :mod:`healthd.store.health`).

In three parts:

- :mod:`healthd.compat.status.stats.providers`: which providers each resource has (the built-ins and
  every ``STATUS_PROVIDERS`` entry);
- :mod:`healthd.compat.status.stats.gather`: the built-in stats, and the gathering of them all;
- :mod:`healthd.compat.status.stats.stored`: the gathered stats in Redis, and this process's copy.
"""

from healthd.compat.status.stats.gather import (
    BUILTIN_STATS,
    celery_stats,
    code_stats,
    database_stats,
    gather_stats,
)
from healthd.compat.status.stats.providers import (
    BUILTIN_PATHS,
    HEALTH,
    STATS,
    Provider,
    celery_configured,
    providers,
)
from healthd.compat.status.stats.stored import (
    StatsSnapshot,
    forget,
    latest_stats,
    read_stats,
    store_stats,
)

__all__ = [
    "BUILTIN_PATHS",
    "BUILTIN_STATS",
    "HEALTH",
    "STATS",
    "Provider",
    "StatsSnapshot",
    "celery_configured",
    "celery_stats",
    "code_stats",
    "database_stats",
    "forget",
    "gather_stats",
    "latest_stats",
    "providers",
    "read_stats",
    "store_stats",
]
