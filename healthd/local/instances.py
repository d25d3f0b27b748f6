"""Each web process's verdict, published to Redis under its instance name, so that every
pod is seen from one place (the admin, ``/metrics``, the worker)."""

from __future__ import annotations

from healthd.local.verdict import LocalVerdict


def publish(verdict: LocalVerdict) -> None:
    """Publish this process's verdict (never raises: a probe must not fail on Redis)."""
