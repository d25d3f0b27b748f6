"""``request.summary`` log records, as python-dockerflow's middleware emits them.

Add ``healthd.middleware.RequestSummaryMiddleware`` to ``MIDDLEWARE`` (after
AuthenticationMiddleware, so ``uid`` is known) and send the ``request.summary`` logger
to a handler using :class:`healthd.logging.MozlogFormatter`. Each record carries
dockerflow's fields: ``errno`` (0, or 500 for an unhandled exception), ``agent``,
``lang``, ``method``, ``path``, ``uid``, ``rid`` (the ``X-Request-ID`` header when it
is sane, else a new id) and ``t`` (milliseconds), and ``querystring`` (decoded, secrets
masked) with ``DOCKERFLOW_SUMMARY_LOG_QUERYSTRING``. Health probes are left out: a load
balancer polling the heartbeat would otherwise drown the log
(``HEALTHD["SUMMARY_SKIP_PATHS"]``).

The request id is also kept for the request in :data:`request_id_context`, as
dockerflow keeps it, so it is still logged when something later in the chain replaces
the request's attributes.
"""

from __future__ import annotations

import contextvars
import re
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from django.http import HttpRequest, HttpResponse

from healthd import conf
from healthd.logging import is_probe_path, skipped_paths
from healthd.util.logs import get_logger
from healthd.util.redact import redact

summary_logger = get_logger("request.summary")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# The id of the request being handled in this context (None outside a request).
request_id_context: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "healthd_request_id", default=None)


def request_id(request: HttpRequest) -> str:
    """The caller's X-Request-ID when it looks like an id, else a fresh one."""
    given = request.META.get("HTTP_X_REQUEST_ID", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


class RequestSummaryMiddleware:
    """Log one ``request.summary`` record per request, health probes excepted."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_probe_path(request.path_info, skipped_paths()):
            return self.get_response(request)
        # dockerflow's attribute names, which its users' code may read.
        request._id = request_id(request)  # type: ignore[attr-defined]
        request._start_timestamp = time.monotonic()  # type: ignore[attr-defined]
        token = request_id_context.set(request._id)  # type: ignore[attr-defined]
        try:
            response = self.get_response(request)
            if not getattr(request, "_summary_logged", False):
                summary_logger.info("", extra=self.summary(request))
        finally:
            request_id_context.reset(token)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if not hasattr(request, "_start_timestamp"):
            return None
        extra = self.summary(request)
        extra["errno"] = 500
        summary_logger.error(redact(exception), extra=extra)
        request._summary_logged = True  # type: ignore[attr-defined]
        return None

    @staticmethod
    def summary(request: HttpRequest) -> dict[str, Any]:
        """dockerflow's request.summary fields for this request."""
        out: dict[str, Any] = {
            "errno": 0,
            "agent": request.META.get("HTTP_USER_AGENT", ""),
            "lang": request.META.get("HTTP_ACCEPT_LANGUAGE", ""),
            "method": request.method,
            "path": request.path,
        }
        if conf.get().summary_log_querystring:
            out["querystring"] = redact(unquote(request.META.get("QUERY_STRING", "")))
        user = getattr(request, "user", None)
        if user is not None:
            out["uid"] = user.pk if user.is_authenticated else ""
        rid = getattr(request, "_id", None) or request_id_context.get()
        if rid is not None:
            out["rid"] = rid
        if hasattr(request, "_start_timestamp"):
            out["t"] = int((time.monotonic() - request._start_timestamp) * 1000)
        return out
