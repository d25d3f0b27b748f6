"""A signed JSON webhook: the body, its signature, and the POST itself.

A POST of ``{"id", "check", "previous", "status", "message", "at", "host", "silenced"}``
with ``X-Healthd-Signature: sha256=<HMAC-SHA256 of the body with the secret>`` and
``Idempotency-Key: <the transition id>``. With grouping on (``GROUP_WAIT``), a POST of
``{"group", "follow_up", "summary", "transitions": [...]}`` instead, each transition with
the fields above plus ``suppressed_by``, roots first, and ``Idempotency-Key: <the group
id>``. Credentials in the URL
(``https://user:password@host/hook``) are sent as HTTP Basic auth, the URL without them:
``urllib`` would take ``user:password@host`` for the host name. A redirect is a failure:
the receiver has not taken the POST.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

SIGNATURE_HEADER = "X-Healthd-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# The fields of a webhook's body, in this order; a reminder adds "reminder" and "transition".
PAYLOAD_FIELDS = ("id", "check", "previous", "status", "message", "at", "host", "silenced")
# How much of a receiver's answer is read (and dropped): enough to end the exchange cleanly.
ANSWER_READ = 65536


class WebhookFailed(Exception):
    """The receiver answered with an error or could not be reached; the message names the
    HTTP status or the network error (the caller masks what it must)."""


def webhook_payload(event: dict[str, Any]) -> dict[str, Any]:
    if "events" in event:  # a group (healthd.alerting.grouping)
        return {"group": event["group"], "follow_up": event["follow_up"],
                "summary": event["summary"],
                "transitions": [{**webhook_payload(item),
                                 "suppressed_by": item.get("suppressed_by") or None}
                                for item in event["events"]]}
    payload = {name: event[name] for name in PAYLOAD_FIELDS}
    if event.get("reminder"):
        payload.update(reminder=event["reminder"], transition=event["transition"])
    return payload


def webhook_signature(body: bytes, secret: str) -> str:
    """The ``X-Healthd-Signature`` value: ``sha256=`` and the body's HMAC-SHA256, in hex.

    A receiver checks it with ``hmac.compare_digest`` against its own computation over
    the raw body it received.
    """
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def without_credentials(url: str) -> tuple[str, str | None]:
    """``url`` without its ``user:password@``, and the ``Authorization`` value they make
    (None when the URL carries none)."""
    parts = urlsplit(url)
    userinfo, at, address = parts.netloc.rpartition("@")
    if not at:
        return url, None
    user, _, password = userinfo.partition(":")
    pair = f"{unquote(user)}:{unquote(password)}".encode()
    return (urlunsplit(parts._replace(netloc=address)),
            f"Basic {base64.b64encode(pair).decode('ascii')}")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook that answers with a redirect has not taken the POST: that is a failure."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def post(url: str, secret: str, event: dict[str, Any], timeout: float) -> None:
    """POST ``event`` to the webhook at ``url``, signed with ``secret``."""
    body = json.dumps(webhook_payload(event), separators=(",", ":")).encode()
    target, authorization = without_credentials(url)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "healthd",
        SIGNATURE_HEADER: webhook_signature(body, secret),
        IDEMPOTENCY_HEADER: event["id"],
    }
    if authorization:
        headers["Authorization"] = authorization
    # The scheme is http or https: channels.parse refuses anything else.
    request = urllib.request.Request(target, data=body, method="POST", headers=headers)  # noqa: S310
    # Only the failure's text leaves this function: an exception kept in a local (its
    # reason) would make a reference cycle with its own traceback, freed late.
    failure = None
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(ANSWER_READ)
    except urllib.error.HTTPError as exc:
        exc.close()
        failure = f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError) as exc:
        failure = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    if failure is not None:
        raise WebhookFailed(failure)
