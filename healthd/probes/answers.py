"""The anonymous answers of the health probes, from the cached state, without a framework.

One place decides the bytes an anonymous caller gets from ``/__lbheartbeat__``,
``/livez``, ``/__heartbeat__``, ``/readyz``, ``/startupz``, ``/healthz`` and
``/watchman/bare/``: the
Django views answer with these, and so do :func:`healthd.wsgi.probes` and
:func:`healthd.asgi.probes`, which answer before Django sees the request. An
:class:`Answer` is a status, a content type and a body; nothing here knows a request
or a response class.

:func:`route` says whether a request may be answered before Django: GET or HEAD, no
query string, no ``Authorization`` header, neither ``DEBUG`` nor
``HEALTHD["PUBLIC_DETAILS"]`` (both show details to everyone), and a path the root
URLconf routes to healthd's own view. A token, a query, a path the site serves
otherwise (or not at all), a site listening to the heartbeat signals, watchman tokens
(Django decides who may see ``bare/``), a request ``SecurityMiddleware`` would redirect
to HTTPS, and every probe of a site whose ``CommonMiddleware`` answers some requests
itself (``PREPEND_WWW``, ``DISALLOWED_USER_AGENTS``) all go to Django. :func:`headers`
gives an early answer the headers Django's middleware would have added to it:
``SecurityMiddleware``'s, ``XFrameOptionsMiddleware``'s and ``CommonMiddleware``'s
``Content-Length``, for the middleware the site uses, in the order Django adds them. No
other middleware runs for an early answer, and the ``Host`` header is not read:
``ALLOWED_HOSTS`` does not refuse a probe sent to a pod's IP address.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from http.client import responses
from typing import Any

from django.conf import settings
from django.urls import Resolver404, resolve

from healthd import conf, signals
from healthd.checks import passive, registry
from healthd.checks.base import Status
from healthd.compat.dockerflow import reading as dockerflow_dialect
from healthd.compat.watchman import reading as watchman_dialect
from healthd.conf import per_process
from healthd.local import verdict
from healthd.local.verdict import LocalVerdict
from healthd.store import health as state

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
HEALTH_JSON = "application/health+json"

# python-dockerflow's names for each status.
DOCKERFLOW_STATUS = {
    Status.PASSING: "ok",
    Status.WARNING: "warning",
    Status.FAILING: "error",
    Status.STALE: "error",
    Status.UNKNOWN: "error",
}
# The IETF health-check draft's names for each status.
DRAFT_STATUS = {
    Status.PASSING: "pass",
    Status.WARNING: "warn",
    Status.FAILING: "fail",
    Status.STALE: "fail",
    Status.UNKNOWN: "fail",
}


@dataclass(frozen=True)
class Answer:
    """What a probe answers, whoever serves it."""

    status: int
    content_type: str
    body: bytes = b""


# --- the answers ---------------------------------------------------------------------------


def lbheartbeat() -> Answer:
    """``/__lbheartbeat__``: the process answers; touches neither Redis nor the database."""
    return Answer(200, JSON)


def livez(verbose: bool = False) -> Answer:
    """``/livez``: the process answers; touches neither Redis nor the database."""
    return Answer(200, TEXT, b"[+]ping ok\nlivez check passed\n" if verbose else b"ok")


def heartbeat_status(health: state.Health) -> int:
    """200 while no critical check fails; else DOCKERFLOW_HEARTBEAT_FAILED_STATUS_CODE."""
    return 200 if health.healthy else conf.get().heartbeat_failed_status


def heartbeat_summary(health: state.Health) -> dict[str, Any]:
    """The part of ``/__heartbeat__`` anyone may see: the status, and why the store failed."""
    body: dict[str, Any] = {
        "status": dockerflow_dialect.overall(health, DOCKERFLOW_STATUS[health.status])}
    if health.error:
        body["error"] = health.error
    return body


def heartbeat(health: state.Health) -> Answer:
    """``/__heartbeat__`` for an anonymous caller, rendered once per evaluation."""
    return health.rendered("answer:heartbeat", lambda: Answer(
        heartbeat_status(health), JSON, json.dumps(heartbeat_summary(health)).encode()))


def healthz_summary(health: state.Health) -> dict[str, Any]:
    """The part of ``/healthz`` anyone may see: the draft's status, and why the store failed."""
    body: dict[str, Any] = {"status": DRAFT_STATUS[health.status], "description": "healthd"}
    if health.error:
        body["output"] = health.error
    return body


