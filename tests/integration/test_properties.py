"""Property-based tests over every healthd endpoint: query strings, tokens, headers, paths.

Each test writes one state into the real Redis (or points the store at a closed port),
then lets hypothesis build requests from arbitrary query strings, Authorization /
Accept / Host / other headers, methods and path suffixes, and checks for every answer:

1. the status is exactly the one the state and the request call for (the endpoints'
   documented contracts: 200, 301 to the slashed URL, 400 for unknown check names, 403
   without a valid token, 404 for unknown resources and paths and for a watchman
   selection that leaves nothing, 405 for other methods, and 500 / 503 only where a
   failing state says so);
2. no body carries a traceback;
3. no body or header carries SECRET_KEY, the configured token or a password, whether
   it was redacted before it was stored (as the runner does) or stored raw.

The oracle below is written from the contracts in the views' docstrings, not from the
views' code; only the URL resolution and the query-string parsing are Django's own.
"""

from __future__ import annotations

import html
import json
import re
import time
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import pytest
from django.test import Client
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from healthd import store
from healthd.checks import registry
from healthd.checks.base import Result, Status
from healthd.compat.status import stats as stats_store
from healthd.store import health as state
from healthd.util.redact import redact

SECRET_KEY = "prop-SECRET-key-9f8e7d6c5b4a-never-shown"
TOKEN = "prop-token-Xy7Qw3Er9Ty"
WRONG_TOKEN = "prop-token-Xy7Qw3Er9Tz"
REDACTED_PASSWORD = "S3cretPw!redacted"
RAW_PASSWORD = "R4wStoredPw!raw"
STORE_DOWN_PASSWORD = "pw-St0reDown-77"
STORE_DOWN_URL = f"redis://:{STORE_DOWN_PASSWORD}@127.0.0.1:1/0"

# tests/site/settings.py's HEALTHD["CHECKS"], every one critical unless a scenario says so.
CHECK_NAMES = ("database", "migrations", "cache", "redis", "celery", "email", "storage")
# watchman's dotted paths for the configured checks (watchman's ?check= / ?skip= names).
WATCHMAN_PATHS = {"watchman.checks.databases": "database", "watchman.checks.caches": "cache",
                  "watchman.checks.email": "email", "watchman.checks.storage": "storage"}
SELECTORS = {**{n: n for n in CHECK_NAMES}, **WATCHMAN_PATHS}
# watchman's set here: its default paths (no WATCHMAN_CHECKS), as healthd check names.
WATCHMAN_SET = {"database", "cache", "storage"}
# /status/api/: django-status's built-in resources and providers for these checks (no
# celery: STATUS_CELERY_WORKERS is not set).
PROVIDERS = {"health": {"ping", "databases", "caches"},
             "stats": {"databases", "code"}}

ENDPOINTS = (
    "/__heartbeat__", "/__lbheartbeat__", "/__version__",
    "/healthz", "/livez", "/readyz", "/metrics",
    "/healthz/", "/livez/", "/readyz/", "/metrics/",
    "/status/", "/status/health/", "/status/stats/", "/status/api/", "/status/api",
    "/watchman/", "/watchman/ping/", "/watchman/bare/", "/watchman/dashboard/",
)
PREFIXES = (*ENDPOINTS, "/status/api/health/", "/status/api/stats/", "/status/api/nope/",
            "/status", "/watchman", "/status/health", "/watchman/ping")
TRACEBACK = re.compile(r'Traceback|File "|line \d+, in')


@dataclass
class Scenario:
    """The state the store holds, and what the site is configured with."""

    readable: bool = True
    failing_critical: set[str] = field(default_factory=set)
    tokens: tuple[str, ...] = (TOKEN,)
    version: bool = True

    @property
    def healthy(self) -> bool:
        return self.readable and not self.failing_critical


# --- the oracle --------------------------------------------------------------------------

