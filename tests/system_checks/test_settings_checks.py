"""Malformed settings are reported at start-up by a system check that names the setting."""

from __future__ import annotations

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from healthd.checks import registry
from healthd.checks.runner import run_concurrently


def _messages() -> list[str]:
    return [m.msg for m in checks.run_checks(tags=["healthd"])]


def test_the_shipped_settings_are_clean():
    assert _messages() == []


@pytest.mark.parametrize(("healthd", "expected"), [
    ({"CHECKS": ["databse"]}, 'HEALTHD["CHECKS"]: unknown check \'databse\''),
    ({"CHECKS": ["myapp.nothere.check"]}, 'HEALTHD["CHECKS"]: cannot import check'),
    ({"INTERVAL": -5}, 'HEALTHD["INTERVAL"]: must be a positive number, not -5'),
    ({"REDIS_URL": "localhost:6379"}, 'HEALTHD["REDIS_URL"]: must be a redis://'),
    ({"REDIS_URL": "redis+cluster://:pw@/"}, 'HEALTHD["REDIS_URL"]: a cluster URL names its'),
    ({"REDIS_URL": "redis+cluster://h:7000,h:7001/2"}, "a Redis Cluster has only database 0"),
    ({"CHECKS": [{"check": "cache", "interval": 0}]}, "interval must be a positive number"),
    ({"CHECKS": ["cache", "cache"]}, "configured twice"),
    ({"INTERVALL": 5}, "HEALTHD: unknown key(s) ['INTERVALL']"),
    ({"LOCAL_CHECK_SECONDS": 0}, 'HEALTHD["LOCAL_CHECK_SECONDS"]: must be a positive number'),
    ({"LOCAL_DISK_MIN_FREE_MB": "lots"}, 'HEALTHD["LOCAL_DISK_MIN_FREE_MB"]: must be a number'),
    ({"LOCAL_SHARED_FRACTION": "most"},
     'HEALTHD["LOCAL_SHARED_FRACTION"]: must be a number >= 0, not \'most\''),
    ({"LOCAL_SHARED_FRACTION": -0.5},
     'HEALTHD["LOCAL_SHARED_FRACTION"]: must be a number >= 0, not -0.5'),
    ({"RECYCLE_SECONDS": "daily"},
     'HEALTHD["RECYCLE_SECONDS"]: must be a number >= 0, not \'daily\''),
    ({"LOCAL_CHECKS": "disk"}, 'HEALTHD["LOCAL_CHECKS"]: must be a list'),
    ({"LOCAL_CHECKS": ["database"]}, 'HEALTHD["LOCAL_CHECKS"]: unknown check \'database\': '
                                     "use one of ['connection', 'disk', 'memory']"),
    ({"LOCAL_CHECKS": [{"check": "disk", "min_fre_mb": 5}]},
     'HEALTHD["LOCAL_CHECKS"]: bad option for check \'disk\''),
    ({"LOCAL_CHECKS": [{"check": "disk", "readiness": True}]},
     'HEALTHD["LOCAL_CHECKS"]: a local check takes neither'),
    ({"LOCAL_CHECKS": ["disk", "disk"]}, "local check name 'disk' is configured twice"),
])
def test_a_malformed_setting_is_named(settings, healthd, expected):
    settings.HEALTHD = {**settings.HEALTHD, **healthd}
    messages = _messages()
    assert any(expected in m for m in messages), messages


def test_check_refuses_to_start_with_a_bad_setting(settings):
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": ["databse"]}
    with pytest.raises(SystemCheckError, match=r"healthd\.E005"):
        call_command("check")


def test_a_non_url_redis_url_never_echoes_a_password(settings):
    settings.HEALTHD = {**settings.HEALTHD, "REDIS_URL": "http://u:hunter22@x"}
    assert not any("hunter22" in m for m in _messages())
    settings.HEALTHD = {**settings.HEALTHD, "REDIS_URL": "redis+cluster://:hunter22@h:1/5"}
    messages = _messages()
    assert messages and not any("hunter22" in m for m in messages)


def test_a_cluster_url_is_accepted(settings):
    settings.HEALTHD = {**settings.HEALTHD,
                        "REDIS_URL": "rediss+cluster://u:pw@10.0.0.1:7000,[::1]:7001/0"}
    assert _messages() == []


def test_dockerflow_and_watchman_settings_carry_over(settings):
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": []}
    settings.DOCKERFLOW_CHECKS = [
        "dockerflow.django.checks.check_database_connected",
        "tests.system_checks.test_settings_checks.site_check",
    ]
    settings.WATCHMAN_CHECKS = ["watchman.checks.caches", "watchman.checks.storage"]
    names = [c.name for c in registry.configured_checks()]
    assert names == ["database", "site_check", "cache", "storage"]


def site_check(app_configs, **kwargs):
    return [checks.Warning("disk nearly full", id="site.W001")]


def test_a_dockerflow_style_check_warns_at_warning_level(settings):
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": []}
    settings.DOCKERFLOW_CHECKS = ["tests.system_checks.test_settings_checks.site_check"]
    (result,) = run_concurrently(registry.configured_checks())
    assert result.status == "warning"
    assert result.message == "site.W001: disk nearly full"
