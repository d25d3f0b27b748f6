"""Views of the test site's own, for the tests that stop a web server while it serves."""

from __future__ import annotations

import asyncio

from django.http import HttpRequest, HttpResponse

from healthd.store import client as redis_client
from healthd.store import keys


async def plain(request: HttpRequest) -> HttpResponse:
    """Any page of the site: it answers 200 while the server drains."""
    return HttpResponse(b"plain")


async def slow(request: HttpRequest) -> HttpResponse:
    """A request that takes ``?seconds=`` and says in Redis when it started (``?mark=``),
    so a test can stop the server while it is in flight."""
    mark = request.GET.get("mark")
    if mark:
        redis_client.writer().set(f"{keys().tagged}test-mark:{mark}", "1", ex=60)
    await asyncio.sleep(float(request.GET.get("seconds", "1")))
    return HttpResponse(b"slow done")
