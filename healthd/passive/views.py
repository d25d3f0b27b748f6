"""Pings over HTTP, for jobs outside Django: ``POST /healthd/ping/<name>`` (a success),
``…/start`` (a run began: its duration is measured, and a run that never finishes is
late) and ``…/fail`` (a failure; the body, up to 10 KB, redacted, is the message).

Only passive checks declared in ``HEALTHD["CHECKS"]`` answer. Each takes its own
``token`` (or ``tokens``) and the site's tokens (``HEALTHD["TOKENS"]``,
``WATCHMAN_TOKEN(S)``), presented as ``Authorization: WATCHMAN-TOKEN Token="…"`` (or
``Bearer …``) or ``?token=…``; every accepted token is compared in constant time, and
a check that accepts none refuses every ping. An unknown name is a 404 that names none.
"""

from __future__ import annotations

import hmac

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from healthd import conf, passive
from healthd.checks.base import Check
from healthd.checks.passive import passive_of
from healthd.http.auth import presented_token
from healthd.http.responses import Refusal, json_response, never_raise
from healthd.util.redact import redact_and_cut

BODY_LIMIT = 10 * 1024
# Read past the limit, so that a secret the limit cuts in two is masked whole first.
BODY_READ = BODY_LIMIT + 4 * 1024
# Compared against when the name is unknown, so an unknown name costs what a known one does.
_NOBODY = b"\x00" * 32


def _token(request: HttpRequest) -> str | None:
    return presented_token(request) or request.GET.get("token")


def _accepted(given: str | None, tokens: tuple[str, ...]) -> bool:
    """True when ``given`` is one of ``tokens``: each one compared, in constant time."""
    presented = (given or "").encode()
    matched = False
    for token in [t.encode() for t in tokens] or [_NOBODY]:
        matched |= hmac.compare_digest(presented, token)
    return matched and given is not None and bool(tokens)


def _body(request: HttpRequest) -> str:
    """The first 10 KB of the body as text, redacted before it is cut."""
    text = request.read(BODY_READ).decode("utf-8", errors="replace")
    return redact_and_cut(text, BODY_LIMIT).strip()


def _authorised_check(request: HttpRequest, name: str) -> Check:
    """The declared passive check ``name``, if the caller presents a token it accepts."""
    check = passive.declared().get(name)
    definition = passive_of(check) if check is not None else None
    own = definition.tokens if definition is not None else ()
    accepted = _accepted(_token(request), (*own, *conf.get().tokens))
    if check is None:
        raise Refusal(404, "not found")
    if not accepted:
        raise Refusal(403, "forbidden: a valid token for this check is required")
    return check


@csrf_exempt
@require_POST
@never_raise
def ping(request: HttpRequest, name: str, kind: str = "") -> HttpResponse:
    """Record a success (``kind`` ""), a start or a failure of the passive check ``name``."""
    check = _authorised_check(request, name)
    if kind == "start":
        if not passive.report_start(check):
            raise Refusal(503, "could not record the ping: the result store is unavailable")
        return json_response({"status": "ok", "check": name, "started": True})
    body = _body(request)
    result = passive.report_finish(check, kind != "fail", body)
    if result is None:
        raise Refusal(503, "could not record the ping: the result store is unavailable")
    return json_response({"status": "ok", "check": name, "recorded": str(result.status)})
