"""Keep secrets out of messages, logs, responses and Sentry events: one step, :func:`redact`.

It masks, in this order:

1. every secret the site configured, wherever it appears as a whole (not inside a longer
   word): :func:`healthd.util.known_secrets.secrets` lists them;
2. the shapes a secret takes whoever it belongs to: a URL's password (``scheme://user:
   password@host``; the password may hold any character but a blank, up to the last
   ``@`` before the host, so ``u:pa/ss@h`` and ``u:p@ss@h`` are masked whole), a JSON or
   Python ``"password": "…"`` (and other keys naming a secret: token, secret, api_key,
   authorization, credentials, dsn…), ``Authorization:`` headers and ``Bearer`` tokens,
   ``password=…`` and ``key=…`` in query strings, command lines and environments.

Text is masked whole before it is cut anywhere, so a cut cannot keep a secret's prefix.
Cheap when there is nothing to mask: each known secret is looked for with ``in`` before a
pattern runs, and each shape only when its marker (``://``, a quote, ``=``…) is there.
"""

from __future__ import annotations

import re
from functools import lru_cache

from healthd.util import known_secrets

MASK = "********"

# The shapes of a secret, each found from a literal "anchor" (searched for with str.find,
# in C) and matched there: a pattern searched for at every character of a 10 KB ping body
# costs milliseconds, one matched at a few anchors microseconds. The masked value is the
# pattern's group s1, s2 or s3.
_VALUE = r"""(?:"[^"\n]{0,4096}"|'[^'\n]{0,4096}'|[^\s&;,'"]+)"""
_QUOTED = r"""(?P<q1>["'])\s*[:=]\s*(?P<q2>["'])(?P<s1>(?:\\.|(?!(?P=q2))[^\\\n]){1,4096})(?P=q2)"""
# A key naming a secret: password, api_key, X-Auth-Token, client_secret, SENTRY_DSN…, as
# JSON or a Python repr ("password": "…"), assigned (password=…) or stated (password: …).
_NAMED = re.compile(
    r"(?i)(?:passw(?:or)?d|pwd|secret|token|api[_\-]?key|access[_\-]?key|private[_\-]?key"
    r"|credentials?|dsn|session[_\-]?id)[\w.\-]{0,40}?"
    rf"(?:{_QUOTED}|\s*=\s*(?P<s2>{_VALUE})|:[ \t]*(?P<s3>{_VALUE}))")
# key=… (api_key=, ?key=, signing_key=): "key" alone, only when assigned.
_KEY = re.compile(rf"(?i)key\s*=\s*(?P<s1>{_VALUE})")
# Authorization: Bearer …, Basic …, WATCHMAN-TOKEN Token="…"; the scheme stays readable.
_AUTHORIZATION = re.compile(
    rf"""(?i)authori[sz]ation(?:{_QUOTED}|["']?\s*[:=]\s*["']?"""
    r"(?:(?:bearer|basic|digest|token|negotiate|watchman-token|apikey)\s+)?"
    r"""(?P<s2>(?:[\w\-]+=)?"[^"\n]{0,4096}"|[^\s"',;]+))""")
_BEARER = re.compile(r"(?i)bearer\s+(?P<s1>[A-Za-z0-9\-._~+/]{8,}=*)")
# scheme://user:password@ — the password up to the authority's last "@", any character.
_PASSWORD_LONGEST = 1024
_URL_CREDENTIALS = re.compile(
    rf"[a-zA-Z][a-zA-Z0-9+.\-]{{0,31}}://[^:/@\s]{{0,64}}:(?P<s1>\S{{1,{_PASSWORD_LONGEST}}})@")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")

# Each anchor and the shape matched where it is found.
_ANCHORS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("://", _URL_CREDENTIALS),
    ("authori", _AUTHORIZATION),
    *((anchor, _NAMED) for anchor in ("passw", "pwd", "secret", "token", "api", "access",
                                      "private", "credential", "dsn", "session")),
    ("key", _KEY),
    ("bearer", _BEARER),
)


def _scheme_start(text: str, at: int) -> int:
    """Where the URL scheme ending at ``at`` (the index of its "://") begins."""
    start = at
    while start > 0 and at - start < 32 and text[start - 1] in _SCHEME_CHARS:
        start -= 1
    while start < at and not text[start].isalpha():
        start += 1
    return start


def _lower(text: str) -> str:
    """``text`` in lower case, each character where it was (a few letters lower to two)."""
    lowered = text.lower()
    return lowered if len(lowered) == len(text) else text.translate(_ASCII_LOWER)


def _mask_shape(text: str, anchors: list[str], pattern: re.Pattern[str]) -> str:
    """``text`` with each match of ``pattern`` at one of ``anchors`` masked (group s1-s3)."""
    lowered = _lower(text)
    found: list[int] = []
    for anchor in anchors:
        at = lowered.find(anchor)
        while at >= 0:
            if anchor != "://":
                found.append(at)
            elif text.find("@", at, at + _PASSWORD_LONGEST + 64) >= 0:  # else no password
                found.append(_scheme_start(text, at))
            at = lowered.find(anchor, at + 1)
    pieces, done = [], 0
    for start in sorted(found):
        if start < done:
            continue
        match = pattern.match(text, start)
        if match is None:
            continue
        name = next(g for g in ("s1", "s2", "s3") if match.groupdict().get(g) is not None)
        pieces += [text[done:match.start(name)], MASK]
        done = match.end(name)
    return "".join(pieces) + text[done:] if pieces else text


@lru_cache(maxsize=1024)
def _whole(secret: str) -> re.Pattern[str]:
    """``secret`` where it stands whole: not the middle of a longer word."""
    before = r"(?<![A-Za-z0-9])" if secret[0].isalnum() else ""
    after = r"(?![A-Za-z0-9])" if secret[-1].isalnum() else ""
    return re.compile(before + re.escape(secret) + after)


def redact(text: object) -> str:
    """Return ``text`` as a string with every secret it carries masked."""
    out = str(text)
    if not out:
        return out
    for secret in known_secrets.secrets():
        if secret in out:
            out = _whole(secret).sub(MASK, out)
    lowered = _lower(out)
    shapes: dict[re.Pattern[str], list[str]] = {}
    for anchor, pattern in _ANCHORS:
        if anchor in lowered:
            shapes.setdefault(pattern, []).append(anchor)
    for pattern, anchors in shapes.items():
        out = _mask_shape(out, anchors, pattern)
    return out


_ASCII_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}


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


def redact_and_cut(text: str, limit: int) -> str:
    """``text`` redacted, then cut to ``limit`` characters: never the other way round, so
    a cut cannot leave the first characters of a secret."""
    return redact(text)[:limit]
