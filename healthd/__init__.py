"""healthd: health checks run on a Celery schedule, served from cached state."""

from healthd.checks.base import CheckWarning, Observation, Status

__all__ = ["CheckWarning", "Observation", "Status"]
__version__ = "0.1.0"
