"""``POST /healthd/silence``: a deploy pipeline opens a silence over HTTP.

    curl -X POST -H "Authorization: Bearer $HEALTHD_TOKEN" \\
         -d for=10m -d reason=deploy -d all=1 https://example.com/healthd/silence

Fields, form-encoded or as a JSON object: ``for`` (90s, 15m, 2h, 1h30m, 1d; default 1h),
``reason``, ``checks`` (names: a list, repeated fields or commas) or ``all`` (every check;
also what no ``checks`` means),
as ``manage.py healthd_silence`` takes them. A token of ``HEALTHD["TOKENS"]`` (or
``WATCHMAN_TOKEN(S)``) is required, checked in constant time by
:func:`healthd.http.auth.token_is_valid` — never DEBUG or ``PUBLIC_DETAILS``, which only
show details: this view writes. CSRF-exempt, as the token is the caller's credential.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from healthd.alerting import silences
from healthd.http.auth import token_is_valid
from healthd.http.responses import Refusal, json_response, never_raise
from healthd.models import Silence
from healthd.util.durations import parse_duration
from healthd.util.logs import get_logger
from healthd.util.redact import redact

logger = get_logger("healthd.silences")

FIELDS = ("for", "reason", "checks", "all", "by")
_TRUE = {"1", "true", "yes", "on"}


def _fields(request: HttpRequest) -> dict[str, Any]:
    """The request's fields, from a JSON object or a form; a 400 when neither."""
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise Refusal(400, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise Refusal(400, "the body is not a JSON object", fields=list(FIELDS))
        return data
    data = {name: request.POST.get(name) for name in FIELDS if name in request.POST}
    if "checks" in request.POST:
        data["checks"] = request.POST.getlist("checks")
    return data


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Refusal(400, "checks: names, as a list or separated by commas")
    return [name.strip() for item in value for name in item.split(",") if name.strip()]


def _text(data: dict[str, Any], name: str, default: str = "") -> str:
    value = data.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise Refusal(400, f"{name}: a string")
    return str(value)


def _all(value: Any) -> bool:
    return value is True or (isinstance(value, str | int) and str(value).lower() in _TRUE)


def described(silence: Silence) -> dict[str, Any]:
    """A silence as the API answers it (no secret: the reason and author redacted)."""
    return {"id": silence.pk, "checks": silence.checks,
            "starts_at": silence.starts_at.isoformat(),
            "ends_at": silence.ends_at.isoformat() if silence.ends_at else None,
            "reason": redact(silence.reason), "created_by": redact(silence.created_by)}


@csrf_exempt
@never_raise
def open_silence(request: HttpRequest) -> HttpResponse:
    """Open a silence now: 201 and the silence; 400 on bad input, 403 without a valid
    token, 405 for any method but POST."""
    if request.method != "POST":
        response = json_response({"error": "method not allowed: POST a silence"}, 405)
        response["Allow"] = "POST"
        return response
    if not token_is_valid(request):
        raise Refusal(403, "forbidden: a valid token is required")
    data = _fields(request)
    names = _names(data.get("checks"))
    all_checks = _all(data.get("all"))
    if names and all_checks:
        raise Refusal(400, "either checks or all, not both")
    try:
        names = silences.checked_names(names)
        reason = silences.checked_reason(_text(data, "reason"))
        duration = parse_duration(_text(data, "for", "1h"))
    except ValueError as exc:
        raise Refusal(400, str(exc)) from None
    silence = silences.create(names, duration, reason=reason,
                              created_by=_text(data, "by", "http")[:150])
    logger.info("silence %s opened over HTTP: %s (%s)", silence.pk, silence,
                redact(reason)[:100])
    response = json_response(described(silence), 201)
    response["Cache-Control"] = "no-store"
    return response
