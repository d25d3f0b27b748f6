"""Every secret the site configured, as the strings redaction looks for.

Gathered from the settings in force: ``SECRET_KEY`` (and its fallbacks), the database,
cache, broker and result-store passwords (wherever a URL or an ``OPTIONS`` dict holds
them), the e-mail password, the Sentry DSN and its key, healthd's and watchman's tokens,
each passive check's ping tokens, and each notification channel's URL, the tokens in it
(its credentials, a host that is not a host name, its path segments, query values that
look like keys) and a webhook's signing secret. For most Apprise services the path *is*
the secret (``slack://TokenA/TokenB/TokenC``, ``discord://id/token``), so every such part
counts unless it is a host name, a port or one of the words webhook URLs are built from.

:func:`secrets` is worked out once per settings object and dropped when Django reports a
setting change: redaction runs on every result message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import unquote

import sentry_sdk
from django.conf import settings

from healthd import conf
from healthd.conf import per_process

# Shorter strings are not looked for: masking every "dev" or "1234" would blur messages
# without hiding anything worth hiding.
SHORTEST = 4
# Parts of notification URLs that name a route, not a secret ("hooks/catch/<id>/<key>").
ROUTE_WORDS = frozenset({
    "api", "apprise", "bot", "catch", "form", "hook", "hooks", "incoming", "json", "notify",
    "send", "service", "services", "v1", "v2", "v3", "v4", "webhook", "webhooks", "xml",
})
# A host name ends in a top-level domain of letters (a token such as Pushbullet's
# "o.gn5kj6…" does not), or is an address.
_HOST_NAME = re.compile(r"(?i)^(?:localhost|(?:[a-z0-9-]{1,63}\.)+[a-z]{2,63}"
                        r"|\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:.]+\])$")
_PORT = re.compile(r"^\d{1,5}$")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://")
_PART_SEPARATORS = re.compile(r"[/:@?&#,;]+")
_KEYISH = re.compile(r"(?=.*\d)|(?=.*[A-Z])|.{16,}")


def url_credentials(url: object) -> Iterator[str]:
    """The user and password of ``scheme://user:password@host…`` (raw and decoded).

    The password is everything up to the last ``@`` of the authority, so one holding
    ``/`` or ``@`` counts whole.
    """
    if not isinstance(url, str) or not _URL.match(url):
        return
    rest = url.split("://", 1)[1]
    userinfo, at, _ = rest.rpartition("@")
    if not at:
        return
    user, colon, password = userinfo.partition(":")
    for value in (password, user if colon else ""):
        if value:
            yield value
            yield unquote(value)


def channel_parts(url: object) -> Iterator[str]:
    """A notification URL, whole and as the tokens in it that may be secrets."""
    if not isinstance(url, str) or not _URL.match(url):
        return
    yield url
    rest = url.split("://", 1)[1]
    yield rest
    yield from url_credentials(url)
    address, _, query = rest.partition("?")
    address = address.partition("#")[0]  # a Slack channel or a fragment: no secret
    for part in _PART_SEPARATORS.split(address):
        if not (_HOST_NAME.match(part) or _PORT.match(part) or part.lower() in ROUTE_WORDS):
            yield part
            yield unquote(part)
    for pair in query.split("&"):
        value = unquote(pair.partition("=")[2])
        if _KEYISH.match(value):
            yield value


def _dsn_parts(dsn: object) -> Iterator[str]:
    if isinstance(dsn, str) and dsn:
        yield dsn
        yield from url_credentials(dsn)
        key = dsn.split("://", 1)[-1].rpartition("@")[0].partition(":")[0]
        if key:
            yield key


def _notify_parts(entries: Any) -> Iterator[str]:
    for entry in entries if isinstance(entries, list | tuple) else []:
        if isinstance(entry, str):
            yield from channel_parts(entry)
        elif isinstance(entry, dict):
            yield from channel_parts(entry.get("url"))
            yield from channel_parts(entry.get("webhook"))
            if isinstance(entry.get("secret"), str):
                yield entry["secret"]


def _check_tokens(checks: Any) -> Iterator[str]:
    for entry in checks if isinstance(checks, list | tuple) else []:
        if isinstance(entry, dict):
            token, tokens = entry.get("token"), entry.get("tokens")
            if isinstance(token, str):
                yield token
            if isinstance(tokens, list | tuple):
                yield from (t for t in tokens if isinstance(t, str))


def _store_urls(caches: dict[str, Any]) -> Iterator[str]:
    for cache in caches.values():
        options = cache.get("OPTIONS") or {}
        yield str(options.get("PASSWORD") or options.get("password") or "")
        location = cache.get("LOCATION")
        for url in location if isinstance(location, list | tuple) else [location]:
            yield from url_credentials(url)


def _gathered() -> Iterator[str]:
    yield str(getattr(settings, "SECRET_KEY", "") or "")
    yield from (str(key) for key in getattr(settings, "SECRET_KEY_FALLBACKS", ()) or ())
    for db in getattr(settings, "DATABASES", {}).values():
        yield str(db.get("PASSWORD") or "")
        yield str((db.get("OPTIONS") or {}).get("password") or "")
    yield from _store_urls(getattr(settings, "CACHES", {}) or {})
    yield str(getattr(settings, "EMAIL_HOST_PASSWORD", "") or "")
    for name in ("CELERY_BROKER_URL", "BROKER_URL", "CELERY_RESULT_BACKEND", "REDIS_URL"):
        yield from url_credentials(getattr(settings, name, None))
    for name in ("CELERY_BROKER_URL", "REDIS_URL", "DATABASE_URL"):
        yield from url_credentials(os.environ.get(name))
    for dsn in (getattr(settings, "SENTRY_DSN", None), os.environ.get("SENTRY_DSN"),
                sentry_sdk.get_client().dsn):
        yield from _dsn_parts(dsn)
    healthd = conf.get()
    yield from url_credentials(healthd.redis_url)
    yield from healthd.tokens
    yield from _check_tokens(healthd.checks)
    yield from _notify_parts(healthd.notify)


def _ordered(found: Iterable[str]) -> tuple[str, ...]:
    """Distinct, long enough, longest first (a URL before the tokens inside it)."""
    kept = {value for value in found if len(value) >= SHORTEST and value != "********"}
    return tuple(sorted(kept, key=lambda value: (-len(value), value)))


@per_process.memoised
def _secrets() -> tuple[str, ...]:
    return _ordered(_gathered())


def secrets() -> tuple[str, ...]:
    """The site's secrets, longest first; worked out once per settings (dropped on any
    setting change)."""
    return _secrets()


def forget() -> None:
    """Work the secrets out again at the next redaction (after ``sentry_sdk.init``)."""
    _secrets.cache_clear()
