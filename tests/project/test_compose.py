"""compose/: the compose file, the Dockerfile and .env.example, checked offline (no Docker).

The compose file is parsed with PyYAML (merge keys resolved, as Compose resolves them);
the healthcheck and version.json snippets are run here with this interpreter.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
COMPOSE = ROOT / "compose" / "docker-compose.yml"
DOCKERFILE = ROOT / "compose" / "Dockerfile"
ENV_EXAMPLE = ROOT / "compose" / ".env.example"

SERVICES = {"postgres", "redis", "migrate", "web", "worker", "beat"}
HEALTHD_SERVICES = ("web", "worker", "beat")
# Compose interpolates $NAME and ${NAME...}; $$ is a literal dollar.
VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from _strings(key)
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)


def referenced_variables(compose: dict[str, Any]) -> set[str]:
    """Every variable Compose would interpolate, nested defaults included."""
    return {
        name
        for text in _strings(compose)
        for name in VARIABLE.findall(text.replace("$$", ""))
    }


def documented_variables() -> dict[str, str]:
    """.env.example's assignments, each with the comment line right above it."""
    found: dict[str, str] = {}
    previous = ""
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = ASSIGNMENT.match(line)
        if match:
            found[match[1]] = previous
        previous = line.strip()
    return found


def command_text(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def healthcheck_test(service: dict[str, Any]) -> list[str]:
    test = service["healthcheck"]["test"]
    return shlex.split(test) if isinstance(test, str) else list(test)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions = []
    current = ""
    for line in DOCKERFILE.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        keyword, _, arguments = current.strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    return instructions


def test_services_exist(services: dict[str, Any]) -> None:
    assert set(services) >= SERVICES


def test_every_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    for name, service in services.items():
        healthcheck = service.get("healthcheck")
        assert healthcheck, f"{name} has no healthcheck"
        if name == "migrate":
            # A one-shot: its health is never consulted, and it must not inherit the
            # image's web HEALTHCHECK.
            assert healthcheck.get("disable") is True
            continue
        assert not healthcheck.get("disable"), f"{name}'s healthcheck is disabled"
        test = healthcheck_test(service)
        assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, (name, test)


def test_backing_service_healthchecks(services: dict[str, Any]) -> None:
    assert "pg_isready" in " ".join(healthcheck_test(services["postgres"]))
    redis_test = " ".join(healthcheck_test(services["redis"]))
    assert "redis-cli" in redis_test and "ping" in redis_test


def test_web_healthcheck_uses_lbheartbeat_without_curl(services: dict[str, Any]) -> None:
    test = " ".join(healthcheck_test(services["web"]))
    assert "/__lbheartbeat__" in test
    assert "urllib" in test and "curl" not in test


def test_worker_healthcheck_pings_its_own_worker(services: dict[str, Any]) -> None:
    test = " ".join(healthcheck_test(services["worker"]))
    assert "celery -A healthd.site inspect ping" in test
    assert "-d celery@$$HOSTNAME" in test  # $$: the container's shell expands it


def test_commands(services: dict[str, Any]) -> None:
    assert command_text(services["migrate"]) == "python -m healthd migrate --noinput"
    web = command_text(services["web"])
    assert web.startswith("gunicorn healthd.site.wsgi:application")
    assert "--bind 0.0.0.0:${PORT:-8000}" in web
    assert "-c python:healthd.site.gunicorn_conf" in web  # probes out of the access log
    assert command_text(services["worker"]).startswith("celery -A healthd.site worker")
    assert command_text(services["beat"]).startswith("celery -A healthd.site beat")
    assert "--scheduler healthd.beat:Scheduler" in command_text(services["beat"])


def test_exactly_one_beat(services: dict[str, Any]) -> None:
    beat = services["beat"]
    assert beat.get("deploy", {}).get("replicas", 1) == 1
    assert "scale" not in beat
    assert not any("beat" in command_text(s)
                   for name, s in services.items() if name != "beat")


def test_healthd_services_wait_for_migrate(services: dict[str, Any]) -> None:
    migrate = services["migrate"]
    assert migrate.get("restart") == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in HEALTHD_SERVICES:
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
        assert depends_on["postgres"]["condition"] == "service_healthy", name
        assert depends_on["redis"]["condition"] == "service_healthy", name


def test_healthd_services_share_image_environment_and_state(services: dict[str, Any]) -> None:
    state_dir = dict(dockerfile_env())["HEALTHD_STATE_DIR"]
    first = services["migrate"]
    for name in ("migrate", *HEALTHD_SERVICES):
        service = services[name]
        assert service["image"] == first["image"], name
        assert service["build"]["dockerfile"] == "compose/Dockerfile", name
        assert service["environment"] == first["environment"], name
        targets = [volume.split(":")[1] for volume in service["volumes"]]
        assert state_dir in targets, f"{name} does not mount the state folder"
    for variable in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS",
                     "SENTRY_DSN", "PORT"):
        assert variable in first["environment"], variable


