"""django-watchman's surface: ``/watchman/``, ``ping/``, ``bare/``, ``dashboard/``.

The checks, their selection and their shape are watchman's
(:mod:`healthd.compat.watchman.reading`): ``WATCHMAN_CHECKS`` or watchman's default set,
``?check=`` and ``?skip=`` (repeatable) with watchman's dotted paths or healthd check
names, ``databases`` and ``caches`` as lists of ``{alias: {"ok": …}}`` narrowed by
``WATCHMAN_DATABASES`` and ``WATCHMAN_CACHES``. No check left after the selection is
watchman's 404 ``{"error": 404, "message": "No checks found"}``.

Codes: 200 while the checks shown are healthy, else ``WATCHMAN_ERROR_CODE`` (default
500). "Healthy" is healthd's meaning: a failing check marked ``critical: False`` shows
``"ok": false`` but does not turn the answer into an error.

Who may call, as watchman decided it: ``WATCHMAN_AUTH_DECORATOR`` (default
``watchman.decorators.token_required``) guards the status and the dashboard. With the
default, a configured token (``WATCHMAN_TOKEN``, ``WATCHMAN_TOKENS``,
``HEALTHD["TOKENS"]``) is required, presented as ``?watchman-token=`` (or
``WATCHMAN_TOKEN_NAME``) or ``Authorization: WATCHMAN-TOKEN Token=…``; any other
dotted path (``django.contrib.auth.decorators.login_required``…) is applied as it is;
``None`` leaves them open. ``bare/`` and ``ping/`` have no guard, as in watchman: they
are for load balancers.

Who sees what: a caller who passed a guard that identifies them (a token, the site's
own decorator), or who may see details anyway (DEBUG, ``HEALTHD["PUBLIC_DETAILS"]``, a
valid token), sees each part's error; anyone else sees statuses only (``{"ok": false}``).
With ``EXPOSE_WATCHMAN_VERSION`` the answers carry ``X-Watchman-Version`` (healthd's
version) and the dashboard says it.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string
from django.views.decorators.http import require_safe

from healthd import __version__, conf
from healthd.compat.watchman import reading as dialect
from healthd.conf import per_process
from healthd.http.auth import may_see_details, token_is_valid, tokens_configured
from healthd.http.responses import Refusal, View, html_response, json_response, never_raise
from healthd.probes import answers as probe_answers
from healthd.probes.answers import JSON, Answer
from healthd.probes.serving import http_response
from healthd.store import health as state
from healthd.util.humanize import format_age

# watchman's default guard, by its dotted path (a name, not a secret).
TOKEN_REQUIRED = conf.PEER_DEFAULTS["WATCHMAN_AUTH_DECORATOR"]
VERSION_HEADER = "X-Watchman-Version"


class NoChecksFound(Refusal):
    """Nothing left to report after ``?check=`` and ``?skip=``: watchman's 404."""

    def __init__(self) -> None:
        super().__init__(404, "No checks found")


def _expose_version(response: HttpResponse) -> HttpResponse:
    if conf.get().expose_watchman_version:
        response[VERSION_HEADER] = __version__
    return response


def _refused(refusal: Refusal) -> HttpResponse:
    """watchman's JSON for its 404; healthd's ``{"error": …}`` for the rest."""
    if isinstance(refusal, NoChecksFound):
        return json_response({"error": 404, "message": refusal.error}, 404)
    return json_response({"error": refusal.error, **refusal.extra}, refusal.status)


def _bare_refusal(refusal: Refusal) -> HttpResponse:
    """``bare/`` answers with its status code alone, refusals too."""
    return HttpResponse(status=refusal.status, content_type="text/plain")


# --- who may call ---------------------------------------------------------------------------


