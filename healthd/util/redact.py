"""Keep secrets out of messages, logs, responses and Sentry events.

Two passes: credentials inside URLs (``scheme://user:password@host``) are masked
wherever they appear, and the values of the site's known secrets (SECRET_KEY,
database and cache passwords, tokens, the Sentry DSN) are replaced verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.conf import settings

from healthd import conf

MASK = "********"
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]{0,31}://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
_QUERY_SECRETS = re.compile(r"(?i)(?P<key>(?:password|passwd|pwd|token|secret|key)=)[^&\s]+")


def _known_secrets() -> Iterable[str]:
    yield getattr(settings, "SECRET_KEY", "") or ""
    for db in getattr(settings, "DATABASES", {}).values():
        yield str(db.get("PASSWORD") or "")
    for cache in getattr(settings, "CACHES", {}).values():
        options = cache.get("OPTIONS") or {}
        yield str(options.get("PASSWORD") or options.get("password") or "")
    yield str(getattr(settings, "EMAIL_HOST_PASSWORD", "") or "")
    yield str(getattr(settings, "SENTRY_DSN", "") or "")
    yield from conf.get().tokens


def redact(text: object) -> str:
    """Return ``text`` as a string with every secret it carries masked."""
    out = str(text)
    out = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", out)
    out = _QUERY_SECRETS.sub(lambda m: f"{m['key']}{MASK}", out)
    for secret in _known_secrets():
        if secret and len(secret) >= 4 and secret in out:
            out = out.replace(secret, MASK)
    return out


def redact_deep(value: object) -> object:
    """``value`` with every string in it (dict keys included) redacted.

    For what checks report in their details and what stats providers return: nested
    dicts and lists of anything, where a secret may hide at any depth. Tuples become
    lists, as JSON would carry them.
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): redact_deep(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_deep(v) for v in value]
    return value


def safe_url(url: str | None) -> str:
    """A URL fit to show: credentials masked."""
    return redact(url or "")
