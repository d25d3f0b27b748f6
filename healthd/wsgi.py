"""Probes answered before Django, for a WSGI server.

In the site's WSGI module::

    from django.core.wsgi import get_wsgi_application
    from healthd.wsgi import probes

    application = probes(get_wsgi_application())

The anonymous forms of ``/__lbheartbeat__``, ``/livez``, ``/__heartbeat__``,
``/readyz``, ``/startupz``, ``/healthz`` and ``/watchman/bare/`` are then answered from
the cached state (and ``/readyz`` from this process's cached local verdict) without
Django's request handling, with the bytes, status and headers the Django views give
(:mod:`healthd.probes.answers` says which requests, and which headers).
Anything else — a token, a query string, DEBUG, a path the site serves otherwise — goes
to Django untouched. An early answer does not read the ``Host`` header, so
``ALLOWED_HOSTS`` does not refuse a probe sent to a pod's IP address.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from healthd.probes import answers as probe_answers
from healthd.util.logs import get_logger

logger = get_logger("healthd.wsgi")

StartResponse = Callable[..., Any]
WSGIApplication = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _early_answer(environ: dict[str, Any]) -> tuple[probe_answers.Answer, bool] | None:
    proxy_header = probe_answers.site().proxy_ssl_header
    secure = probe_answers.is_secure(
        environ.get("wsgi.url_scheme", "http"),
        environ.get(proxy_header[0]) if proxy_header else None)
    route = probe_answers.route(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""),
                                environ.get("QUERY_STRING", ""),
                                "HTTP_AUTHORIZATION" in environ, secure)
    if route is None:
        return None
    answer = route.answer()
    return None if answer is None else (answer, secure)


def probes(application: WSGIApplication) -> WSGIApplication:
    """``application`` behind a layer that answers the anonymous health probes itself."""

    def answer_probes_first(environ: dict[str, Any],
                            start_response: StartResponse) -> Iterable[bytes]:
        try:
            early = _early_answer(environ)
        except Exception:  # broad: never worse than Django
            # Never worse than Django: whatever went wrong, Django answers.
            logger.exception("healthd could not answer %s early", environ.get("PATH_INFO"))
            early = None
        if early is None:
            return application(environ, start_response)
        answer, secure = early
        start_response(f"{answer.status} {probe_answers.reason_phrase(answer.status)}",
                       probe_answers.headers(answer, secure))
        return [answer.body]

    return answer_probes_first
