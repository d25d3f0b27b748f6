"""Durations as a person reads them on a page. Imports nothing of healthd."""

from __future__ import annotations


def format_age(seconds: float | None) -> str:
    """A result's age: "4 s ago", "3 min ago", "2.5 h ago", "1.2 days ago", or "never"."""
    if seconds is None:
        return "never"
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"
