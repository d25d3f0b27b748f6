"""Who may see details: DEBUG, HEALTHD["PUBLIC_DETAILS"], or a valid token.

Tokens come from HEALTHD["TOKENS"], WATCHMAN_TOKEN and WATCHMAN_TOKENS; a caller
presents one in the query string (WATCHMAN_TOKEN_NAME, default ``watchman-token``) or
in ``Authorization: WATCHMAN-TOKEN Token="..."`` (quotes optional, as watchman reads
it) or ``Authorization: Bearer ...``. Every configured token is compared in constant
time.
"""

from __future__ import annotations

import hmac
import re

from django.conf import settings
from django.http import HttpRequest

from healthd import conf

_HEADER = re.compile(
    r'^\s*WATCHMAN-TOKEN\s+Token=\s?(?:"(?P<quoted>[^"]*)"|(?P<bare>[^\s",]+))\s*$',
    re.IGNORECASE)


def presented_token(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        match = _HEADER.match(header)
        if match:
            return match["quoted"] if match["quoted"] is not None else match["bare"]
        if header[:7].lower() == "bearer ":
            return header[7:].strip()
    return request.GET.get(conf.get().token_name)


def token_is_valid(request: HttpRequest) -> bool:
    """True when the caller presents one of the configured tokens (constant-time compare)."""
    tokens = conf.get().tokens
    if not tokens:
        return False
    presented = presented_token(request)
    if presented is None:
        return False
    given = presented.encode()
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(given, token.encode())
    return matched


def tokens_configured() -> bool:
    return bool(conf.get().tokens)


def may_see_details(request: HttpRequest) -> bool:
    return settings.DEBUG or conf.get().public_details or token_is_valid(request)
