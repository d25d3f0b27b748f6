"""Durations as people type them: ``90s``, ``15m``, ``2h``, ``1h30m``, ``1d``.

Hand-written: Django's ``parse_duration`` reads ``02:00:00`` and ISO 8601 (``PT2H``),
not the short form a deploy script or an admin types.
"""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
LONGEST = timedelta(days=3650)


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``1h30m``, ``1d`` (a bare number is minutes); ValueError
    when it is none of these, nothing, or more than ten years."""
    text = str(text).strip().lower()
    if re.fullmatch(r"\d{1,9}(\.\d+)?", text):
        seconds = float(text) * 60
    else:
        parts = _DURATION.findall(text)
        if not parts or _DURATION.sub("", text).strip():
            raise ValueError(f"not a duration: {text[:40]!r} (try 90s, 15m, 2h, 1h30m, 1d)")
        seconds = sum(float(amount) * _UNITS[unit] for amount, unit in parts)
    if seconds <= 0:
        raise ValueError("a silence lasts more than nothing")
    if seconds > LONGEST.total_seconds():
        raise ValueError(f"not a duration: {text[:40]!r} (at most ten years)")
    return timedelta(seconds=seconds)


def format_duration(duration: timedelta) -> str:
    """``2h``, ``1h30m``, ``90s``: the short form :func:`parse_duration` reads."""
    seconds = int(duration.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"
