"""Orchestrator probes: ``healthz``, ``livez``, ``readyz``, ``startupz``, ``metrics``.

- ``healthz``: ``application/health+json`` as in the IETF draft "Health Check Response
  Format for HTTP APIs": ``status`` is ``pass``, ``warn`` or ``fail``; 200 for pass and
  warn, 503 for fail. ``checks`` is keyed ``component:measurement`` (``database:
  responseTime``, ``celery:workers``), one object per database or cache alias or Redis
  server, else one per check.
- ``livez``: the process answers. Touches neither Redis nor the database.
- ``readyz``: whether this process should get traffic, Kubernetes style: 200 ``ok`` /
  503 when one of its local checks fails, while it drains, or when a scheduled check
  that opted in (``"readiness": True``) fails; ``?verbose`` lists ``[+]local:name ok`` /
  ``[-]local:name failed: reason``, ``[-]draining…`` and the opted-in checks;
  ``?exclude=name`` (repeatable) leaves a check out, and an unknown name is a 400.
- ``startupz``: 200 once every configured scheduled check has a result, 503 before.
- ``metrics``: Prometheus text from a collector reading the cached state: per check
  ``healthd_check_status`` (one-hot by ``status``), ``healthd_check_duration_seconds``,
  ``healthd_check_age_seconds``, ``healthd_check_critical``,
  ``healthd_check_transitions_total``; ``healthd_up`` and ``healthd_store_up``; per web
  pod ``healthd_instance_ready``, ``healthd_instance_draining`` and
  ``healthd_instance_processes`` (label ``instance``). Always 200,
  so a scrape records a failure instead of losing it.

Who sees what: anyone gets the status. ``healthz``'s ``checks`` and ``readyz``'s reasons
are shown only to callers who may see details (DEBUG, ``HEALTHD["PUBLIC_DETAILS"]`` or
a valid token); others get ``readyz``'s check names with "reason withheld", as the
Kubernetes API server answers. ``metrics`` carries check names and numbers but no
message, so it is public, as scrape targets usually are. When the result store cannot
be read, each probe fails at once and names the cause (``output`` in ``healthz``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from healthd.alerting.notify import metrics as notify_metrics
from healthd.checks import registry
from healthd.checks.base import Status
from healthd.http.auth import may_see_details
from healthd.http.responses import Refusal, json_response, never_raise
from healthd.local import instances
from healthd.local import verdict as local_verdict
from healthd.probes import answers as probe_answers
from healthd.probes.answers import DRAFT_STATUS, HEALTH_JSON
from healthd.probes.serving import async_under_asgi, http_response
from healthd.store import health as state

# The measurement each built-in reports, so a check's key stays the same pass or fail.
MEASUREMENTS = {
    "database": "responseTime",
    "cache": "responseTime",
    "redis": "responseTime",
    "storage": "responseTime",
    "celery": "workers",
    "migrations": "unapplied",
    "email": None,
}
COMPONENT_TYPES = {"database": "datastore", "cache": "datastore", "redis": "datastore"}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _check_key(check_state: state.CheckState) -> str:
    name = check_state.name
    if name in MEASUREMENTS:
        measurement = MEASUREMENTS[name]
    else:
        measurement = "responseTime" if check_state.unit == "ms" else check_state.unit
    return f"{name}:{measurement}" if measurement else name


def draft_components(check_state: state.CheckState) -> list[dict[str, Any]]:
    """One check as the draft's list of component objects."""
    status = DRAFT_STATUS[check_state.status]
    common: dict[str, Any] = {"status": status}
    if check_state.name in COMPONENT_TYPES:
        common["componentType"] = COMPONENT_TYPES[check_state.name]
    if check_state.checked_at:
        common["time"] = _iso(check_state.checked_at)
    if check_state.parts:
        components = []
        for part in check_state.parts:
            ok = check_state.ok and part.ok
            item: dict[str, Any] = {"componentId": part.label, **common,
                                    "status": status if ok else "fail"}
            if part.latency_ms is not None:
                item.update(observedValue=part.latency_ms, observedUnit="ms")
            if not ok:
                item["output"] = part.error or check_state.message
            components.append(item)
        return components
    item = {"componentId": check_state.name, **common}
    if check_state.value is not None:
        item.update(observedValue=check_state.value, observedUnit=check_state.unit)
    if check_state.status != Status.PASSING:
        item["output"] = check_state.message
    return [item]


@async_under_asgi
@require_safe
@never_raise
def healthz(request: HttpRequest) -> HttpResponse:
    """The IETF draft's health+json: pass/warn is 200, fail is 503."""
    health = state.health()
    if not may_see_details(request) or health.error:
        return http_response(probe_answers.healthz(health))
    checks: dict[str, list[dict[str, Any]]] = {}
    for check_state in health.checks:
        checks.setdefault(_check_key(check_state), []).extend(draft_components(check_state))
    body = {**probe_answers.healthz_summary(health), "checks": checks}
    return json_response(body, probe_answers.healthz_status(health), content_type=HEALTH_JSON)


