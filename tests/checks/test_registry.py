"""The registry: settings to scheduled checks around small dataclasses, every old way kept."""

from __future__ import annotations

import dataclasses

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from healthd import CheckWarning, Observation
from healthd.checks import registry
from healthd.checks.base import Check
from healthd.checks.cache import Cache
from healthd.checks.celery import Celery
from healthd.checks.database import Database
from healthd.checks.email import Email
from healthd.checks.legacy import DockerflowCheck, WatchmanCheck
from healthd.checks.migrations import Migrations
from healthd.checks.redis import Redis
from healthd.checks.storage import Storage


def _probe(check: Check) -> object:
    """The dataclass instance a built-in check runs."""
    return check.func.__self__


@pytest.mark.parametrize(("name", "kind"), [
    ("database", Database), ("migrations", Migrations), ("cache", Cache), ("redis", Redis),
    ("celery", Celery), ("email", Email), ("storage", Storage),
])
def test_each_built_in_is_a_dataclass_whose_run_is_scheduled(name, kind):
    check = registry.build_check(name)
    assert check.name == name
    assert isinstance(_probe(check), kind)
    assert check.func == _probe(check).run
    assert dataclasses.is_dataclass(kind)
    assert kind() == kind()  # frozen, compared by options
    hash(check)


def test_a_dict_entry_gives_its_options_to_the_dataclass_and_shows_them_in_its_repr():
    check = registry.build_check(
        {"check": "migrations", "aliases": ["default"], "level": "failing", "interval": 60})
    assert _probe(check) == Migrations(aliases=("default",), level="failing")
    assert repr(_probe(check)) == "Migrations(aliases=('default',), level='failing')"
    assert check.interval == 60
    assert registry.build_check({"check": "celery", "workers": ["celery@a"], "min_workers": 2}
                                ).func.__self__ == Celery(workers=("celery@a",), min_workers=2)


def test_one_alias_given_as_a_string_is_one_alias():
    assert Database("default").aliases == ("default",)
    assert Cache(["default", "redis"]).aliases == ("default", "redis")


def test_redis_urls_stay_out_of_every_repr():
    probe = Redis(urls={"sessions": "redis://:hunter22@cache:6379/1"})
    assert probe.urls == (("sessions", "redis://:hunter22@cache:6379/1"),)
    assert "hunter22" not in repr(probe)
    assert "hunter22" not in repr(Check("redis", probe.run))
    listed = Redis(urls=["redis://:hunter22@cache:6379/1"])
    assert listed.urls == (("redis://:********@cache:6379/1", "redis://:hunter22@cache:6379/1"),)
    assert dataclasses.replace(listed, timeout=1).urls == listed.urls


def test_a_bad_option_is_a_configuration_error_naming_the_check():
    with pytest.raises(ImproperlyConfigured, match="bad option for check 'celery'"):
        registry.build_check({"check": "celery", "worker": ["typo@host"]})


def test_the_replaced_packages_paths_map_onto_the_built_ins():
    for path, name in registry.LEGACY_PATHS.items():
        check = registry.build_check(path)
        assert check.name == name
        assert isinstance(_probe(check), registry.BUILTINS[name])


def site_function():
    return "all good"


@dataclasses.dataclass(frozen=True)
class DiskSpace:
    """A site's own check written like the built-ins."""

    path: str = "/"
    min_free: int = 1

    def run(self) -> Observation:
        if self.min_free > 10:
            raise CheckWarning(f"less than {self.min_free} free on {self.path}")
        return Observation(f"{self.path} has room", value=self.min_free, unit="GB")


def test_a_site_function_is_still_a_check_and_takes_no_options():
    check = registry.build_check("tests.checks.test_registry.site_function")
    assert check.name == "site_function" and check.func is site_function
    with pytest.raises(ImproperlyConfigured, match=r"unknown key\(s\) \['path'\]"):
        registry.build_check({"check": "tests.checks.test_registry.site_function", "path": "/"})


def test_a_site_class_is_built_from_its_options_like_a_built_in():
    check = registry.build_check(
        {"check": "tests.checks.test_registry.DiskSpace", "name": "disk", "min_free": 20})
    assert check.name == "disk"
    assert _probe(check) == DiskSpace(min_free=20)
    with pytest.raises(CheckWarning):
        check.func()
    assert registry.build_check("tests.checks.test_registry.DiskSpace").name == "DiskSpace"


def test_legacy_settings_wrap_their_functions(settings):
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": []}
    settings.DOCKERFLOW_CHECKS = ["tests.system_checks.test_settings_checks.site_check"]
    settings.WATCHMAN_CHECKS = ["tests.checks.test_registry.site_function"]
    dockerflow, watchman = registry.configured_checks()
    assert isinstance(_probe(dockerflow), DockerflowCheck)
    assert isinstance(_probe(watchman), WatchmanCheck)
    assert watchman.name == "site_function"


def test_check_names_stay_what_they_were():
    assert [c.name for c in registry.configured_checks()] == [
        "database", "migrations", "cache", "redis", "celery", "email", "storage"]
    with override_settings(HEALTHD={"CHECKS": None}):
        assert registry.default_names() == [
            "database", "migrations", "cache", "redis", "celery", "email", "storage"]


def test_the_registry_forgets_its_checks_on_a_setting_change(settings):
    assert len(registry.configured_checks()) == 7
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": ["storage"]}
    assert [c.name for c in registry.configured_checks()] == ["storage"]
    settings.DOCKERFLOW_CHECKS = ["tests.system_checks.test_settings_checks.site_check"]
    assert [c.name for c in registry.configured_checks()] == ["storage", "site_check"]
