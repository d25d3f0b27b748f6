"""The notification channels of ``HEALTHD["NOTIFY"]``: what each wants, how it is sent.

An entry of ``NOTIFY`` is one of:

- an Apprise URL (``"slack://…"``, ``"mailto://…"``, ``"json://host/path"``…): every
  transition of every check;
- ``{"url": <Apprise URL>, "checks": [names], "on": ["failing", "recovered", "warning"]}``:
  the same, filtered (both keys optional);
- ``{"webhook": "https://…", "secret": "…", "checks": [names], "on": [...]}``: a signed
  POST (:mod:`healthd.alerting.notify.webhooks`); credentials in its URL are sent as
  HTTP Basic auth.

Any entry may also carry ``"name"`` (its label, and the channel's id) and
``"silenced": True`` (be told of silenced transitions too, marked so).
A transition is ``failing`` when it ends failing, ``warning`` when it ends warning and
``recovered`` when it ends passing.

A channel is shown (the ``/metrics`` label, the admin's Delivery pages, the logs) by its
:attr:`Channel.label`, which holds no part of its URL: its ``"name"``, else its service
and its position in ``NOTIFY`` (``slack#1``, ``json#2``, ``webhook#3``). For most Apprise
services the URL's path *is* the secret. Its :attr:`Channel.id` (kept with each Delivery
and passed to the delivery task) is the name, or a digest of the URL keyed with
``SECRET_KEY``: stable while the URL is, and no help to whoever guesses at the URL.
Errors a channel reports are masked (:meth:`Channel.scrub`).
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.utils.crypto import salted_hmac

from healthd import conf
from healthd.alerting.notify import webhooks
from healthd.util import extras
from healthd.util.logs import get_logger
from healthd.util.redact import MASK, redact

logger = get_logger("healthd.notify")

KINDS = ("failing", "recovered", "warning")
APPRISE_KEYS = {"url", "checks", "on", "name", "silenced"}
WEBHOOK_KEYS = {"webhook", "secret", "checks", "on", "name", "silenced"}
ID_SALT = "healthd.notify.channel"
# Apprise's notification types (its NotifyType values).
APPRISE_TYPES = {"failing": "failure", "recovered": "success", "warning": "warning"}


class ChannelError(ValueError):
    """A ``NOTIFY`` entry that cannot be used; the message names the problem, not secrets."""


class MissingExtra(ChannelError):
    """A channel that needs an optional package this install lacks; names the extra."""


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
               reminder: int, suppressed_by: str = "") -> dict[str, Any]:
    """What a channel is told about one transition (or reminder): plain JSON values.

    Passed as is to the delivery task, so the worker needs neither the database nor the
    outbox to send it.
    """
    return {
        "id": id, "check": check, "previous": previous, "status": status,
        "message": redact(message),
        "at": datetime.fromtimestamp(checked_at, UTC).isoformat().replace("+00:00", "Z"),
        "host": host, "silenced": silenced, "transition": transition_id, "reminder": reminder,
        "suppressed_by": suppressed_by,
    }


def backoff(attempt: int, first: float, longest: float) -> float:
    """Seconds before retry number ``attempt`` (1, 2, …): doubling from ``first`` up to
    ``longest``, half of it random, so a receiver that was down is not hit by every
    worker at the same instant when it comes back."""
    ceiling = min(longest, first * 2 ** max(0, attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


_SECRETISH_SEGMENT = re.compile(r"(?=.*\d)[A-Za-z0-9_\-.~%]{8,}")


def mask_url(url: str) -> str:
    """A malformed webhook URL fit to show in the error that refuses it: credentials,
    query values and token-like path segments (8 characters or more with a digit in
    them) masked."""
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
    try:
        import apprise
    except ImportError:  # the core install: signed webhooks only
        raise MissingExtra(extras.needs("an Apprise URL", "apprise")) from None
    return apprise


def _apprise_plugin(url: str) -> Any:
    plugin = _apprise().Apprise.instantiate(url)
    if plugin is None:
        raise ChannelError("not an Apprise URL Apprise can use (unknown scheme or "
                           "missing parts)")
    return plugin


def channel_id(kind: str, url: str, key: str | None = None) -> str:
    """The id of an unnamed channel: a digest of its URL keyed with ``SECRET_KEY`` (or
    ``key``, one of its fallbacks)."""
    digest = salted_hmac(ID_SALT, url, secret=key, algorithm="sha256").hexdigest()
    return f"{kind}-{digest[:12]}"


def _former_ids(kind: str, url: str) -> set[str]:
    """The ids this channel had under a former SECRET_KEY, or before ids were keyed (a
    retry queued then still finds its channel)."""
    found = {channel_id(kind, url, str(key))
             for key in getattr(settings, "SECRET_KEY_FALLBACKS", ()) or ()}
    found.add(f"{kind}-{hashlib.sha256(url.encode()).hexdigest()[:12]}")
    return found


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

    @property
    def former_ids(self) -> set[str]:
        """Ids a delivery queued before may carry for this channel."""
        return set() if self.id == self.label else _former_ids(self.kind, self.url)

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
        for secret in (self.url, webhooks.without_credentials(self.url)[0], self.secret):
            if secret:
                out = out.replace(secret, self.label if secret != self.secret else MASK)
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
        except Exception as exc:  # broad: an Apprise plugin may raise anything at all
            raise DeliveryFailed(self.scrub(f"{type(exc).__name__}: {exc}")) from None

    def _post_webhook(self, event: dict[str, Any], timeout: float) -> None:
        try:
            webhooks.post(self.url, self.secret, event, timeout)
        except webhooks.WebhookFailed as exc:
            raise DeliveryFailed(self.scrub(exc)) from None

    def _notify_apprise(self, event: dict[str, Any], timeout: float) -> None:
        apprise = _apprise()
        notifier = apprise.Apprise()
        separator = "&" if "?" in self.url else "?"
        url = self.url
        if "cto=" not in url and "rto=" not in url:
            url = f"{url}{separator}cto={timeout:g}&rto={timeout:g}"
        if not notifier.add(url):
            raise DeliveryFailed("Apprise cannot use this URL")
        title, body = _text(event)
        result = notifier.notify(body=body, title=title,
                                 notify_type=APPRISE_TYPES[kind_of(event["status"])],
                                 timeout=timeout * 2)
        if result.status != apprise.AppriseResultStatus.SUCCESS:
            problems = [entry.message for entry in result.logs()
                        if entry.level in ("WARNING", "ERROR", "CRITICAL")]
            raise DeliveryFailed(self.scrub("; ".join(problems[-3:]) or result.status.name))


def _line(event: dict[str, Any]) -> str:
    held = f" (suppressed: {event['suppressed_by']} failing)" if event.get("suppressed_by") \
        else ""
    return (f"{event['check']}: {event['previous']} → {event['status']} at {event['at']} on "
            f"{event['host']}{' (silenced)' if event.get('silenced') else ''}{held}")


def _text(event: dict[str, Any]) -> tuple[str, str]:
    """The title and body a person reads: one transition, or a group (roots first)."""
    if "events" in event:
        follow = " (follow-up)" if event.get("follow_up") else ""
        body = "\n".join(f"{_line(item)}: {item['message']}" for item in event["events"])
        return f"healthd: {event['summary']}{follow}", body
    reminder = f" (reminder {event['reminder']})" if event.get("reminder") else ""
    return (f"healthd: {event['check']} is {event['status']}{reminder}",
            f"{event['message']}\n\n{_line(event)}")


def _names(value: object, what: str) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ChannelError(f'"{what}" must be a list of names, not {type(value).__name__}')
    if not all(isinstance(name, str) and name for name in value):
        raise ChannelError(f'"{what}" must hold non-empty strings only')
    return frozenset(value)


def parse(entry: object, position: int = 0) -> Channel:
    """One ``NOTIFY`` entry as a :class:`Channel`; :class:`ChannelError` says what is wrong.

    ``position``: the entry's place in ``NOTIFY``, from 1, for its label (0: none).
    """
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
        service = "webhook"
    else:
        _apprise_plugin(url)
        service = url.split("://", 1)[0].lower() if "://" in url else "apprise"
    checks = _names(entry["checks"], "checks") if entry.get("checks") is not None else None
    on = frozenset(KINDS)
    if entry.get("on") is not None:
        on = _names(entry["on"], "on")
        if not on or not on <= set(KINDS):
            raise ChannelError(f'"on" must list some of {list(KINDS)}, not {sorted(on)}')
    name = entry.get("name")
    if name is not None and (not isinstance(name, str) or not 0 < len(name) <= 64):
        raise ChannelError('"name" must be a string of 1 to 64 characters')
    if name is not None and "://" in name:
        raise ChannelError('"name" is shown to anyone who reads /metrics: not a URL')
    if not isinstance(entry.get("silenced", False), bool):
        raise ChannelError('"silenced" must be True or False')
    label = name or (f"{service}#{position}" if position else service)
    return Channel(id=name or channel_id(kind, url), label=label, kind=kind, url=url,
                   secret=secret, checks=checks, on=on,
                   silenced=bool(entry.get("silenced", False)))


def configured() -> list[Channel]:
    """The channels of ``HEALTHD["NOTIFY"]``; a malformed one is logged and left out
    (``manage.py check`` stops on it before it gets here)."""
    entries = conf.get().notify or []
    channels = []
    for index, entry in enumerate(entries if isinstance(entries, list | tuple) else []):
        try:
            channels.append(parse(entry, position=index + 1))
        except ChannelError as exc:
            logger.error('HEALTHD["NOTIFY"][%d] left out: %s', index, exc)
    return channels


def channel_by_id(wanted: str) -> Channel | None:
    """The configured channel with this id (or a former id of it), or None when it is no
    longer configured."""
    channels = configured()
    return (next((c for c in channels if c.id == wanted), None)
            or next((c for c in channels if wanted in c.former_ids), None))
