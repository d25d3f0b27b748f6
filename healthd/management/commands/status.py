"""``status <resource> [-e] [-f json|yaml]``: django-status's command, from cached state.

``status health`` prints each check's latest result as the workers stored it in Redis
(no check is run); ``-e`` exits 1 when the site is unhealthy, as django-status's did.
``status stats`` prints the stored stats.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from healthd import state
from healthd.stats import read_stats

RESOURCES = ("health", "stats")


def health_data(names: list[str] | None = None) -> tuple[dict[str, Any], bool]:
    """The health resource from the cached state, and whether the site is healthy."""
    health = state.health(names)
    checks = {}
    for check in health.checks:
        record = check.record or {}
        checks[check.name] = {
            "status": str(check.status),
            "critical": check.check.critical,
            "message": check.message,
            "age": None if check.age is None else round(check.age, 3),
            "since": record.get("since"),
            "duration": record.get("duration"),
            "value": record.get("value"),
            "unit": record.get("unit"),
        }
    data: dict[str, Any] = {"status": str(health.status), "checks": checks}
    if health.error:
        data["error"] = health.error
    return data, health.healthy


def stats_data() -> dict[str, Any]:
    """Whatever stats are stored, or why they cannot be read."""
    try:
        return dict(read_stats() or {})
    except Exception as exc:
        return {"error": f"stats unavailable: {type(exc).__name__}"}


def render(data: dict[str, Any], output_format: str) -> str:
    if output_format == "yaml":
        import yaml

        return yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False,
                              default_flow_style=False).rstrip("\n")
    return json.dumps(data, indent=2, default=str)


class Command(BaseCommand):
    help = ("Print the current status of a resource (health, stats) from the cached state. "
            "With -e, exit 1 when a check is failing.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("resource", choices=RESOURCES)
        parser.add_argument("providers", nargs="*", metavar="CHECK",
                            help="only these checks (health) or stats (stats)")
        parser.add_argument("-e", "--error-on-fail", action="store_true", dest="error_on_fail",
                            help="exit with status 1 if a check is failing")
        parser.add_argument("-f", "--format", choices=["json", "yaml"], default="json")

    def handle(self, *args: Any, **options: Any) -> None:
        providers = options["providers"] or None
        healthy = True
        if options["resource"] == "health":
            data, healthy = health_data(providers)
        else:
            data = stats_data()
            if providers:
                data = {k: v for k, v in data.items() if k in providers}
        self.stdout.write(render(data, options["format"]))
        if options["error_on_fail"] and not healthy:
            failing = [name for name, check in data.get("checks", {}).items()
                       if check["critical"] and check["status"] in ("failing", "stale", "unknown")]
            raise CommandError(
                f"unhealthy: {', '.join(failing) or data.get('error', 'failing')}", returncode=1)