_HEADER_TOKEN = re.compile(
    r'^\s*WATCHMAN-TOKEN\s+Token=\s?(?:"(?P<token>[^"]*)"|(?P<bare>[^\s",]+))\s*$',
    re.IGNORECASE)


def _token_valid(request, tokens: tuple[str, ...]) -> bool:
    """The documented rule: the Authorization header when it carries a token, else the query."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    presented = None
    match = _HEADER_TOKEN.match(header) if header else None
    if match:
        presented = match["token"] if match["token"] is not None else match["bare"]
    elif header[:7].lower() == "bearer ":
        presented = header[7:].strip()
    else:
        presented = request.GET.get("watchman-token")
    return presented is not None and presented in tokens


def _watchman(name: str, request, sc: Scenario) -> int:
    # WATCHMAN_AUTH_DECORATOR's default guards the status and the dashboard, not bare/.
    if name != "watchman_bare" and sc.tokens and not _token_valid(request, sc.tokens):
        return 403
    # watchman's rule: its set, intersected with ?check= when given, minus ?skip=; a name
    # that means nothing selects nothing.
    names = set(WATCHMAN_SET)
    if "check" in request.GET:
        names &= {SELECTORS[n] for n in request.GET.getlist("check") if n in SELECTORS}
    names -= {SELECTORS[n] for n in request.GET.getlist("skip") if n in SELECTORS}
    if not names:
        return 404
    if name == "watchman_dashboard":
        return 200 if sc.readable else 500
    return 200 if sc.readable and not (names & sc.failing_critical) else 500


def expected_status(request, method: str, sc: Scenario) -> int:
    path = request.path_info
    try:
        match = resolve(path)
    except Resolver404:
        try:
            resolve(path + "/")
        except Resolver404:
            return 404
        return 301  # CommonMiddleware's APPEND_SLASH
    if method not in ("GET", "HEAD"):
        return 405
    name, kwargs = match.url_name, match.kwargs
    readable = 200 if sc.readable else 503
    if name in ("lbheartbeat", "livez", "watchman_ping", "metrics"):
        return 200
    if name == "version":
        return 200 if sc.version else 404
    if name == "heartbeat":
        return 200 if sc.healthy else 500
    if name == "healthz":
        return 200 if sc.healthy else 503
    if name == "readyz":
        # This process's readiness: its local checks (disk, memory: passing here) and the
        # scheduled checks that opt in with "readiness" (none here). A shared failure,
        # critical or not, and the store being down leave every pod in the pool.
        excluded = request.GET.getlist("exclude")
        if any(n not in (*CHECK_NAMES, "disk", "memory") for n in excluded):
            return 400
        return 200
    if name in ("status_index", "status_health", "status_stats", "status_api"):
        return readable
    if name in ("status_api_resource", "status_api_provider"):
        resource = kwargs["resource"]
        if resource not in PROVIDERS:
            return 404
        # Stats are details: only a caller with a valid token reads them.
        details = bool(sc.tokens) and _token_valid(request, sc.tokens)
        if name == "status_api_resource":
            return readable if resource == "health" or details else 403
        provider = kwargs["provider"]
        if provider not in PROVIDERS[resource]:
            return 404
        if resource != "health" and not details:
            return 403
        return 200 if (resource, provider) == ("health", "ping") else readable
    if name.startswith("watchman_"):
        return _watchman(name, request, sc)
    raise AssertionError(f"no contract for {name} at {path}")


# --- the requests --------------------------------------------------------------------------

# Header values as a WSGI server hands them over: latin-1 text.
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40)
any_text = st.text(max_size=24)
check_values = st.one_of(
    st.sampled_from([*SELECTORS, "", "nope", "watchman.checks.nope", "DATABASE", " redis",
                     "database,cache", "tests.site.faultchecks.flappy"]),
    any_text,
)
token_values = st.one_of(st.sampled_from([TOKEN, WRONG_TOKEN, "", TOKEN + " ", TOKEN.upper()]),
                         any_text)
pair = st.one_of(
    st.tuples(st.sampled_from(["check", "skip", "exclude"]), check_values),
    st.tuples(st.just("watchman-token"), token_values),
    st.tuples(st.sampled_from(["verbose", "format", "pretty", "callback", "page"]),
              st.one_of(st.sampled_from(["", "1", "json", "html", "prometheus", "txt"]),
                        any_text)),
    st.tuples(any_text, any_text),
)
raw_query = st.text(st.sampled_from("abc=&;%+?/#[]!'\"<> 0123456789xyzé\x00"), max_size=30)
# Selections that empty the list, or leave out exactly the failing checks.
whole_selections = st.sampled_from([
    [("skip", n) for n in CHECK_NAMES],
    [("skip", n) for n in CHECK_NAMES if n != "cache"] + [("skip", "watchman.checks.caches")],
    [("check", "redis"), ("skip", "redis")],
    [("exclude", "redis"), ("exclude", "cache")],
    [("check", "database"), ("check", "watchman.checks.storage"), ("verbose", "")],
    [("exclude", n) for n in CHECK_NAMES] + [("verbose", "1")],
])
authorization = st.one_of(
    st.none(),
    st.none(),
    st.sampled_from([TOKEN, WRONG_TOKEN, ""]).map(lambda t: f'WATCHMAN-TOKEN Token="{t}"'),
    st.sampled_from([TOKEN, WRONG_TOKEN, ""]).map(lambda t: f"Bearer {t}"),
    st.sampled_from([TOKEN, WRONG_TOKEN]).map(lambda t: f'watchman-token   token="{t}"  '),
    st.sampled_from(["Basic dXNlcjpwYXNz", "Token " + TOKEN, "Bearer", "bearer  ", '"']),
    header_text,
)
accept = st.one_of(
    st.none(),
    st.sampled_from(["application/json", "text/html", "text/plain;version=0.0.4",
                     "application/health+json", "*/*", "application/openmetrics-text",
                     "text/html;q=0.9, */*;q=0.1", ""]),
    header_text,
)
hosts = st.sampled_from(["testserver", "example.com", "healthd.internal:8000", "10.0.0.1",
                         "[::1]:8080", "localhost"])
methods = st.sampled_from(["GET"] * 6 + ["HEAD"] * 2 + ["POST", "PUT", "DELETE", "OPTIONS",
                                                        "PATCH"])
segment = st.one_of(
    st.sampled_from(["", "/", "x", "/x", "/x/", "health", "health/", "stats/code", "health/ping",
                     "health/ping/", "stats/nope/", "..", "../", ".", "-", "a.b-c_d/e",
                     "api/health/databases/", "%2e%2e/", "%00", "\u00e9/", "x;y", "//"]),
    st.text(max_size=16).map(lambda t: quote(t, safe="/")),
)


@st.composite
def requests(draw) -> dict:
    """One set of request parts applied to every endpoint (plus a few suffixed paths)."""
    extra = {"HTTP_HOST": draw(hosts)}
    for key, strategy in (("HTTP_AUTHORIZATION", authorization), ("HTTP_ACCEPT", accept)):
        value = draw(strategy)
        if value is not None:
            extra[key] = value
    for key in ("HTTP_USER_AGENT", "HTTP_X_FORWARDED_FOR", "HTTP_COOKIE", "HTTP_X_REQUEST_ID"):
        if draw(st.booleans()):
            extra[key] = draw(header_text)
    resource = draw(st.one_of(st.sampled_from([*PROVIDERS, "nope", "HEALTH"]),
                              st.from_regex(r"[\w.\-]{1,12}", fullmatch=True)))
    provider = draw(st.one_of(st.sampled_from(sorted(PROVIDERS["health"] | PROVIDERS["stats"])),
                              st.from_regex(r"[\w.\-]{1,12}", fullmatch=True)))
    slash = draw(st.sampled_from(["", "/"]))
    paths = [*ENDPOINTS, f"/status/api/{quote(resource)}{slash}",
             f"/status/api/{quote(resource)}/{quote(provider)}{slash}"]
    for _ in range(draw(st.integers(0, 3))):
        paths.append(draw(st.sampled_from(PREFIXES)) + draw(segment))
    # Half the requests present the valid token, in one of the documented places.
    present = draw(st.sampled_from(["query", "header", "bearer", "", "", ""]))
    if present == "header":
        extra["HTTP_AUTHORIZATION"] = f'WATCHMAN-TOKEN Token="{TOKEN}"'
    elif present == "bearer":
        extra["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    kind = draw(st.sampled_from(["pairs", "pairs", "whole", "raw", "pairs+raw"]))
    pairs = draw(whole_selections) if kind == "whole" else draw(st.lists(pair, max_size=6))
    pairs = draw(st.permutations(pairs + ([("watchman-token", TOKEN)] if present == "query"
                                          else [])))
    query = "" if kind == "raw" else urlencode(pairs)
    if "raw" in kind:
        query = "&".join(filter(None, [query, draw(raw_query)]))
    return {"method": draw(methods), "query": query, "extra": extra, "paths": paths}


# --- the checks on each answer --------------------------------------------------------------

def _forms(secret: str) -> set[str]:
    """A secret as it would read in plain text, JSON or HTML."""
    return {secret, json.dumps(secret)[1:-1], html.escape(secret), quote(secret)}


def assert_answer(client: Client, path: str, req: dict, sc: Scenario,
                  secrets: tuple[str, ...]) -> None:
    url = f"{path}?{req['query']}" if req["query"] else path
    response = client.generic(req["method"], url, **req["extra"])
    request = response.wsgi_request
    body = response.content.decode("utf-8", errors="replace")
    where = f"{req['method']} {url!r} {req['extra']!r} -> {response.status_code}: {body[:300]!r}"
    assert not TRACEBACK.search(body), where
    want = expected_status(request, req["method"], sc)
    assert response.status_code == want, f"expected {want}: {where}"
    event(f"{req['method'] if want == 405 else ''} {want}")
    if want == 301:
        assert response["Location"].startswith(request.path + "/"), where
    headers = dict(response.items())
    for secret in secrets:
        for form in _forms(secret):
            assert form not in body, f"{secret!r} in the body: {where}"
            for name, value in headers.items():
                if form in value:
                    # A redirect keeps the caller's own query string (with its own token).
                    assert name == "Location" and secret in request.META["QUERY_STRING"] + \
                        quote(request.META["QUERY_STRING"]), f"{secret!r} in {name}: {where}"


def run_property(sc: Scenario, secrets: tuple[str, ...], examples: int) -> None:
    client = Client()

    @hsettings(max_examples=examples, deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(req=requests())
    def every_endpoint(req: dict) -> None:
        for path in req["paths"]:
            assert_answer(client, path, req, sc, secrets)

    every_endpoint()


# --- the states ----------------------------------------------------------------------------

def _write(name: str, status: Status, message: str = "ok", details: dict | None = None,
           critical: bool = True) -> None:
    result = Result(name, status, message, time.time(), 0.01, value=1.5, unit="ms",
                    critical=critical, details=details or {})
    store.record([result], list(registry.configured_checks()))


def _write_stats() -> None:
    stats_store.store_stats({
        "gathered_at": time.time(), "host": "props",
        "builtin": {
            "databases": {"value": {"default": {"vendor": "sqlite", "tables": 3}}},
            "code": {"value": {"debug": False, "branch": "main", "commit": {"sha": "abc"}}},
            "celery": {"value": {"workers": {}}},
        },
        "providers": {},
    })


def _forget() -> None:
    state.forget()
    stats_store.forget()


def _configure(settings, tmp_path, sc: Scenario, **healthd) -> None:
    settings.SECRET_KEY = SECRET_KEY
    settings.DEBUG = False
    settings.WATCHMAN_TOKEN = sc.tokens[0] if sc.tokens else None
    if sc.version:
        (tmp_path / "version.json").write_text('{"version": "1.0", "commit": "abc"}')
    settings.BASE_DIR = tmp_path
    # These properties are of the shared, cached state: this process's own checks are
    # the disk and memory ones (its database connection's is tested in tests/local,
    # with a database these tests do not open).
    settings.HEALTHD = {**settings.HEALTHD, "LOCAL_CHECKS": ["disk", "memory"], **healthd}
    _forget()


def _messages_with_passwords() -> tuple[str, str]:
    """One message as the runner stores it (redacted), one stored raw."""
    redacted = redact(f"ConnectionError: redis://:{REDACTED_PASSWORD}@cache-host:6379/0 "
                      f"(SECRET_KEY={SECRET_KEY}, token {TOKEN})")
    assert REDACTED_PASSWORD not in redacted and SECRET_KEY not in redacted
    raw = f"ConnectionError: redis://:{RAW_PASSWORD}@other-host:6379/1 refused"
    return redacted, raw


SECRETS = (SECRET_KEY, TOKEN, REDACTED_PASSWORD, RAW_PASSWORD)


@pytest.mark.parametrize("tokens", [(TOKEN,), ()], ids=["token", "no-token"])
def test_all_passing(settings, tmp_path, tokens):
    """Every check fresh and passing: only 200 and the documented 3xx/4xx answers."""
    sc = Scenario(tokens=tokens)
    _configure(settings, tmp_path, sc)
    redacted, _ = _messages_with_passwords()
    for name in CHECK_NAMES:
        _write(name, Status.PASSING, message=redacted if name == "redis" else "ok")
    _write_stats()
    _forget()
    run_property(sc, SECRETS, examples=120)


def test_a_critical_check_failing(settings, tmp_path):
    """redis (critical) fails with a redacted message, cache with a raw one in its details."""
    sc = Scenario(failing_critical={"redis", "cache"}, version=False)
    _configure(settings, tmp_path, sc)
    redacted, raw = _messages_with_passwords()
    for name in CHECK_NAMES:
        if name == "redis":
            _write(name, Status.FAILING, message=redacted,
                   details={"cache-host:6379": {"ok": False, "error": redacted}})
        elif name == "cache":
            _write(name, Status.FAILING, message=raw,
                   details={"default": {"ok": True, "latency_ms": 0.3},
                            "redis": {"ok": False, "error": raw}})
        else:
            _write(name, Status.PASSING)
    _write_stats()
    _forget()
    run_property(sc, SECRETS, examples=150)


def test_a_non_critical_check_failing(settings, tmp_path):
    """A failing check marked critical: False is shown, but leaves every answer healthy."""
    checks = [c if c != "storage" else {"check": "storage", "critical": False}
              for c in settings.HEALTHD["CHECKS"]]
    sc = Scenario()
    _configure(settings, tmp_path, sc, CHECKS=checks)
    _, raw = _messages_with_passwords()
    for name in CHECK_NAMES:
        if name == "storage":
            _write(name, Status.FAILING, message=raw, critical=False)
        else:
            _write(name, Status.WARNING if name == "migrations" else Status.PASSING)
    _write_stats()
    _forget()
    run_property(sc, SECRETS, examples=100)


def test_store_down(settings, tmp_path):
    """The store at a closed port: failing answers where documented, never a traceback."""
    sc = Scenario(readable=False, version=False)
    _configure(settings, tmp_path, sc, REDIS_URL=STORE_DOWN_URL)
    client = Client()
    started = time.monotonic()
    assert client.get("/__lbheartbeat__").status_code == 200
    assert client.get("/livez").status_code == 200
    run_property(sc, (*SECRETS, STORE_DOWN_PASSWORD, STORE_DOWN_URL), examples=120)
    assert client.get("/__lbheartbeat__").status_code == 200
    assert client.get("/livez").status_code == 200
    assert client.get("/watchman/ping/").status_code == 200
    assert time.monotonic() - started < 30