def test_every_variable_is_documented_in_env_example(compose: dict[str, Any]) -> None:
    referenced = referenced_variables(compose)
    documented = documented_variables()
    assert referenced, "no variable found: the pattern is wrong"
    assert not referenced - set(documented), "not in compose/.env.example"
    assert not set(documented) - referenced, "in compose/.env.example but never used"
    uncommented = [name for name, above in documented.items() if not above.startswith("#")]
    assert not uncommented, f"no comment above {uncommented} in compose/.env.example"


def test_build_args_match_the_dockerfile(services: dict[str, Any]) -> None:
    declared = {arguments.split("=")[0] for keyword, arguments in dockerfile_instructions()
                if keyword == "ARG"}
    assert set(services["web"]["build"]["args"]) == {"COMMIT", "VERSION", "SOURCE", "BUILD_URL"}
    assert set(services["web"]["build"]["args"]) <= declared


def dockerfile_env() -> list[tuple[str, str]]:
    pairs = []
    for keyword, arguments in dockerfile_instructions():
        if keyword == "ENV":
            for item in shlex.split(arguments):
                name, _, value = item.partition("=")
                pairs.append((name, value))
    return pairs


def test_dockerfile_basics() -> None:
    instructions = dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]
    assert instructions[0] == ("FROM", "python:3.11-slim")
    env = dict(dockerfile_env())
    assert env["HEALTHD_BASE_DIR"] == "/app"
    assert env["HEALTHD_STATE_DIR"]
    runs = [arguments for keyword, arguments in instructions if keyword == "RUN"]
    # The standalone site with Apprise channels, on PostgreSQL.
    assert any('pip install ".[standalone,apprise,postgres]"' in run for run in runs)
    assert any("collectstatic --noinput" in run for run in runs)
    assert ("EXPOSE", "8000") in instructions
    healthcheck = [arguments for keyword, arguments in instructions if keyword == "HEALTHCHECK"]
    assert len(healthcheck) == 1 and "/__lbheartbeat__" in healthcheck[0]
    assert "CMD" in keywords


def test_the_images_own_command_serves_with_healthds_gunicorn_config() -> None:
    """Run as it is (a Kubernetes pod with no command of its own), the image drains on
    SIGTERM and replaces its workers on schedule, as the compose file's web does."""
    (command,) = [arguments for keyword, arguments in dockerfile_instructions()
                  if keyword == "CMD"]
    words = json.loads(command)
    assert words[:2] == ["gunicorn", "healthd.site.wsgi:application"]
    assert words[words.index("-c") + 1] == "python:healthd.site.gunicorn_conf"


def test_dockerfile_runs_as_a_user_that_is_not_root() -> None:
    instructions = dockerfile_instructions()
    users = [(index, arguments) for index, (keyword, arguments) in enumerate(instructions)
             if keyword == "USER"]
    assert users, "no USER instruction"
    index, user = users[-1]
    assert user.split(":")[0] not in ("root", "0")
    # Nothing after it runs as someone else, and the last RUN is before it.
    last_run = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "RUN")
    assert last_run < index


