"""Checks: the contract (base), the built-ins (one module per backing service), the registry."""

from healthd.checks.base import Check, CheckWarning, Observation, Result, Status

__all__ = ["Check", "CheckWarning", "Observation", "Result", "Status"]
