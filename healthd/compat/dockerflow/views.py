"""python-dockerflow's views: /__heartbeat__, /__lbheartbeat__, /__version__."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string
from django.views.decorators.http import require_safe

from healthd import conf, signals
from healthd.checks.base import Status
from healthd.compat.dockerflow import reading as dockerflow_dialect
from healthd.http.auth import may_see_details
from healthd.http.responses import json_response, never_raise
from healthd.probes import answers as probe_answers
from healthd.probes.serving import async_under_asgi, http_response
from healthd.store import health as state
from healthd.util.logs import get_logger
from healthd.util.redact import redact
from healthd.util.version_json import (
    read_version_json as get_version,  # dockerflow's default callback
)

logger = get_logger("healthd.views")

def _messages(check_state: state.CheckState) -> dict[str, str]:
    """dockerflow's ``{message id: text}`` for one check.

    The messages its last run recorded (a ``DOCKERFLOW_CHECKS`` entry's, by their ids)
    while the result is fresh; else none for a passing check, as a passing dockerflow
    check returned none; else the check's own message under ``healthd.<name>``.
    """
    recorded = check_state.result.details.get("messages") if check_state.result else None
    if check_state.fresh and isinstance(recorded, dict) and recorded:
        return {str(key): str(text) for key, text in recorded.items()}
    if check_state.status == Status.PASSING:
        return {}
    return {f"healthd.{check_state.name}": check_state.message}


def _details(check_state: state.CheckState, level: int) -> dict:
    return {
        "status": dockerflow_dialect.level_text(level),
        "level": level,
        "messages": _messages(check_state),
        "healthd_status": str(check_state.status),
        "critical": check_state.critical,
        "age": None if check_state.age is None else round(check_state.age, 3),
        "since": check_state.since,
        "observed_value": check_state.value,
        "observed_unit": check_state.unit,
    }


@async_under_asgi
@require_safe
@never_raise
def heartbeat(request: HttpRequest) -> HttpResponse:
    """200 while every critical check passes (warnings allowed); else 500 or the set code."""
    health = state.health()
    if may_see_details(request):
        # As dockerflow: every check's status in ``checks``, and in ``details`` only the
        # checks with something to say (a level above 0), keyed by dockerflow's names.
        body = probe_answers.heartbeat_summary(health)
        levels = [(c, dockerflow_dialect.level(c)) for c in health.checks]
        body["checks"] = {dockerflow_dialect.key(c): dockerflow_dialect.level_text(level)
                          for c, level in levels}
        body["details"] = {dockerflow_dialect.key(c): _details(c, level)
                           for c, level in levels if level > 0}
        response = json_response(body, probe_answers.heartbeat_status(health))
    else:
        response = http_response(probe_answers.heartbeat(health))
    if signals.heartbeat_passed.receivers or signals.heartbeat_failed.receivers:
        worst = max((dockerflow_dialect.level(c) for c in health.checks), default=0)
        signal = signals.heartbeat_passed if health.healthy else signals.heartbeat_failed
        signal.send(sender=heartbeat, level=worst)
    return response


@async_under_asgi(reads_state=False)
@require_safe
def lbheartbeat(request: HttpRequest) -> HttpResponse:
    """The process answers: touches neither Redis nor the database."""
    return http_response(probe_answers.lbheartbeat())


@require_safe
@never_raise
def version(request: HttpRequest) -> HttpResponse:
    """/__version__: version.json (or DOCKERFLOW_VERSION_CALLBACK), 404 when there is none."""
    config = conf.get()
    callback_path = config.dockerflow_version_callback
    try:
        if callback_path and callback_path != "dockerflow.version.get_version":
            data = import_string(callback_path)(config.base_dir)
        else:
            data = get_version(config.base_dir)
    except ValueError as exc:
        logger.error("version.json is not valid JSON: %s", redact(exc))
        return json_response({"error": "version.json is not valid JSON"}, 500)
    except Exception as exc:  # broad: DOCKERFLOW_VERSION_CALLBACK is the site's code
        logger.error("could not read the version: %s: %s", type(exc).__name__, redact(exc))
        return json_response({"error": f"could not read the version ({type(exc).__name__})"},
                             500)
    if data is None:
        return json_response({"error": "version.json not found"}, 404)
    return json_response(data)
