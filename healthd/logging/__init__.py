"""mozlog JSON logging, as python-dockerflow's ``MozlogFormatter`` (formerly
``JsonLogFormatter``) writes it, and the health-probe paths that request logs and Sentry
traces leave out.

Both of dockerflow's names are here, the same formatter (``MozlogFormatter``, and
``JsonLogFormatter``, deprecated as in dockerflow), and so is its ``MozlogHandler`` (a
stream handler with the formatter, whose ``name`` becomes each record's ``Logger``). Use
them in ``LOGGING`` exactly as dockerflow documents (only the dotted path changes)::

    LOGGING = {
        "version": 1,
        "formatters": {
            "json": {"()": "healthd.logging.MozlogFormatter", "logger_name": "myproject"},
        },
        "handlers": {
            "console": {"level": "DEBUG", "class": "logging.StreamHandler",
                        "formatter": "json"},
        },
        "loggers": {"request.summary": {"handlers": ["console"], "level": "DEBUG"}},
    }

Sentry performance tracing: a load balancer hits the heartbeat many times a second, and
each hit would be a trace. Pass ``traces_sampler`` instead of ``traces_sample_rate``::

    sentry_sdk.init(dsn=..., traces_sampler=healthd.logging.sentry_traces_sampler)

Health-probe requests get 0; everything else follows the parent's decision when there
is one, else ``HEALTHD["TRACES_SAMPLE_RATE"]`` (default 1.0). ``probe_free_sampler(rate)``
makes the same sampler with a fixed rate. The probe paths are ``HEALTHD["SUMMARY_SKIP_PATHS"]``
(default :data:`PROBE_PATHS`), shared with :class:`healthd.middleware.RequestSummaryMiddleware`.

python-dockerflow is not a dependency: the formatter is small, and healthd masks secrets
in the message and the traceback (a password in a URL, a token) before they are written.

Every message healthd logs is one line, at most 2 KB, and redacted: its loggers carry
:class:`OneLineFilter`, which a site may also put on its own handlers::

    "filters": {"one_line": {"()": "healthd.logging.OneLineFilter"}},
    "handlers": {"console": {..., "filters": ["one_line"]}},
"""

from __future__ import annotations

import json
import logging
import socket
import traceback
import warnings
from collections.abc import Callable, Iterable
from typing import Any, Literal

from healthd import conf
from healthd.util.logs import OneLineFilter
from healthd.util.redact import redact

__all__ = ["PROBE_PATHS", "JsonLogFormatter", "MozlogFormatter", "MozlogHandler",
           "OneLineFilter", "is_probe_path", "probe_free_sampler", "sentry_traces_sampler",
           "skipped_paths"]

# Every health probe healthd serves: the dockerflow, Kubernetes-style and Prometheus
# endpoints, and the watchman and django-status APIs below their prefixes.
PROBE_PATHS: tuple[str, ...] = (
    "/__heartbeat__",
    "/__lbheartbeat__",
    "/__version__",
    "/livez",
    "/readyz",
    "/startupz",
    "/healthz",
    "/metrics",
    "/watchman",
    "/status/api",
)


def skipped_paths() -> tuple[str, ...]:
    """The paths left out of request summaries and traces, from the settings in force."""
    configured = conf.get().summary_skip_paths
    if configured is None:
        return PROBE_PATHS
    return tuple(str(p) for p in configured)


def is_probe_path(path: str, skipped: Iterable[str] | None = None) -> bool:
    """True when ``path`` is one of the skipped paths or lies below one of them."""
    for entry in PROBE_PATHS if skipped is None else skipped:
        base = entry.rstrip("/")
        if not base:
            continue
        if path == base or path.startswith(base + "/"):
            return True
    return False


class SafeJSONEncoder(json.JSONEncoder):
    """Anything json cannot encode is written as its repr, never dropped with an error."""

    def default(self, o: Any) -> Any:
        return repr(o)


def safer_format_traceback(exc_type: type, exc_value: BaseException, exc_tb: Any) -> str:
    """The traceback under dockerflow's first line (``Uncaught exception:``), then Python's
    own text (chained exceptions included): frames and source lines only, no local
    variables (dockerflow's latest adds them, and a local may hold a secret), and
    secrets masked."""
    lines = ["Uncaught exception:\n",
             *traceback.format_exception(exc_type, exc_value, exc_tb)]
    return redact("".join(lines))


