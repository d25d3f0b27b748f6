"""Who may see details: DEBUG, HEALTHD["PUBLIC_DETAILS"], or a valid token.

Tokens come from HEALTHD["TOKENS"], WATCHMAN_TOKEN and WATCHMAN_TOKENS; a caller
presents one in the query string (WATCHMAN_TOKEN_NAME, default ``watchman-token``) or
in ``Authorization: WATCHMAN-TOKEN Token="..."`` or ``Authorization: Bearer ...``.
The WATCHMAN-TOKEN header is read as watchman read it: every ``name=value`` parameter
(quotes optional), ``Token`` wherever it stands among them. Every configured token is
compared in constant time.
"""

from __future__ import annotations

import hmac
import re

from django.conf import settings
from django.http import HttpRequest

from healthd import conf

_SCHEME = re.compile(r"^\s*WATCHMAN-TOKEN\s+", re.IGNORECASE)
# One ``name=value`` parameter of the header, its value quoted or bare.
_PARAMETER = re.compile(r'(\w+)\s*=\s?(?:"([^"]*)"|([^\s",]+))')


def _watchman_token(parameters: str) -> str | None:
    """The ``Token`` parameter of a WATCHMAN-TOKEN header, wherever it stands."""
    for name, quoted, bare in _PARAMETER.findall(parameters):
        if name.lower() == "token":
            return quoted or bare
    return None


def presented_token(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme = _SCHEME.match(header)
        if scheme:
            token = _watchman_token(header[scheme.end():])
            if token is not None:
                return token
        elif header[:7].lower() == "bearer ":
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