def healthz_status(health: state.Health) -> int:
    """The draft's codes: pass and warn are 200, fail is 503."""
    return 503 if DRAFT_STATUS[health.status] == "fail" else 200


def healthz(health: state.Health) -> Answer:
    """``/healthz`` for an anonymous caller, rendered once per evaluation."""
    return health.rendered("answer:healthz", lambda: Answer(
        healthz_status(health), HEALTH_JSON, json.dumps(healthz_summary(health)).encode()))


@per_process.memoised
def readiness_checks() -> tuple[str, ...]:
    """The scheduled checks whose failure makes every process unready: those whose entry
    says ``"readiness": True``."""
    return tuple(c.name for c in registry.configured_checks() if c.readiness)


def readiness_health(exclude: tuple[str, ...] = ()) -> state.Health | None:
    """The cached state of the opted-in scheduled checks (less ``exclude``); None when no
    check opted in, so ``/readyz`` reads nothing from the store."""
    names = [name for name in readiness_checks() if name not in exclude]
    return state.health(names) if names else None


DRAINING = Answer(503, TEXT, b"draining")
# The anonymous answer last rendered, with what it was rendered from.
_last_readyz: tuple[state.Health | None, LocalVerdict, Answer] | None = None


def readyz(health: state.Health | None, local: LocalVerdict, excluded: tuple[str, ...] = (),
           verbose: bool = False, reasons: bool = False) -> Answer:
    """``/readyz``: whether *this process* should get traffic, Kubernetes style.

    Unready when one of its local checks fails (unless most live pods fail it too:
    :mod:`healthd.local.shared`), while it drains, or when a scheduled
    check that opted in (``health``: see :func:`readiness_health`) fails. A scheduled
    check that did not opt in never counts, critical or not: it fails for every process
    at once, and taking every process out of the pool turns a partial outage into a
    total one. Neither does the store being unreadable, for the same reason. ``reasons``
    shows why a check failed (else "reason withheld"). A process told to stop answers
    503 "draining" (:mod:`healthd.local.draining`); ``verbose`` says why line by line."""
    global _last_readyz
    if local.draining and not verbose:
        return DRAINING  # as short as it gets: a stopping process's probes are many
    if excluded or verbose or reasons:
        return _readyz(health, local, excluded, verbose, reasons)
    last = _last_readyz
    if last is not None and last[0] is health and last[1] is local:
        return last[2]
    answer = _readyz(health, local, (), False, False)
    _last_readyz = (health, local, answer)
    return answer


def _readyz(health: state.Health | None, local: LocalVerdict, excluded: tuple[str, ...],
            verbose: bool, reasons: bool) -> Answer:
    local_failures = [name for name in local.failures
                      if name not in excluded and name not in local.shared]
    shared = [] if health is None or health.error else list(health.checks)
    ready = (not local.draining and not local_failures
             and not any(c.status.is_failure for c in shared))
    if ready and not verbose:
        return Answer(200, TEXT, b"ok")
    lines = []
    for name in local.checks:
        if name in excluded:
            continue
        if name in local.shared:
            # Most pods fail it too (healthd.local.shared): the site's trouble, not this pod's.
            reason = f": {local.failures[name]}" if reasons else ""
            lines.append(f"[+]local:{name} {local.shared[name]}: shared, not counted{reason}")
        elif name in local.failures:
            reason = local.failures[name] if reasons else "reason withheld"
            lines.append(f"[-]local:{name} failed: {reason}")
        else:
            lines.append(f"[+]local:{name} ok")
    if local.draining:
        lines.append("[-]draining: this process is shutting down")
    if health is not None and health.error:
        lines.append(f"[+]store not counted: {health.error}")
    for check_state in shared:
        if not check_state.status.is_failure:
            lines.append(f"[+]{check_state.name} ok")
        else:
            reason = check_state.message if reasons else "reason withheld"
            lines.append(f"[-]{check_state.name} failed: {reason}")
    lines.extend(f"[+]{name} excluded: ok" for name in excluded)
    lines.append("readyz check passed" if ready else "readyz check failed")
    return Answer(200 if ready else 503, TEXT, ("\n".join(lines) + "\n").encode())


# Once the first results were seen, this process has started: it stays so.
_started = False


def forget_startup() -> None:
    """This process has not started yet, as far as ``/startupz`` says (a setting changed)."""
    global _started
    _started = False


per_process.on_setting_change(forget_startup)


