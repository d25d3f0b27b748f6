"""Probes answered before Django, for an ASGI server (uvicorn, daphne, hypercorn).

In the site's ASGI module::

    from django.core.asgi import get_asgi_application
    from healthd.asgi import probes

    application = probes(get_asgi_application())

The same requests as :func:`healthd.wsgi.probes` are answered with the same bytes,
status and headers, from the cached state read with redis-py's asyncio client (made
lazily in each event loop), so the answer never waits on a thread; ``/readyz`` runs this
process's local checks, when they are due, in a worker thread, never in the loop. Anything else goes
to Django untouched; ``ALLOWED_HOSTS`` does not refuse an early answer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from healthd.local import verdict
from healthd.probes import answers as probe_answers
from healthd.store import health as state
from healthd.util.logs import get_logger

logger = get_logger("healthd.asgi")

Scope = dict[str, Any]
Receive = Callable[..., Awaitable[Any]]
Send = Callable[..., Awaitable[Any]]
ASGIApplication = Callable[[Scope, Receive, Send], Awaitable[None]]


def _asgi_header_name(meta_name: str) -> bytes:
    """``HTTP_X_FORWARDED_PROTO`` → ``x-forwarded-proto``."""
    return meta_name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin1")


def _path_info(scope: Scope) -> str:
    """The path Django resolves: the scope's path less the script prefix, as Django does."""
    path: str = scope["path"]
    prefix = settings.FORCE_SCRIPT_NAME or scope.get("root_path", "")
    return path.removeprefix(prefix) if prefix and path.startswith(prefix) else path


async def _early_answer(scope: Scope) -> tuple[probe_answers.Answer, bool] | None:
    has_authorization = False
    proxy_header = probe_answers.site().proxy_ssl_header
    proxy_name = _asgi_header_name(proxy_header[0]) if proxy_header else None
    proxy_value = None
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            has_authorization = True
        elif name == proxy_name:
            proxy_value = value.decode("latin1")
    secure = probe_answers.is_secure(scope.get("scheme") or "http", proxy_value)
    route = probe_answers.route(scope["method"], _path_info(scope),
                                scope.get("query_string", b""), has_authorization, secure)
    if route is None:
        return None
    with contextlib.ExitStack() as reads:
        if route.reads_state:
            reads.enter_context(state.reading(await state.snapshot_async()))
        if route.reads_local:
            reads.enter_context(verdict.reading(await verdict.current_async()))
        answer = route.answer()
    return None if answer is None else (answer, secure)


def probes(application: ASGIApplication) -> ASGIApplication:
    """``application`` behind a layer that answers the anonymous health probes itself."""

    async def answer_probes_first(scope: Scope, receive: Receive, send: Send) -> None:
        early = None
        if scope["type"] == "http":
            try:
                early = await _early_answer(scope)
            except Exception:  # broad: never worse than Django
                # Never worse than Django: whatever went wrong, Django answers.
                logger.exception("healthd could not answer %s early", scope.get("path"))
        if early is None:
            await application(scope, receive, send)
            return
        answer, secure = early
        await send({
            "type": "http.response.start",
            "status": answer.status,
            "headers": [(name.encode("ascii"), value.encode("latin1"))
                        for name, value in probe_answers.headers(answer, secure)],
        })
        await send({"type": "http.response.body", "body": answer.body})

    return answer_probes_first
