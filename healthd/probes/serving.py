"""How a health view is served: as a coroutine under ASGI, as a plain function under WSGI.

Django runs a plain view in a worker thread under ASGI (``sync_to_async``), and a
coroutine view in an event loop of its own under WSGI (``async_to_sync``). A health
view answers in microseconds from the cached state, so either hop would cost more
than the view itself. :func:`async_under_asgi` makes a view that Django sees as a
coroutine function while an event loop runs in the calling thread (Django's ASGI
handler) and as a plain function otherwise (its WSGI handler). Under ASGI it reads the
latest results with the asyncio Redis client, then answers with the same synchronous
code, which then reads nothing more (:func:`healthd.store.health.reading`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from typing import Any, overload

from asgiref.sync import markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from healthd.local import verdict
from healthd.probes.answers import Answer
from healthd.store import health as state

View = Callable[..., HttpResponse]


def http_response(answer: Answer) -> HttpResponse:
    """A probe's answer as Django's response."""
    return HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)


def _coroutine_marks() -> dict[str, object]:
    """What marking a function as a coroutine function sets on it: ``_is_coroutine`` on
    Python 3.11, ``_is_coroutine_marker`` from 3.12 (asgiref knows which)."""

    def plain() -> None: ...

    before = set(vars(plain))
    markcoroutinefunction(plain)
    return {name: value for name, value in vars(plain).items() if name not in before}


COROUTINE_MARKS = _coroutine_marks()


def _in_event_loop() -> bool:
    # The low-level form: no exception to raise and catch on every WSGI request.
    return asyncio._get_running_loop() is not None


class ServedEitherWay:
    """A view that is a coroutine function in an event loop's thread, a function elsewhere."""

    def __init__(self, view: View, reads_state: bool, reads_local: bool = False) -> None:
        functools.update_wrapper(self, view)
        self._view = view
        self._reads_state = reads_state
        self._reads_local = reads_local

    # Read by iscoroutinefunction(), which Django calls before it calls the view.
    @property
    def _is_coroutine(self) -> object:
        return COROUTINE_MARKS.get("_is_coroutine") if _in_event_loop() else None

    @property
    def _is_coroutine_marker(self) -> object:
        return COROUTINE_MARKS.get("_is_coroutine_marker") if _in_event_loop() else None

    @property
    def _non_atomic_requests(self) -> frozenset[str]:
        # A health view never touches the database: no alias wraps it in a transaction
        # (ATOMIC_REQUESTS), which Django refuses for a coroutine view.
        return frozenset(settings.DATABASES)

    def __call__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if _in_event_loop():
            return self._answer_async(request, *args, **kwargs)
        return self._view(request, *args, **kwargs)

    async def _answer_async(self, request: HttpRequest, *args: Any, **kwargs: Any
                            ) -> HttpResponse:
        with contextlib.ExitStack() as reads:
            if self._reads_state:
                reads.enter_context(state.reading(await state.snapshot_async()))
            if self._reads_local:
                # A due evaluation of the local checks runs in a worker thread.
                reads.enter_context(verdict.reading(await verdict.current_async()))
            return self._view(request, *args, **kwargs)


@overload
def async_under_asgi(view: View) -> ServedEitherWay: ...


@overload
def async_under_asgi(*, reads_state: bool = True, reads_local: bool = False
                     ) -> Callable[[View], ServedEitherWay]: ...


def async_under_asgi(view: View | None = None, *, reads_state: bool = True,
                     reads_local: bool = False
                     ) -> ServedEitherWay | Callable[[View], ServedEitherWay]:
    """Serve ``view`` without a thread hop under ASGI and WSGI alike. It may read the
    latest results (:func:`healthd.store.health.health`) and nothing else from the store;
    ``reads_state=False`` for a view that reads nothing at all; ``reads_local=True`` for a
    view that reads this process's verdict (:func:`healthd.local.verdict.current`).
    ``@async_under_asgi`` or ``@async_under_asgi(reads_state=False)``."""

    def decorate(view: View) -> ServedEitherWay:
        return ServedEitherWay(view, reads_state, reads_local)

    if view is not None:
        return decorate(view)
    return decorate