def startupz(health: state.Health, verbose: bool = False) -> Answer:
    """``/startupz``: 200 once every configured scheduled check has a result in the store
    (whatever it says), 503 before, for a kubelet's startup probe. This process answering
    is the other half. A passive check reports in when its job runs: it is not waited for.
    Once passed, it stays passed in this process."""
    global _started
    if not _started:
        if health.error:
            return Answer(503, TEXT, f"[-]store failed: {health.error}\nstartupz check failed\n"
                          .encode())
        missing = [c.name for c in health.checks
                   if c.result is None and not passive.is_passive(c.check)]
        if missing:
            return Answer(503, TEXT, (f"[-]results failed: no result yet for "
                                      f"{', '.join(missing)}\nstartupz check failed\n").encode())
        _started = True
    return Answer(200, TEXT, b"[+]results ok\nstartupz check passed\n" if verbose else b"ok")


def watchman_error_code() -> int:
    """WATCHMAN_ERROR_CODE (default 500, as in watchman)."""
    return int(conf.get().watchman_error_code)


def watchman_bare(health: state.Health) -> Answer:
    """``/watchman/bare/``: the status code alone, for load balancers, by watchman's rule;
    rendered once per evaluation."""
    return health.rendered("answer:watchman-bare", lambda: Answer(
        watchman_error_code() if watchman_dialect.report(health, details=False).fails else 200,
        "text/plain"))


# --- answering before Django ---------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """A probe that may be answered before Django: the healthd view the site must route
    its path to, and the answer (None: let Django answer after all)."""

    view: str
    answer: Callable[[], Answer | None]
    reads_state: bool
    # Reads this process's own verdict (healthd.local.verdict), which may run its checks.
    reads_local: bool = False


def _early_heartbeat() -> Answer | None:
    if signals.heartbeat_passed.receivers or signals.heartbeat_failed.receivers:
        return None  # the view sends them
    return heartbeat(state.health())


def _early_watchman_bare() -> Answer | None:
    # watchman's own set (WATCHMAN_CHECKS, else its defaults); no guard, as in watchman.
    names = watchman_dialect.select(None, None)
    if not names:
        return None  # the view says no check was found
    return watchman_bare(state.health(names))


_LBHEARTBEAT = Route("healthd.compat.dockerflow.views.lbheartbeat", lbheartbeat, reads_state=False)
_LIVEZ = Route("healthd.probes.views.livez", livez, reads_state=False)
def _early_readyz() -> Answer:
    return readyz(readiness_health(), verdict.current())


_READYZ = Route("healthd.probes.views.readyz", _early_readyz, reads_state=True,
                reads_local=True)
_STARTUPZ = Route("healthd.probes.views.startupz", lambda: startupz(state.health()),
                  reads_state=True)
_HEALTHZ = Route("healthd.probes.views.healthz", lambda: healthz(state.health()),
                 reads_state=True)
ROUTES: dict[str, Route] = {
    "/__lbheartbeat__": _LBHEARTBEAT,
    "/__heartbeat__": Route("healthd.compat.dockerflow.views.heartbeat", _early_heartbeat,
                            reads_state=True),
    "/livez": _LIVEZ,
    "/livez/": _LIVEZ,
    "/readyz": _READYZ,
    "/readyz/": _READYZ,
    "/startupz": _STARTUPZ,
    "/startupz/": _STARTUPZ,
    "/healthz": _HEALTHZ,
    "/healthz/": _HEALTHZ,
    "/watchman/bare/": Route("healthd.compat.watchman.views.bare_status", _early_watchman_bare,
                             reads_state=True),
}

# A header's value, or None where Content-Length goes.
HeaderPlan = tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class Site:
    """What answering before Django needs to know of the site's settings."""

    # The paths answered early: those the root URLconf routes to healthd's view.
    paths: frozenset[str]
    # The middleware's headers, for a plain and for a secure request.
    plain: HeaderPlan
    secure: HeaderPlan
    # SecurityMiddleware's redirect to HTTPS: on, and the paths exempt from it.
    redirect_to_https: bool
    redirect_exempt: tuple[re.Pattern[str], ...]
    # SECURE_PROXY_SSL_HEADER: the META name of the header, and the value meaning https.
    proxy_ssl_header: tuple[str, str] | None


def _routed_to(path: str, view: str) -> bool:
    try:
        func = resolve(path, urlconf=settings.ROOT_URLCONF).func  # type: ignore[misc]
    except Resolver404:
        return False
    return f"{getattr(func, '__module__', '')}.{getattr(func, '__name__', '')}" == view


