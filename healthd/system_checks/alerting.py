"""The Django system check for ``HEALTHD["NOTIFY"]`` and the other alerting settings:
a malformed channel stops ``manage.py check`` (and so start-up) with an error naming
the entry. Registered with Django's check framework when this module is imported.
"""

from __future__ import annotations

from typing import Any

from django.core import checks as django_checks

from healthd import conf
from healthd.alerting.notify.channels import ChannelError, MissingExtra, parse

TAG = "healthd"

# Stable IDs: a site may silence one with SILENCED_SYSTEM_CHECKS.
E_NOTIFY_NOT_A_LIST = "healthd.E101"
E_BAD_CHANNEL = "healthd.E102"
E_DUPLICATE_CHANNEL = "healthd.E103"
E_BAD_ALERTING_NUMBER = "healthd.E104"
E_MISSING_EXTRA = "healthd.E105"

POSITIVE = ("NOTIFY_TIMEOUT", "NOTIFY_RETRY_FOR", "NOTIFY_BACKOFF", "NOTIFY_BACKOFF_MAX",
            "OUTBOX_VISIBILITY_TIMEOUT", "OUTBOX_MAXLEN")


def _number_problems(user: dict[str, Any]) -> list[django_checks.CheckMessage]:
    found: list[django_checks.CheckMessage] = []
    for name in POSITIVE:
        value = user.get(name, conf.DEFAULTS[name])
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            found.append(django_checks.Error(
                f'HEALTHD["{name}"]: must be a positive number, not {value!r}',
                id=E_BAD_ALERTING_NUMBER))
    for name in ("GROUP_WAIT", "GROUP_INTERVAL"):
        value = user.get(name, conf.DEFAULTS[name])
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            found.append(django_checks.Error(
                f'HEALTHD["{name}"]: must be a number of seconds >= 0, not {value!r}',
                id=E_BAD_ALERTING_NUMBER))
    remind = user.get("REMIND_EVERY")
    if remind is not None and (isinstance(remind, bool) or not isinstance(remind, int | float)
                               or remind <= 0):
        found.append(django_checks.Error(
            f'HEALTHD["REMIND_EVERY"]: must be a positive number of seconds or None, '
            f'not {remind!r}', id=E_BAD_ALERTING_NUMBER))
    return found


@django_checks.register(TAG)
def check_notify(app_configs: Any = None, **kwargs: Any) -> list[django_checks.CheckMessage]:
    """Every malformed NOTIFY entry, each naming its index; empty when all is well."""
    user = conf.healthd_as_set()
    if not isinstance(user, dict):
        return []  # healthd.E001 says so already
    found: list[django_checks.CheckMessage] = _number_problems(user)
    entries = user.get("NOTIFY", [])
    if not isinstance(entries, list | tuple):
        found.append(django_checks.Error(
            f'HEALTHD["NOTIFY"]: must be a list of channels, not {type(entries).__name__}',
            id=E_NOTIFY_NOT_A_LIST))
        return found
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        where = f'HEALTHD["NOTIFY"][{index}]'
        try:
            channel = parse(entry)
        except ChannelError as exc:
            found.append(django_checks.Error(
                f"{where}: {exc}",
                id=E_MISSING_EXTRA if isinstance(exc, MissingExtra) else E_BAD_CHANNEL))
            continue
        if channel.id in seen:
            found.append(django_checks.Error(
                f'{where}: the same channel as HEALTHD["NOTIFY"][{seen[channel.id]}] '
                f"({channel.label}); give one a different \"name\"", id=E_DUPLICATE_CHANNEL))
        seen.setdefault(channel.id, index)
    return found
