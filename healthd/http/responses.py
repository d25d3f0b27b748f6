"""What every health view shares: JSON answers that never carry a traceback, and refusals.

A view (or a helper it calls) that declines a request raises :class:`Refusal` where it
finds the reason; :func:`never_raise` turns it into the answer of the view's dialect, in
one place per dialect. A request Django itself rejects as malformed (too many fields, a
suspicious operation) is refused with a 400 the same way, never a 500.

The deliberate error answers of a health view (a failing heartbeat, a store that cannot
be read) are marked as logged, so Django's ``django.request`` logger does not report an
"Internal Server Error" for every probe while a service is down: the failure is in the
answer (and in healthd's own log when a check changes state), not in the server.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, overload

from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from healthd.util.logs import get_logger
from healthd.util.redact import redact

logger = get_logger("healthd.views")

View = Callable[..., HttpResponse]


class Refusal(Exception):
    """A request a health view declines: its status code, the reason, and what else the
    answer names (e.g. the valid choices)."""

    def __init__(self, status: int, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.extra = extra


def json_response(data: object, status: int = 200,
                  content_type: str = "application/json") -> HttpResponse:
    return HttpResponse(json.dumps(data, default=str), status=status, content_type=content_type)


def json_refusal(refusal: Refusal) -> HttpResponse:
    """The refusal as most dialects answer it: ``{"error": …, …}`` with its status."""
    return json_response({"error": refusal.error, **refusal.extra}, refusal.status)


def mark_logged(response: HttpResponse) -> HttpResponse:
    """Tell Django's request logging this answer is deliberate and needs no log line."""
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


@overload
def never_raise(view: View) -> View: ...


@overload
def never_raise(*, refused: Callable[[Refusal], HttpResponse]) -> Callable[[View], View]: ...


def never_raise(view: View | None = None, *,
                refused: Callable[[Refusal], HttpResponse] = json_refusal
                ) -> View | Callable[[View], View]:
    """Answer a :class:`Refusal` with ``refused`` (the dialect's shape), a PermissionDenied
    with a 403 refusal, a malformed request with a 400, and an unexpected exception with a
    JSON 500 naming its class (the detail goes to the log, never to the caller).
    ``@never_raise`` or ``@never_raise(refused=...)``."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                response = view(request, *args, **kwargs)
            except Refusal as refusal:
                response = refused(refusal)
            except PermissionDenied:
                # A site's own guard (e.g. WATCHMAN_AUTH_DECORATOR) said no.
                response = refused(Refusal(403, "forbidden"))
            except (BadRequest, SuspiciousOperation) as exc:
                response = refused(Refusal(400, f"bad request ({type(exc).__name__})"))
            except Exception as exc:  # broad: a JSON 500 naming the class, never a traceback
                logger.error("health view %s failed: %s: %s", view.__name__,
                             type(exc).__name__, redact(exc))
                response = json_response(
                    {"status": "error", "error": f"internal error ({type(exc).__name__})"}, 500
                )
            if response.status_code >= 500:
                mark_logged(response)
            return response

        return wrapper

    if view is not None:
        return decorate(view)
    return decorate


# The pages load nothing else: no scripts, no style sheets, no forms.
PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def html_response(template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    """A server-rendered page that loads nothing else (no scripts, no style sheets)."""
    response = HttpResponse(render_to_string(template, context), status=status,
                            content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = PAGE_POLICY
    return response
