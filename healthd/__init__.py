"""healthd: health checks run on a Celery schedule, served from cached state."""

import importlib
from typing import Any

from healthd.checks.base import CheckWarning, Observation, Status

__all__ = ["CheckWarning", "Observation", "Status", "monitored"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # healthd.monitored is read when first used: the passive module needs Django's apps
    # ready, and a settings module may import healthd before they are.
    if name == "monitored":
        return importlib.import_module("healthd.passive").monitored
    raise AttributeError(f"module 'healthd' has no attribute {name!r}")