@async_under_asgi(reads_state=False)
@require_safe
@never_raise
def livez(request: HttpRequest) -> HttpResponse:
    """The process answers: touches neither Redis nor the database."""
    return http_response(probe_answers.livez(verbose="verbose" in request.GET))


def _excluded(request: HttpRequest) -> list[str]:
    """``?exclude=`` names; refused with a 400 when one is not a configured check (or a
    local one)."""
    excluded = request.GET.getlist("exclude")
    known = [c.name for c in registry.configured_checks()]
    known += [name for name in local_verdict.current().checks if name not in known]
    unknown = sorted(set(excluded) - set(known))
    if unknown:
        raise Refusal(400, f"unknown check(s) to exclude: {', '.join(unknown)}", valid=known)
    return excluded


@async_under_asgi(reads_local=True)
@require_safe
@never_raise
def readyz(request: HttpRequest) -> HttpResponse:
    """This process's local checks and drain state, and the scheduled checks that opted
    in; warnings are ready. Kubernetes' verbose and exclude forms."""
    excluded = tuple(_excluded(request))
    return http_response(probe_answers.readyz(probe_answers.readiness_health(excluded),
                                              local_verdict.current(), excluded,
                                              verbose="verbose" in request.GET,
                                              reasons=may_see_details(request)))


@async_under_asgi
@require_safe
@never_raise
def startupz(request: HttpRequest) -> HttpResponse:
    """200 once the first scheduled results exist, for a kubelet's startup probe."""
    return http_response(probe_answers.startupz(state.health(),
                                                verbose="verbose" in request.GET))


class CachedStateCollector(Collector):
    """Prometheus metrics worked out from the cached state at scrape time."""

    def collect(self) -> Iterator[Metric]:
        health = state.health()
        yield GaugeMetricFamily("healthd_store_up", "1 when the result store could be read.",
                                value=0 if health.error else 1)
        yield GaugeMetricFamily("healthd_up", "1 while no critical check fails.",
                                value=1 if health.healthy else 0)
        status = GaugeMetricFamily("healthd_check_status",
                                   "1 for the check's current status, 0 for the others.",
                                   labels=["check", "status"])
        duration = GaugeMetricFamily("healthd_check_duration_seconds",
                                     "How long the check's last run took.", labels=["check"])
        age = GaugeMetricFamily("healthd_check_age_seconds",
                                "How old the check's last result is.", labels=["check"])
        critical = GaugeMetricFamily("healthd_check_critical",
                                     "1 when the check's failure makes the site unhealthy.",
                                     labels=["check"])
        for check_state in health.checks:
            for candidate in Status:
                status.add_metric([check_state.name, str(candidate)],
                                  1 if check_state.status == candidate else 0)
            if check_state.duration is not None:
                duration.add_metric([check_state.name], float(check_state.duration))
            if check_state.age is not None:
                age.add_metric([check_state.name], check_state.age)
            critical.add_metric([check_state.name], 1 if check_state.critical else 0)
        yield from (status, duration, age, critical)
        counts = None if health.error else state.transition_counts()
        if counts is not None:
            transitions = CounterMetricFamily("healthd_check_transitions",
                                              "Changes of the check's state, after hysteresis.",
                                              labels=["check"])
            for check_state in health.checks:
                transitions.add_metric([check_state.name], counts.get(check_state.name, 0))
            yield transitions


class InstanceCollector(Collector):
    """Per web pod (healthd.local.instances): ready or not, draining, live processes; read
    at most once per CACHE_SECONDS. Nothing when the store cannot be read (healthd_store_up
    says so)."""

    def collect(self) -> Iterator[Metric]:
        pods = instances.recent_pods()
        if pods is None:
            return
        ready = GaugeMetricFamily("healthd_instance_ready",
                                  "1 while every process of the web pod is ready.",
                                  labels=["instance"])
        drain = GaugeMetricFamily("healthd_instance_draining",
                                  "1 while the web pod drains (it was told to stop).",
                                  labels=["instance"])
        alive = GaugeMetricFamily("healthd_instance_processes",
                                  "The web pod's processes that publish their state.",
                                  labels=["instance"])
        # Shared failures too (healthd.local.shared): a ready pod may report one.
        failing = GaugeMetricFamily("healthd_instance_local_failing",
                                    "1 for each local check failing on the web pod, shared "
                                    "by most pods or not.", labels=["instance", "check"])
        for pod in pods:
            ready.add_metric([pod.name], 1 if pod.ready else 0)
            drain.add_metric([pod.name], 1 if pod.draining else 0)
            alive.add_metric([pod.name], len(pod.processes))
            for check in sorted(pod.failures):
                failing.add_metric([pod.name, check], 1)
        yield from (ready, drain, alive, failing)


# A registry of its own: the process's default registry is the site's business.
METRICS_REGISTRY = CollectorRegistry()
METRICS_REGISTRY.register(CachedStateCollector())
METRICS_REGISTRY.register(InstanceCollector())
METRICS_REGISTRY.register(notify_metrics.DeliveryCollector())


@require_safe
@never_raise
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; 200 even while checks fail or the store is down."""
    return HttpResponse(generate_latest(METRICS_REGISTRY), content_type=CONTENT_TYPE_LATEST)
