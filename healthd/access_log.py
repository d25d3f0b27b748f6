"""gunicorn's access log without the health probes, and without tokens.

A load balancer asks for the heartbeat thousands of times a second: with
``--access-logfile -`` every one was a line (129 MB in 11 minutes at 2,200 probes/s).
Probes are already out of ``request.summary``; this ``logger_class`` leaves them out of
gunicorn's access log too (the same paths: ``HEALTHD["SUMMARY_SKIP_PATHS"]``, default
every probe healthd serves) and masks secrets in every line it does write (a
``?watchman-token=`` or ``token=`` value, a password in a URL, a configured token)::

    # gunicorn.conf.py, or: gunicorn -c python:healthd.site.gunicorn_conf
    accesslog = "-"
    logger_class = "healthd.access_log.ProbeQuietLogger"

Which probe answers are still written: a 4xx one. The heartbeat's failing answer (500,
or 503) is the probe's answer, repeated at the probe's rate exactly while something is
down, so it is left out like a 200; the failure itself is told once per transition
(signals, Sentry, the Transition row). A 4xx means the caller is wrong (a refused
token, an unknown path, a bad Host header, a wrong method) and is worth a line.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from gunicorn.glogging import Logger, SafeAtoms

from healthd import conf
from healthd.logging import PROBE_PATHS, is_probe_path, skipped_paths
from healthd.util.redact import MASK, redact


def _status_code(status: Any) -> int:
    """gunicorn's response status, ``"200 OK"`` or ``200``, as a number (0 if unreadable)."""
    try:
        return int(str(status).split(None, 1)[0])
    except (ValueError, IndexError):
        return 0


def _probe_paths() -> tuple[str, ...]:
    # A worker serving a Django app has its settings; anything else gets the defaults.
    return skipped_paths() if settings.configured else PROBE_PATHS


def is_quiet(path: str, status: Any) -> bool:
    """True for a probe's answer that the access log leaves out (anything but a 4xx)."""
    if not is_probe_path(path, _probe_paths()):
        return False
    return not 400 <= _status_code(status) < 500


def mask(text: str) -> str:
    """``text`` with secrets masked, the value of the token query parameter included
    whatever WATCHMAN_TOKEN_NAME calls it (a wrong token is someone's guess at one)."""
    name = re.escape(conf.get().token_name)
    text = re.sub(rf"(?i)((?:^|[?&;]){name}=)[^&;\s]*", rf"\g<1>{MASK}", text)
    return redact(text)


class MaskedAtoms(SafeAtoms):
    """gunicorn's atoms, each one the format uses masked as it is read."""

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        if isinstance(value, str) and value and settings.configured:
            return mask(value)
        return value


class ProbeQuietLogger(Logger):
    """gunicorn's Logger whose access log leaves out health probes and masks tokens."""

    atoms_wrapper_class = MaskedAtoms

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if is_quiet(environ.get("PATH_INFO") or "", resp.status):
            return
        super().access(resp, req, environ, request_time)
