"""Sentry as a site runs it: sentry-sdk initialised with its default integrations (the
logging integration turns error log lines into events), with a real transport that keeps
the envelopes instead of sending them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport


class KeepingTransport(Transport):
    """A real sentry-sdk transport that keeps envelopes instead of sending them."""

    def __init__(self, options=None):
        super().__init__(options)
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)


@pytest.fixture
def sentry_envelopes() -> Iterator[list[Envelope]]:
    """The envelopes sentry-sdk sends while the test runs, with the defaults users keep."""
    transport = KeepingTransport()
    sentry_sdk.init(dsn="https://public@sentry.example.com/1", transport=transport)
    yield transport.envelopes
    sentry_sdk.flush(timeout=5)
    sentry_sdk.init(dsn=None)
