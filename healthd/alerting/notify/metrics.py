"""Notification counters for ``/metrics``: kept in Redis, so the view runs no SQL.

``healthd_notifications_total{channel, outcome}``: ``delivered``, ``retried`` (an attempt
failed and another is scheduled), ``failed`` (the retries ran out) or ``suppressed`` (a
transition the channel would have been told of, held back while a check it depends on
failed). A group of transitions sent as one notification counts once. ``channel`` is the
channel's label: its name, or its service and position (``slack#1``), never its URL.
Counters a former version kept under a channel's masked URL (whose path is the secret of
most Apprise services) are not shown.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from healthd.store import client as redis_client
from healthd.store import keys
from healthd.store.client import StoreNotConfigured
from healthd.util.logs import get_logger
from healthd.util.memo import FreshFor
from healthd.util.outages import REDIS_ERRORS
from healthd.util.redact import redact

logger = get_logger("healthd.notify")

OUTCOMES = ("delivered", "retried", "failed", "suppressed")
_SEPARATOR = "\t"


def count(channel_label: str, outcome: str) -> None:
    """Add one to a channel's counter for this outcome."""
    redis_client.writer().hincrby(keys().deliveries,
                                  f"{channel_label}{_SEPARATOR}{outcome}", 1)


def counts() -> dict[tuple[str, str], int]:
    """{(channel label, outcome): count}."""
    raw: dict[str, str] = redis_client.reader().hgetall(  # type: ignore[assignment]
        keys().deliveries)  # the client decodes responses
    found = {}
    for field, value in raw.items():
        channel, _, outcome = field.rpartition(_SEPARATOR)
        if "://" not in channel:  # a label is never a URL (channels.parse refuses one)
            found[(channel, outcome)] = int(value)
    return found


def _read_counts() -> dict[tuple[str, str], int] | None:
    try:
        return counts()
    except (StoreNotConfigured, ValueError, *REDIS_ERRORS) as exc:  # ValueError: not a count
        logger.warning("could not read the notification counters: %s", redact(exc))
        return None


# Read at most once per CACHE_SECONDS in a process, as the other /metrics values are
# (and forgotten on a setting change).
_counts = FreshFor(_read_counts)


def forget() -> None:
    """Drop this process's copy of the counters (tests)."""
    _counts.forget()


class DeliveryCollector(Collector):
    """The notification counters as of at most CACHE_SECONDS ago (none when unreadable)."""

    def collect(self) -> Iterator[Metric]:
        found = _counts.get()
        if found is None:
            return
        family = CounterMetricFamily("healthd_notifications",
                                     "Notifications by channel and outcome.",
                                     labels=["channel", "outcome"])
        for (channel, outcome), value in sorted(found.items()):
            family.add_metric([channel, outcome], value)
        yield family