def test_dockerfile_writes_version_json_in_dockerflows_shape(tmp_path: Path) -> None:
    """Run the Dockerfile's own RUN line, with this interpreter as `python`."""
    runs = [arguments for keyword, arguments in dockerfile_instructions()
            if keyword == "RUN" and "version.json" in arguments]
    assert len(runs) == 1
    build_args = {"COMMIT": "52ce614fbf99540a1bf6228e36be6cef63b4d73b", "VERSION": "2017.11.0",
                  "SOURCE": "https://example.com/healthd", "BUILD_URL": 'https://ci/1?"x"'}
    env = {**os.environ, **build_args, "HEALTHD_BASE_DIR": str(tmp_path),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["sh", "-c", runs[0]], env=env, check=True, timeout=30)
    written = json.loads((tmp_path / "version.json").read_text())
    assert written == {"commit": build_args["COMMIT"], "version": build_args["VERSION"],
                       "source": build_args["SOURCE"], "build": build_args["BUILD_URL"]}


class _Heartbeat(http.server.BaseHTTPRequestHandler):
    status = 200
    allowed_host = "example.com"

    def do_GET(self) -> None:
        host = self.headers.get("Host", "")
        if self.path != "/__lbheartbeat__":
            code = 404
        elif host != self.allowed_host:
            code = 400  # as Django answers a host outside ALLOWED_HOSTS
        else:
            code = self.status
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def heartbeat_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Heartbeat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    _Heartbeat.status = 200


@pytest.mark.parametrize(("allowed_hosts", "status", "passes"), [
    (".example.com,localhost", 200, True),
    ("example.com", 500, False),
    ("other.example.org", 200, False),
])
def test_web_healthcheck_code(services: dict[str, Any], heartbeat_server: Any,
                              allowed_hosts: str, status: int, passes: bool) -> None:
    """The web healthchecks (compose's and the image's), run against a stand-in web process."""
    test = healthcheck_test(services["web"])
    assert test[:3] == ["CMD", "python", "-c"]
    _Heartbeat.status = status
    env = {**os.environ, "PORT": str(heartbeat_server.server_address[1]),
           "ALLOWED_HOSTS": allowed_hosts}
    done = subprocess.run([sys.executable, "-c", test[3]], env=env, timeout=30,
                          capture_output=True)
    assert (done.returncode == 0) is passes, done.stderr.decode()
    # The image's own HEALTHCHECK (shell form), with this interpreter as `python`.
    healthcheck = next(arguments for keyword, arguments in dockerfile_instructions()
                       if keyword == "HEALTHCHECK")
    shell_command = healthcheck.split(" CMD ", 1)[1]
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    done = subprocess.run(["sh", "-c", shell_command], env=env, timeout=30,
                          capture_output=True)
    assert (done.returncode == 0) is passes, done.stderr.decode()


def test_beat_healthcheck_code_finds_a_beat(services: dict[str, Any]) -> None:
    """The compose healthcheck's Python passes while a `celery ... beat` process runs."""
    test = healthcheck_test(services["beat"])
    assert test[:3] == ["CMD", "python", "-c"]
    if not Path("/proc/self/cmdline").exists():
        pytest.skip("no /proc")
    stand_in = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "celery", "beat"])
    try:
        done = subprocess.run([sys.executable, "-c", test[3]], timeout=30, capture_output=True)
        assert done.returncode == 0, done.stderr.decode()
    finally:
        stand_in.kill()
        stand_in.wait()


def test_shell_snippets_parse(services: dict[str, Any]) -> None:
    """`sh -n` on every RUN line and every shell the compose file hands to a container."""
    snippets = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "RUN"]
    for service in services.values():
        test = service["healthcheck"].get("test")
        if test and test[0] == "CMD-SHELL":
            snippets.append(test[1].replace("$$", "$"))
        command = service.get("command")
        if isinstance(command, list) and command[:2] == ["sh", "-c"]:
            snippets.append(command[2].replace("$$", "$"))
    assert len(snippets) >= 8
    for snippet in snippets:
        done = subprocess.run(["sh", "-n", "-c", snippet], capture_output=True, timeout=30)
        assert done.returncode == 0, (snippet, done.stderr.decode())
