"""The notification channels of ``HEALTHD["NOTIFY"]``: what each wants, how it is sent.

An entry of ``NOTIFY`` is one of:

- an Apprise URL (``"slack://…"``, ``"mailto://…"``, ``"json://host/path"``…): every
  transition of every check;
- ``{"url": <Apprise URL>, "checks": [names], "on": ["failing", "recovered", "warning"]}``:
  the same, filtered (both keys optional);
- ``{"webhook": "https://…", "secret": "…", "checks": [names], "on": [...]}``: a POST of
  ``{"id", "check", "previous", "status", "message", "at", "host", "silenced"}`` with
  ``X-Healthd-Signature: sha256=<HMAC-SHA256 of the body with the secret>`` and
  ``Idempotency-Key: <the transition id>``.

Any entry may also carry ``"name"`` (shown instead of the masked URL, and the channel's
id) and ``"silenced": True`` (be told of silenced transitions too, marked so).
A transition is ``failing`` when it ends failing, ``warning`` when it ends warning and
``recovered`` when it ends passing. Secrets in a channel's URL are masked wherever the
channel is shown (:attr:`Channel.label`), and in every error it reports.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from healthd import conf
from healthd.util.logs import get_logger
from healthd.util.redact import MASK, redact

logger = get_logger("healthd.notify")

KINDS = ("failing", "recovered", "warning")
SIGNATURE_HEADER = "X-Healthd-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
APPRISE_KEYS = {"url", "checks", "on", "name", "silenced"}
WEBHOOK_KEYS = {"webhook", "secret", "checks", "on", "name", "silenced"}
# The fields of a webhook's body, in this order; a reminder adds "reminder" and "transition".
PAYLOAD_FIELDS = ("id", "check", "previous", "status", "message", "at", "host", "silenced")
# Apprise's notification types (its NotifyType values).
APPRISE_TYPES = {"failing": "failure", "recovered": "success", "warning": "warning"}


class ChannelError(ValueError):
    """A ``NOTIFY`` entry that cannot be used; the message names the problem, not secrets."""


class DeliveryFailed(Exception):
    """One attempt to notify a channel failed; the message is safe to show and keep."""


def kind_of(status: str) -> str:
    """Which ``on`` filter a transition to ``status`` falls under."""
    if status == "failing":
        return "failing"
    if status == "warning":
        return "warning"
    return "recovered"


def make_event(*, id: str, check: str, previous: str, status: str, message: str,
               checked_at: float, host: str, silenced: bool, transition_id: str,
               reminder: int) -> dict[str, Any]:
    """What a channel is told about one transition (or reminder): plain JSON values.

    Passed as is to the delivery task, so the worker needs neither the database nor the
    outbox to send it.
    """
    return {
        "id": id, "check": check, "previous": previous, "status": status,
        "message": redact(message),
        "at": datetime.fromtimestamp(checked_at, UTC).isoformat().replace("+00:00", "Z"),
        "host": host, "silenced": silenced, "transition": transition_id, "reminder": reminder,
    }


def webhook_payload(event: dict[str, Any]) -> dict[str, Any]:
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


def backoff(attempt: int, first: float, longest: float) -> float:
    """Seconds before retry number ``attempt`` (1, 2, …): doubling from ``first`` up to
    ``longest``, half of it random, so a receiver that was down is not hit by every
    worker at the same instant when it comes back."""
    ceiling = min(longest, first * 2 ** max(0, attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


_SECRETISH_SEGMENT = re.compile(r"(?=.*\d)[A-Za-z0-9_\-.~%]{8,}")


def mask_url(url: str) -> str:
    """A webhook URL fit to show: credentials, query values and token-like path segments
    (8 characters or more with a digit in them) masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    if parts.username:
        netloc = f"{parts.username}:{MASK}@{netloc}" if parts.password else f"{MASK}@{netloc}"
    path = "/".join(MASK if _SECRETISH_SEGMENT.fullmatch(segment) else segment
                    for segment in parts.path.split("/"))
    query = "&".join(f"{pair.partition('=')[0]}={MASK}" for pair in parts.query.split("&")
                     if pair)
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def _apprise() -> Any:
    """Apprise, imported when a channel first needs it: it takes most of a second to
    import, which no web process answering heartbeats should pay for."""
    import apprise

    return apprise


def _apprise_label(url: str) -> str:
    apprise = _apprise()
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        raise ChannelError("not an Apprise URL Apprise can use (unknown scheme or "
                           "missing parts)")
    return plugin.url(privacy=True).split("?", 1)[0]


