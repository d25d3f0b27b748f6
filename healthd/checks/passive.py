"""Passive checks: jobs that report in, where not reporting in on time is the failure.

A passive check is never run by healthd. Its results come from the job itself (the
``healthd.monitored`` decorator, a watched django-celery-beat row, a ping over HTTP);
the lateness sweep records a failing result when no success arrived in time. This
module only says what such a check is, so that the registry can list the ones declared
in ``HEALTHD["CHECKS"]`` (``{"passive": "backup", "every": "1d", "grace": "2h",
"token": "…"}``) and the views can read the ones declared elsewhere from their results:
each result of a passive check carries its :class:`Passive` in ``details["passive"]``.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from healthd.checks.base import Check, Observation, Status

# A passive check's name is a URL path segment (/healthd/ping/<name>): the registry's rule.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]+$")
NAME_MAX = 100

PASSIVE_KEYS = {"passive", "every", "grace", "token", "tokens", "critical", "slow_after",
                "description"}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_FACTOR = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*x\s*$")


def seconds(value: Any, what: str = "a duration") -> float:
    """A duration as a positive number of seconds: a number, a timedelta, or a string
    such as ``"90s"``, ``"15m"``, ``"24h"``, ``"1d"``, ``"1h30m"``."""
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, str):
        text = value.strip().lower()
        parts = _PART.findall(text)
        if not parts or _PART.sub("", text).strip():
            try:
                value = float(text)
            except ValueError:
                raise ImproperlyConfigured(
                    f"{what} must be seconds or a duration like '90s', '15m', '24h', '1d', "
                    f"not {value!r}") from None
        else:
            value = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ImproperlyConfigured(f"{what} must be a positive duration, not {value!r}")
    return float(value)


def valid_name(name: Any) -> str:
    """The name itself when it can name a passive check; ImproperlyConfigured otherwise."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or len(name) > NAME_MAX:
        raise ImproperlyConfigured(
            f"passive check name {name!r} must match {NAME_PATTERN.pattern}, "
            f"at most {NAME_MAX} characters")
    return name


def default_grace(every: float) -> float:
    """Grace for a job that names none: half its period, from a minute to an hour."""
    return min(max(every / 2, 60.0), 3600.0)


@dataclass(frozen=True)
class Passive:
    """How often a job reports in, and how late it may be before that is a failure.

    ``grace`` is also how long a run that began may take: a run that reported its start
    and has not finished ``grace`` seconds later is late. ``slow_after`` makes a run
    that took longer a warning: seconds, or a factor of the usual run (``"3x"``).
    ``crontab`` (minute, hour, day of month, month, day of week, time zone) is a watched
    beat row's schedule; ``every`` is then its longest gap between two runs.
    """

    every: float
    grace: float
    slow_after: float | None = None
    slow_factor: float | None = None
    source: str = "settings"
    crontab: tuple[str, ...] | None = None
    tokens: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def __call__(self) -> Observation:
        # Never scheduled (registry.checks_named leaves passive checks out); this is what a
        # run by hand would say.
        return Observation("a passive check reports in: it is not run", Status.FAILING)

    @property
    def window(self) -> float:
        """How long after its last report the check may go without another one."""
        return self.every + self.grace

    def as_details(self) -> dict[str, Any]:
        """What a result of this check carries in ``details["passive"]`` (never a token)."""
        data: dict[str, Any] = {"every": self.every, "grace": self.grace, "source": self.source}
        if self.slow_after is not None:
            data["slow_after"] = self.slow_after
        if self.slow_factor is not None:
            data["slow_factor"] = self.slow_factor
        if self.crontab is not None:
            data["crontab"] = list(self.crontab)
        return data

    @classmethod
    def from_details(cls, data: Any) -> Passive | None:
        """The :class:`Passive` a stored result carries; None when it carries none."""
        if not isinstance(data, dict):
            return None
        try:
            crontab = data.get("crontab")
            return cls(
                every=seconds(data["every"]), grace=seconds(data["grace"]),
                slow_after=_optional_number(data.get("slow_after")),
                slow_factor=_optional_number(data.get("slow_factor")),
                source=str(data.get("source", "task")),
                crontab=tuple(str(v) for v in crontab) if isinstance(crontab, list) else None,
            )
        except (KeyError, ImproperlyConfigured, TypeError):
            return None