def _header_plan(middleware: list[str], secure: bool) -> HeaderPlan:
    """The headers Django's own middleware add to a probe's answer, in the order they
    add them (the last middleware listed sees the response first)."""
    plan: list[tuple[str, str | None]] = []
    for path in reversed(middleware):
        if path == "django.middleware.clickjacking.XFrameOptionsMiddleware":
            plan.append(("X-Frame-Options", getattr(settings, "X_FRAME_OPTIONS", "DENY").upper()))
        elif path == "django.middleware.common.CommonMiddleware":
            plan.append(("Content-Length", None))
        elif path == "django.middleware.security.SecurityMiddleware":
            plan.extend(_security_headers(secure))
    return tuple(plan)


def _security_headers(secure: bool) -> list[tuple[str, str | None]]:
    headers: list[tuple[str, str | None]] = []
    if settings.SECURE_HSTS_SECONDS and secure:
        value = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            value += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            value += "; preload"
        headers.append(("Strict-Transport-Security", value))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("X-Content-Type-Options", "nosniff"))
    policy = settings.SECURE_REFERRER_POLICY
    if policy:
        values = [v.strip() for v in policy.split(",")] if isinstance(policy, str) else policy
        headers.append(("Referrer-Policy", ",".join(values)))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    return headers


def _common_may_answer(middleware: list[str]) -> bool:
    """True when CommonMiddleware may answer a probe itself, before any view: a redirect to
    the ``www.`` host (PREPEND_WWW) or a refused user agent (DISALLOWED_USER_AGENTS). Both
    read headers an early answer does not, so Django answers every probe then. (APPEND_SLASH
    redirects only a path the URLconf does not route; early paths are routed ones.)"""
    return "django.middleware.common.CommonMiddleware" in middleware and bool(
        settings.PREPEND_WWW or settings.DISALLOWED_USER_AGENTS)


@per_process.memoised
def site() -> Site:
    """The site as the settings in force describe it (the URLconf, DEBUG, the middleware
    and their settings); worked out once, until a setting changes."""
    middleware = list(settings.MIDDLEWARE)
    paths: frozenset[str] = frozenset()
    if not (settings.DEBUG or conf.get().public_details or _common_may_answer(middleware)):
        paths = frozenset(path for path, route in ROUTES.items() if _routed_to(path, route.view))
    security = "django.middleware.security.SecurityMiddleware" in middleware
    proxy_header = settings.SECURE_PROXY_SSL_HEADER
    return Site(
        paths=paths,
        plain=_header_plan(middleware, secure=False),
        secure=_header_plan(middleware, secure=True),
        redirect_to_https=security and bool(settings.SECURE_SSL_REDIRECT),
        redirect_exempt=tuple(re.compile(r) for r in settings.SECURE_REDIRECT_EXEMPT),
        proxy_ssl_header=(proxy_header[0], proxy_header[1]) if proxy_header else None,
    )


def is_secure(scheme: str, proxy_header_value: str | None) -> bool:
    """Django's ``request.is_secure()``: the proxy's header when SECURE_PROXY_SSL_HEADER is
    set and the request carries it, else the server's scheme."""
    wanted = site().proxy_ssl_header
    if wanted is not None and proxy_header_value is not None:
        return proxy_header_value.split(",", 1)[0].strip() == wanted[1]
    return scheme == "https"


def route(method: str, path: str, query: str | bytes, has_authorization: bool,
          secure: bool) -> Route | None:
    """The probe this request asks for when it may be answered before Django, else None."""
    if method not in ("GET", "HEAD") or query or has_authorization:
        return None
    described = site()
    if path not in described.paths:
        return None
    if described.redirect_to_https and not secure and not any(
            pattern.search(path.lstrip("/")) for pattern in described.redirect_exempt):
        return None  # Django answers with its redirect
    return ROUTES[path]


def headers(answer: Answer, secure: bool) -> list[tuple[str, str]]:
    """The answer's headers as Django would send them through the site's middleware."""
    plan = site().secure if secure else site().plain
    length = str(len(answer.body))
    return [("Content-Type", answer.content_type),
            *((name, length if value is None else value) for name, value in plan)]


def reason_phrase(status: int) -> str:
    """The reason phrase Django sends with a status code."""
    return responses.get(status, "Unknown Status Code")
