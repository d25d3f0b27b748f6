"""RabbitMQ for the broker tests: a virtual host of the test's own, made and removed on the
machine's server through its HTTP management API when that is enabled, else with
``rabbitmqctl`` (which needs root, as the tests run here), and a Celery app on it.

HEALTHD_TEST_AMQP_URL names the server (default: guest on 127.0.0.1:5672); the
management API is looked for on port HEALTHD_TEST_RABBITMQ_API_PORT (default 15672).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from celery import Celery, _state

SERVER_URL = os.environ.get("HEALTHD_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
API_PORT = int(os.environ.get("HEALTHD_TEST_RABBITMQ_API_PORT", "15672"))


def _server() -> urllib.parse.SplitResult:
    return urllib.parse.urlsplit(SERVER_URL)


def unreachable() -> str | None:
    """Why no RabbitMQ can be used (None: its AMQP port answers)."""
    server = _server()
    try:
        with socket.create_connection((server.hostname or "127.0.0.1", server.port or 5672),
                                      timeout=2):
            return None
    except OSError as exc:
        return f"RabbitMQ is not reachable at {server.hostname}:{server.port}: {exc}"


def _api(method: str, path: str, body: dict | None = None) -> bool:
    """One management API call; False when the API is not there (not enabled)."""
    server = _server()
    credentials = f"{server.username or 'guest'}:{server.password or 'guest'}"
    request = urllib.request.Request(
        f"http://{server.hostname}:{API_PORT}/api/{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json",
                 "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - http only
            return 200 <= response.status < 300
    except urllib.error.HTTPError:
        raise
    except (urllib.error.URLError, OSError):
        return False


def _rabbitmqctl(*args: str) -> None:
    command = shutil.which("rabbitmqctl")
    if command is None:
        raise RuntimeError("RabbitMQ answers, but neither its management API nor "
                           "rabbitmqctl is here to make a virtual host")
    subprocess.run([command, "-q", *args], check=True, capture_output=True, timeout=60)


def create_vhost(name: str) -> str:
    """Make the virtual host ``name``, open to the server URL's user; return its broker URL."""
    server = _server()
    user = server.username or "guest"
    quoted = urllib.parse.quote(name, safe="")
    everything = {"configure": ".*", "write": ".*", "read": ".*"}
    if not (_api("PUT", f"vhosts/{quoted}", {})
            and _api("PUT", f"permissions/{quoted}/{urllib.parse.quote(user)}", everything)):
        _rabbitmqctl("add_vhost", name)
        _rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")
    return urllib.parse.urlunsplit(server._replace(path=f"/{quoted}"))


def delete_vhost(name: str) -> None:
    """Remove the virtual host and whatever queues and exchanges are left in it."""
    if not _api("DELETE", f"vhosts/{urllib.parse.quote(name, safe='')}"):
        _rabbitmqctl("delete_vhost", name)


@contextmanager
def celery_app_on(broker_url: str, **conf: object) -> Iterator[Celery]:
    """This process's Celery app, for as long as the block runs, on ``broker_url`` (and
    with any other ``conf`` given): queued tasks, pings and the celery check go there.
    The tests' app is put back after."""
    previous_current, previous_default = _state.get_current_app(), _state.default_app
    app = Celery("healthd-tests-amqp", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = broker_url
    app.conf.broker_transport_options = {}
    for key, value in conf.items():
        app.conf[key] = value
    app.set_current()
    app.set_default()
    try:
        yield app
    finally:
        previous_current.set_current()
        _state.set_default_app(previous_default)
        app.close()