class MozlogFormatter(logging.Formatter):
    """Log records as mozlog JSON, one object per line, as python-dockerflow writes them."""

    LOGGING_FORMAT_VERSION = "2.0"
    # Python's levels to syslog severities.
    SYSLOG_LEVEL_MAP = {50: 2, 40: 3, 30: 4, 20: 6, 10: 7}
    DEFAULT_SYSLOG_LEVEL = 7
    # LogRecord's own attributes; anything else set on a record (extra=) goes to Fields.
    EXCLUDED_LOGRECORD_ATTRS = frozenset({
        "args", "asctime", "created", "exc_info", "exc_text", "filename", "funcName",
        "levelname", "levelno", "lineno", "module", "msecs", "message", "msg", "name",
        "pathname", "process", "processName", "relativeCreated", "stack_info", "thread",
        "threadName", "taskName", "logger_name",
    })

    def __init__(self, fmt: str | None = None, datefmt: str | None = None,
                 style: Literal["%", "{", "$"] = "%", logger_name: str = "Dockerflow") -> None:
        super().__init__(fmt, datefmt, style)
        self.logger_name = logger_name
        self.hostname = socket.gethostname()

    def convert_record(self, record: logging.LogRecord) -> dict[str, Any]:
        """The mozlog envelope of one record, with its extra attributes under Fields."""
        out = {
            "Timestamp": int(record.created * 1e9),
            "Type": record.name,
            # A MozlogHandler's name wins over the formatter's, as in dockerflow.
            "Logger": getattr(record, "logger_name", None) or self.logger_name,
            "Hostname": self.hostname,
            "EnvVersion": self.LOGGING_FORMAT_VERSION,
            "Severity": self.SYSLOG_LEVEL_MAP.get(record.levelno, self.DEFAULT_SYSLOG_LEVEL),
            "Pid": record.process,
        }
        fields = {key: value for key, value in record.__dict__.items()
                  if key not in self.EXCLUDED_LOGRECORD_ATTRS}
        message = record.getMessage()
        # Like dockerflow: no "msg" when empty or when the message is itself a JSON blob.
        if message and not self.is_value_jsonlike(message):
            fields["msg"] = redact(message)
        if record.exc_info:
            fields["error"] = redact(repr(record.exc_info[1]))
            fields["traceback"] = safer_format_traceback(*record.exc_info)
        out["Fields"] = fields
        return out

    @staticmethod
    def is_value_jsonlike(value: str) -> bool:
        """True when ``value`` looks like a JSON object (it is then not repeated as msg)."""
        return value.startswith("{") and value.endswith("}")

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self.convert_record(record), cls=SafeJSONEncoder)


class JsonLogFormatter(MozlogFormatter):
    """dockerflow's former name for the formatter: the same formatter, deprecated in
    favour of :class:`MozlogFormatter` with dockerflow's ``DeprecationWarning``, so a
    site's warning filters and tests see what they saw before a switch."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn("JsonLogFormatter has been deprecated. Use MozlogFormatter instead",
                      DeprecationWarning, stacklevel=2)
        super().__init__(*args, **kwargs)


class MozlogHandler(logging.StreamHandler):
    """A stream handler writing mozlog JSON; ``name`` becomes each record's ``Logger``."""

    def __init__(self, stream: Any = None, name: str = "Dockerflow") -> None:
        super().__init__(stream)
        self.logger_name = name
        self.setFormatter(MozlogFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        record.logger_name = self.logger_name
        super().emit(record)


def _sampling_path(sampling_context: dict[str, Any]) -> str | None:
    environ = sampling_context.get("wsgi_environ")
    if environ:
        return environ.get("PATH_INFO") or "/"
    scope = sampling_context.get("asgi_scope")
    if scope:
        return scope.get("path") or "/"
    name = (sampling_context.get("transaction_context") or {}).get("name")
    if isinstance(name, str) and name.startswith("/"):
        return name
    return None


def probe_free_sampler(rate: float) -> Callable[[dict[str, Any]], float]:
    """A Sentry ``traces_sampler``: 0 for health probes, else the parent's choice or ``rate``."""

    def sampler(sampling_context: dict[str, Any]) -> float:
        path = _sampling_path(sampling_context)
        if path is not None and is_probe_path(path, skipped_paths()):
            return 0.0
        parent = sampling_context.get("parent_sampled")
        if parent is not None:
            return 1.0 if parent else 0.0
        return rate

    return sampler


def sentry_traces_sampler(sampling_context: dict[str, Any]) -> float:
    """Sentry ``traces_sampler``: probes 0, others the parent's or HEALTHD["TRACES_SAMPLE_RATE"]."""
    rate = float(conf.get().traces_sample_rate)
    return probe_free_sampler(rate)(sampling_context)
