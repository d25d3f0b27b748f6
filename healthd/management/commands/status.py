"""``status <resource> [NAME ...] [-e] [-f json|yaml]``: django-status's command, from cached state.

It prints what django-status's command printed: ``{provider: value}`` for every provider
of the resource (``status health`` → ``{"ping": {"pong": true}, "databases":
{"default": true}, "caches": {...}}``), or for the providers named. No check is run and
no stat is gathered: health values come from the checks' latest results (a stale or
never-run check reads as false), stats from what the ``gather_stats`` task stored.

- ``-e`` exits 1 when a printed value is false, as django-status's did, and also when
  a critical healthd check fails (so the gate is never weaker than the heartbeat);
  stderr names which.
- ``status health`` also takes healthd check names (``status health database -e``):
  each prints as ``{"ok": …, "status": …, "message": …, "age": …}``.
- An unknown resource or name exits with status 2 and says which, with the valid ones:
  a typo in a deploy gate must not pass.
- The default output is JSON (which YAML parsers read too); ``-f yaml`` writes YAML.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from healthd.checks import registry
from healthd.compat.status import reading as dialect
from healthd.compat.status import stats as stats_store
from healthd.management.cached import read_health, read_stats
from healthd.store import health as state


class CachedValues:
    """Reads the cached state lazily, once: ``status stats`` never reads the checks."""

    def __init__(self) -> None:
        self._health: state.Health | None = None
        self._stats: stats_store.StatsSnapshot | None = None

    def health(self) -> state.Health:
        if self._health is None:
            self._health = read_health()
        return self._health

    @property
    def health_error(self) -> str | None:
        """Why the check results could not be read, if they were read at all."""
        return self._health.error if self._health is not None else None

    def stats(self) -> stats_store.StatsSnapshot:
        if self._stats is None:
            self._stats = read_stats()
        return self._stats

    def provider_value(self, provider: stats_store.Provider) -> Any:
        """The value django-status's provider would have returned; None if never gathered
        (or the stats cannot be read: the outcome says so)."""
        if dialect.is_public(provider) and provider.builtin is not None:
            return dialect.health_value(provider.builtin[1], self.health())
        snapshot = self.stats()
        if snapshot.error or not snapshot.data:
            return None
        try:
            return dialect.stored_value(provider, snapshot.data)
        except dialect.NotGathered:
            return None

    def check_value(self, name: str) -> dict[str, Any]:
        check = self.health().by_name().get(name)
        if check is None:  # configured, yet the state does not list it: never ran
            return {"ok": False, "status": "unknown", "message": "no result", "age": None}
        return {"ok": check.ok, "status": str(check.status), "message": check.message,
                "age": None if check.age is None else round(check.age, 3)}


def falsy_parts(value: Any) -> bool:
    """django-status's -e rule: a provider fails when one of its values is false."""
    if isinstance(value, dict):
        if "ok" in value:
            return not value["ok"]
        return not all(value.values())
    return not value


def render(data: dict[str, Any], output_format: str) -> str:
    if output_format == "yaml":
        # PyYAML is optional; only -f yaml needs it.
        import yaml

        return yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False,
                              default_flow_style=False).rstrip("\n")
    return json.dumps(data, indent=2, default=str)


class Command(BaseCommand):
    help = ("Print a django-status resource (health, stats) from the cached state: "
            "{provider: value}. With -e, exit 1 when a value is false or a critical check "
            "fails. Unknown names exit with status 2.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("resource", help="health or stats (or a STATUS_PROVIDERS resource)")
        parser.add_argument("names", nargs="*", metavar="NAME",
                            help="only these providers (or, for health, healthd checks)")
        parser.add_argument("-e", "--error_on_fail", "--error-on-fail", action="store_true",
                            dest="error_on_fail",
                            help="exit with status 1 if a check is failing")
        parser.add_argument("-f", "--output_format", "--format", choices=["json", "yaml"],
                            default="json", dest="output_format", help="output format")

    def handle(self, *args: Any, **options: Any) -> None:
        table = dialect.providers()
        resource = options["resource"]
        if resource not in table:
            raise CommandError(f"unknown resource {resource!r}; known: {', '.join(table)}",
                               returncode=2)
        providers = table[resource]
        check_names = ([c.name for c in registry.configured_checks()]
                       if resource == stats_store.HEALTH else [])
        names = list(dict.fromkeys(options["names"]))
        unknown = [n for n in names if n not in providers and n not in check_names]
        if unknown:
            known = f"providers: {', '.join(providers)}"
            if check_names:
                known += f"; checks: {', '.join(check_names)}"
            raise CommandError(f"unknown name(s) for {resource!r}: {', '.join(unknown)} "
                               f"({known})", returncode=2)

        values = CachedValues()
        data: dict[str, Any] = {}
        for name in names or providers:
            if name in providers:
                data[name] = values.provider_value(providers[name])
            else:
                data[name] = values.check_value(name)
        self.stdout.write(render(data, options["output_format"]))

        if resource == stats_store.HEALTH:
            self._health_outcome(values, data, providers, names, options["error_on_fail"])
        else:
            self._stats_outcome(values, data)

    def _health_outcome(self, values: CachedValues, data: dict[str, Any],
                        providers: dict[str, stats_store.Provider], names: list[str],
                        error_on_fail: bool) -> None:
        failed = [name for name, value in data.items()
                  if name in providers and falsy_parts(value)]
        judged = [n for n in names if n not in providers] if names else None
        if error_on_fail and (judged is None or judged):
            failed += [c.name for c in values.health().checks
                       if c.counts_against and (judged is None or c.name in judged)
                       and c.name not in failed]
        error = values.health_error
        if error:
            self.stderr.write(f"the check results cannot be read: {error}")
        if error_on_fail and (failed or error):
            reasons = [", ".join(failed), error or ""]
            raise CommandError(f"unhealthy: {'; '.join(r for r in reasons if r)}", returncode=1)

    def _stats_outcome(self, values: CachedValues, data: dict[str, Any]) -> None:
        snapshot = values.stats()
        if snapshot.error:
            raise CommandError(f"the stats cannot be read: {snapshot.error}", returncode=1)
        never = [name for name, value in data.items() if value is None]
        if never:
            self.stderr.write(f"not gathered yet: {', '.join(never)} (is the "
                              "healthd.tasks.gather_stats task scheduled?)")