def _optional_number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def slow_options(value: Any) -> tuple[float | None, float | None]:
    """``slow_after`` as (seconds, factor of the usual run): ``10``, ``"2m"`` or ``"3x"``."""
    if value is None:
        return None, None
    if isinstance(value, str):
        factor = _FACTOR.match(value)
        if factor:
            if float(factor[1]) <= 1:
                raise ImproperlyConfigured(f"slow_after {value!r}: a factor must be above 1")
            return None, float(factor[1])
    return seconds(value, "slow_after"), None


def make_passive(every: Any, grace: Any = None, slow_after: Any = None, source: str = "task",
                 tokens: tuple[str, ...] = (), crontab: tuple[str, ...] | None = None) -> Passive:
    """A :class:`Passive` from what a site writes (numbers of seconds or duration strings)."""
    period = seconds(every, "every")
    slow, factor = slow_options(slow_after)
    return Passive(
        every=period,
        grace=seconds(grace, "grace") if grace is not None else default_grace(period),
        slow_after=slow, slow_factor=factor, source=source, crontab=crontab, tokens=tokens,
    )


def check_for(name: str, passive: Passive, critical: bool = False, description: str = "") -> Check:
    """The :class:`Check` the views evaluate for a passive check.

    Its result goes stale (a failure) once it is older than ``every + grace``: a job that
    stopped reporting reads as late even before the sweep records it.
    """
    return Check(name=name, func=passive, timeout=passive.grace, critical=critical,
                 interval=passive.every, stale_after=passive.window, description=description)


def build_check(entry: dict[str, Any]) -> Check:
    """One ``{"passive": name, "every": …, "grace": …, "token": …}`` entry to a Check."""
    unknown = sorted(set(entry) - PASSIVE_KEYS)
    if unknown:
        raise ImproperlyConfigured(f"unknown key(s) {unknown} in passive check {entry!r}")
    name = valid_name(entry["passive"])
    if "every" not in entry:
        raise ImproperlyConfigured(f"passive check {name!r} needs 'every'")
    tokens = entry.get("tokens") or ()
    if isinstance(tokens, str) or not all(isinstance(t, str) for t in tokens):
        raise ImproperlyConfigured(f"passive check {name!r}: 'tokens' must be a list of strings")
    token = entry.get("token")
    if token is not None and not (isinstance(token, str) and token):
        raise ImproperlyConfigured(f"passive check {name!r}: 'token' must be a string")
    passive = make_passive(entry["every"], entry.get("grace"), entry.get("slow_after"),
                           source="settings", tokens=(*([token] if token else []), *tokens))
    return check_for(name, passive, bool(entry.get("critical", False)),
                     str(entry.get("description", "")))


def passive_of(check: Check) -> Passive | None:
    """The check's :class:`Passive` when it is a passive check, else None."""
    return check.func if isinstance(check.func, Passive) else None


class NotPassive(ValueError):
    """A passive check's operation was given a check that is not one."""


def required_passive(check: Check) -> Passive:
    """The check's :class:`Passive`; :class:`NotPassive` when it is not a passive check."""
    passive = passive_of(check)
    if passive is None:
        raise NotPassive(f"{check.name} is not a passive check")
    return passive


def is_passive(check: Check) -> bool:
    return isinstance(check.func, Passive)


def from_result(name: str, details: dict[str, Any], critical: bool) -> Check | None:
    """The passive check a stored result describes (a decorated job, a watched beat row),
    for a name the settings do not declare; None when the result is not a passive one."""
    passive = Passive.from_details(details.get("passive"))
    if passive is None or not NAME_PATTERN.match(name):
        return None
    return check_for(name, passive, critical)
