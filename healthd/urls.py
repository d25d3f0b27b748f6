"""Every healthd endpoint: ``path("", include("healthd.urls"))``.

Each dialect can also be included on its own: ``healthd.urls_dockerflow`` (at the
root), ``healthd.urls_status`` (under ``status/``), ``healthd.urls_watchman`` (under
``watchman/``), ``healthd.urls_probes`` (``healthz``, ``livez``, ``readyz``, ``metrics``),
``healthd.passive.urls`` (under ``healthd/ping/``: passive checks' pings).
``healthd/silence`` (POST, with a token) opens a silence: see
:mod:`healthd.alerting.silence_api`.
"""

from django.urls import URLPattern, include, path, re_path
from django.urls.resolvers import RegexPattern

from healthd import urls_dockerflow, urls_probes, urls_status, urls_watchman
from healthd.alerting import silence_api


def _under(prefix: str, patterns: list[URLPattern]) -> list[URLPattern]:
    """What ``path(prefix, include(patterns))`` serves, without its level of resolution:
    each pattern with the prefix put in front of its route."""
    flat = []
    for pattern in patterns:
        route = str(pattern.pattern)
        if isinstance(pattern.pattern, RegexPattern):
            flat.append(re_path("^" + prefix + route.removeprefix("^"), pattern.callback,
                                pattern.default_args, pattern.name))
        else:
            flat.append(path(prefix + route, pattern.callback, pattern.default_args,
                             pattern.name))
    return flat


# Listed flat, probes first (watchman's four before django-status's ten, whose API comes
# first among them): URL resolution tries each pattern in turn, and each level of
# include() costs every request a little more.
urlpatterns = [
    *urls_dockerflow.urlpatterns,
    *urls_probes.urlpatterns,
    *_under("watchman/", urls_watchman.urlpatterns),
    *_under("status/", urls_status.urlpatterns),
    path("healthd/ping/", include("healthd.passive.urls")),
    path("healthd/silence", silence_api.open_silence, name="healthd-silence"),
]