@per_process.clears_on_setting_change
@functools.lru_cache(maxsize=16)
def _behind_site_decorator(path: str, view: View) -> View:
    """``view`` wrapped in the site's WATCHMAN_AUTH_DECORATOR; whoever it lets through has
    identified themselves, and sees details."""

    @functools.wraps(view)
    def let_in(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return view(request, *args, identified=True, **kwargs)

    decorator = import_string(path)
    return decorator(let_in)


def watchman_auth(view: View) -> View:
    """Guard ``view`` as WATCHMAN_AUTH_DECORATOR says, read at call time (see the module's
    docstring). The view is called with ``identified``: the guard identified the caller."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        path = conf.get().watchman_auth_decorator
        if not path:
            return view(request, *args, identified=False, **kwargs)
        if path == TOKEN_REQUIRED:
            if tokens_configured() and not token_is_valid(request):
                raise Refusal(403, "forbidden: a valid watchman token is required")
            return view(request, *args, identified=tokens_configured(), **kwargs)
        return _behind_site_decorator(path, view)(request, *args, **kwargs)

    return guarded


# --- the views --------------------------------------------------------------------------------


def _selected_health(request: HttpRequest) -> state.Health:
    """The state of the watchman checks the request selects (``?check=``, ``?skip=``)."""
    names = dialect.select(request.GET.getlist("check") if "check" in request.GET else None,
                           request.GET.getlist("skip") if "skip" in request.GET else None)
    if not names:
        raise NoChecksFound()
    return state.health(names)


@require_safe
@never_raise(refused=_refused)
@watchman_auth
def status(request: HttpRequest, identified: bool) -> HttpResponse:
    """``/watchman/``: watchman's checks in its shape, behind its guard."""
    health = _selected_health(request)
    details = identified or may_see_details(request)
    report = dialect.report(health, details)
    # Encoded once per evaluation, as the probes' answers are.
    answer = health.rendered(f"answer:watchman:{details}", lambda: Answer(
        probe_answers.watchman_error_code() if report.fails else 200, JSON,
        json.dumps(report.body, default=str).encode()))
    return _expose_version(http_response(answer))


@require_safe
@never_raise(refused=_refused)
@watchman_auth
def dashboard(request: HttpRequest, identified: bool) -> HttpResponse:
    """``/watchman/dashboard/``: the same checks as a page, with the age of each result."""
    health = _selected_health(request)
    report = dialect.report(health, identified or may_see_details(request))
    groups = []
    for check_state, entry in report.entries:
        for key, value in entry.shown.items():
            parts = value if isinstance(value, list) else [{"": value}]
            statuses = [
                {"name": alias, "ok": bool(info.get("ok")), "error": info.get("error", "")}
                for part in parts if isinstance(part, dict)
                for alias, info in part.items() if isinstance(info, dict)
            ]
            groups.append({
                "type": key,
                "ok": all(s["ok"] for s in statuses) if statuses else check_state.ok,
                "status": str(check_state.status),
                "age": format_age(check_state.age),
                "statuses": statuses,
                # watchman's JSON has no room for it; the page says why a failure is ok
                "silenced": check_state.message if check_state.result is not None
                and state.silenced_until(check_state.result, time.time()) is not None else "",
            })
    context = {
        "overall_ok": not report.fails,
        "error": health.error,
        "checks": groups,
        "version": __version__ if conf.get().expose_watchman_version else None,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    # A page for people: 200 whatever it shows (as watchman's), unless nothing could be read.
    response = html_response("healthd/watchman_dashboard.html", context,
                             probe_answers.watchman_error_code() if health.error else 200)
    return _expose_version(response)


@require_safe
@never_raise(refused=_bare_refusal)
def bare_status(request: HttpRequest) -> HttpResponse:
    """``/watchman/bare/``: the status code alone, for load balancers; no guard, as in
    watchman, and nothing shown to guard. The same answer ``healthd.wsgi.probes`` gives."""
    return http_response(probe_answers.watchman_bare(_selected_health(request)))


@require_safe
@never_raise
def ping(request: HttpRequest) -> HttpResponse:
    """``/watchman/ping/``: the process answers; touches neither Redis nor the database."""
    return HttpResponse("pong", content_type="text/plain")
