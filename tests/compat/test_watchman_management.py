"""django-watchman's management command tests, against healthd's ``manage.py watchman``.

Source: mwarkentin/django-watchman ``tests/test_management.py`` (TestWatchman), and the
command's own behaviour where marked (``watchman/management/commands/watchman.py``).
Adapted setup: watchman's command ran the checks; healthd's reads the results the
workers stored, so a result for every check is stored first.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from healthd.checks.base import Status
from tests.support.results import write_all, write_result

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def all_passing():
    write_all()


# test_management.py::TestWatchman::test_successful_management_command_outputs_nothing
def test_successful_management_command_outputs_nothing():
    out = StringIO()
    call_command("watchman", stdout=out)
    assert out.getvalue() == ""


# test_management.py::TestWatchman::
#     test_successful_management_command_outputs_check_status_with_verbosity_2
def test_successful_management_command_outputs_check_status_with_verbosity_2():
    out = StringIO()
    call_command("watchman", stdout=out, verbosity="2")
    assert "caches" in out.getvalue()


# test_management.py::TestWatchman::
#     test_successful_management_command_outputs_check_status_with_verbosity_3
def test_successful_management_command_outputs_check_status_with_verbosity_3():
    out = StringIO()
    call_command("watchman", stdout=out, verbosity="3")
    assert "caches" in out.getvalue()


# test_management.py::TestWatchman::test_successful_management_command_supports_check_list
def test_successful_management_command_supports_check_list():
    out = StringIO()
    call_command("watchman", stdout=out, checks="watchman.checks.caches", verbosity="3")
    assert "caches" in out.getvalue()
    assert "databases" not in out.getvalue()


# test_management.py::TestWatchman::test_successful_management_command_supports_skip_list
def test_successful_management_command_supports_skip_list():
    out = StringIO()
    call_command("watchman", stdout=out, skips="watchman.checks.email", verbosity="3")
    assert "caches" in out.getvalue()
    assert "databases" in out.getvalue()
    assert "email" not in out.getvalue()


# watchman/management/commands/watchman.py: a check whose JSON has "ok": false raises
# CommandError with that JSON (exit status 1)
def test_a_failing_check_fails_the_command_with_its_json():
    write_result("cache", Status.FAILING, message="default: ConnectionError: refused",
                 details={"default": {"ok": False, "error": "ConnectionError: refused"},
                          "redis": {"ok": True}})
    out = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("watchman", stdout=out, verbosity="2")
    assert failure.value.returncode == 1
    assert '"ok": false' in str(failure.value)
    assert "caches" in str(failure.value)
    assert "databases" in out.getvalue()