@dataclass(frozen=True)
class Channel:
    """One configured channel; ``url`` and ``secret`` are never shown, ``label`` is."""

    id: str
    label: str
    kind: str
    url: str = field(repr=False)
    secret: str = field(default="", repr=False)
    checks: frozenset[str] | None = None
    on: frozenset[str] = frozenset(KINDS)
    silenced: bool = False

    def wants(self, check: str, status: str, silenced: bool) -> bool:
        """Whether this channel is told of a transition of ``check`` to ``status``."""
        if silenced and not self.silenced:
            return False
        if self.checks is not None and check not in self.checks:
            return False
        return kind_of(status) in self.on

    def scrub(self, text: object) -> str:
        """``text`` with this channel's URL, secret and their tokens masked."""
        out = str(text)
        for secret in (self.url, self.secret):
            if secret:
                out = out.replace(secret, self.label if secret == self.url else MASK)
        for token in _SECRETISH_SEGMENT.findall(self.url.split("://", 1)[-1]):
            out = out.replace(token, MASK)
        return redact(out)

    def send(self, event: dict[str, Any], timeout: float) -> None:
        """Notify once; raise :class:`DeliveryFailed` with a safe message when it fails."""
        try:
            if self.kind == "webhook":
                self._post_webhook(event, timeout)
            else:
                self._notify_apprise(event, timeout)
        except DeliveryFailed:
            raise
        except Exception as exc:
            raise DeliveryFailed(self.scrub(f"{type(exc).__name__}: {exc}")) from None

    def _post_webhook(self, event: dict[str, Any], timeout: float) -> None:
        body = json.dumps(webhook_payload(event), separators=(",", ":")).encode()
        # The scheme is http or https: parse() refuses anything else.
        request = urllib.request.Request(self.url, data=body, method="POST", headers={  # noqa: S310
            "Content-Type": "application/json",
            "User-Agent": "healthd",
            SIGNATURE_HEADER: webhook_signature(body, self.secret),
            IDEMPOTENCY_HEADER: event["id"],
        })
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                response.read(65536)
        except urllib.error.HTTPError as exc:
            raise DeliveryFailed(f"HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryFailed(self.scrub(f"{type(exc).__name__}: {reason}")) from None

    def _notify_apprise(self, event: dict[str, Any], timeout: float) -> None:
        apprise = _apprise()
        notifier = apprise.Apprise()
        separator = "&" if "?" in self.url else "?"
        url = self.url
        if "cto=" not in url and "rto=" not in url:
            url = f"{url}{separator}cto={timeout:g}&rto={timeout:g}"
        if not notifier.add(url):
            raise DeliveryFailed("Apprise cannot use this URL")
        reminder = f" (reminder {event['reminder']})" if event.get("reminder") else ""
        title = f"healthd: {event['check']} is {event['status']}{reminder}"
        body = (f"{event['message']}\n\n{event['check']}: {event['previous']} → "
                f"{event['status']} at {event['at']} on {event['host']}"
                f"{' (silenced)' if event.get('silenced') else ''}")
        result = notifier.notify(body=body, title=title,
                                 notify_type=APPRISE_TYPES[kind_of(event["status"])],
                                 timeout=timeout * 2)
        if result.status != apprise.AppriseResultStatus.SUCCESS:
            problems = [entry.message for entry in result.logs()
                        if entry.level in ("WARNING", "ERROR", "CRITICAL")]
            raise DeliveryFailed(self.scrub("; ".join(problems[-3:]) or result.status.name))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook that answers with a redirect has not taken the POST: that is a failure."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _names(value: object, what: str) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ChannelError(f'"{what}" must be a list of names, not {type(value).__name__}')
    if not all(isinstance(name, str) and name for name in value):
        raise ChannelError(f'"{what}" must hold non-empty strings only')
    return frozenset(value)


def parse(entry: object) -> Channel:
    """One ``NOTIFY`` entry as a :class:`Channel`; :class:`ChannelError` says what is wrong."""
    if isinstance(entry, str):
        entry = {"url": entry}
    if not isinstance(entry, dict):
        raise ChannelError(f"must be an Apprise URL or a dict, not {type(entry).__name__}")
    if ("url" in entry) == ("webhook" in entry):
        raise ChannelError('a dict needs exactly one of "url" (Apprise) and "webhook"')
    kind = "webhook" if "webhook" in entry else "apprise"
    allowed = WEBHOOK_KEYS if kind == "webhook" else APPRISE_KEYS
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ChannelError(f"unknown key(s) {unknown}; known: {sorted(allowed)}")
    url = entry["webhook" if kind == "webhook" else "url"]
    if not isinstance(url, str) or not url:
        raise ChannelError(f'"{"webhook" if kind == "webhook" else "url"}" must be a URL')
    secret = ""
    if kind == "webhook":
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ChannelError(f"the webhook must be an http:// or https:// URL, not "
                               f"{mask_url(url)!r}")
        given = entry.get("secret")
        if not isinstance(given, str) or not given:
            raise ChannelError('a webhook needs a "secret" (a non-empty string) to sign with')
        secret = given
        label = mask_url(url)
    else:
        label = _apprise_label(url)
    checks = _names(entry["checks"], "checks") if entry.get("checks") is not None else None
    on = frozenset(KINDS)
    if entry.get("on") is not None:
        on = _names(entry["on"], "on")
        if not on or not on <= set(KINDS):
            raise ChannelError(f'"on" must list some of {list(KINDS)}, not {sorted(on)}')
    name = entry.get("name")
    if name is not None and (not isinstance(name, str) or not 0 < len(name) <= 64):
        raise ChannelError('"name" must be a string of 1 to 64 characters')
    if not isinstance(entry.get("silenced", False), bool):
        raise ChannelError('"silenced" must be True or False')
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return Channel(id=name or f"{kind}-{digest}", label=name or label, kind=kind, url=url,
                   secret=secret, checks=checks, on=on,
                   silenced=bool(entry.get("silenced", False)))


def configured() -> list[Channel]:
    """The channels of ``HEALTHD["NOTIFY"]``; a malformed one is logged and left out
    (``manage.py check`` stops on it before it gets here)."""
    entries = conf.get().raw.get("NOTIFY") or []
    channels = []
    for index, entry in enumerate(entries if isinstance(entries, list | tuple) else []):
        try:
            channels.append(parse(entry))
        except ChannelError as exc:
            logger.error('HEALTHD["NOTIFY"][%d] left out: %s', index, exc)
    return channels


def channel_by_id(channel_id: str) -> Channel | None:
    """The configured channel with this id, or None when it is no longer configured."""
    return next((c for c in configured() if c.id == channel_id), None)
