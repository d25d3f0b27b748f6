"""django-status's stats shapes: ``stats/code``'s branch and ``stats/databases``' fields.

django-status's providers gave ``branch`` as ``{"local": <branch>, "remote": <upstream,
else "unknown">}``, and per database alias ``vendor``, ``is_usable``, the connection's
``allow_thread_sharing``, ``autocommit``, ``commit_on_exit`` and ``in_atomic_block``,
and its ``settings`` without ``USER`` and ``PASSWORD``. Stats stay behind a token.
"""

from __future__ import annotations

import subprocess

import pytest
from django.db import connection
from django.test import Client

from healthd.compat.status.stats import gather
from healthd.tasks.stats import gather_stats
from tests.support.results import only, write_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def details_client(settings) -> Client:
    only(settings, "database", "cache")
    write_all()
    settings.HEALTHD = {**settings.HEALTHD, "TOKENS": ["status-shapes-token"]}
    return Client(HTTP_AUTHORIZATION="Bearer status-shapes-token")


def _git(*args, cwd) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                   cwd=cwd, check=True, capture_output=True, timeout=30)


def test_databases_carry_django_status_fields(details_client):
    gather_stats()
    response = details_client.get("/status/api/stats/databases")
    assert response.status_code == 200
    default = response.json()["default"]
    assert default["vendor"] == connection.vendor
    assert default["is_usable"] is True
    # a connection of its own in the gathering thread: Django's defaults
    assert default["allow_thread_sharing"] is False
    assert default["autocommit"] is True
    assert default["commit_on_exit"] is True
    assert default["in_atomic_block"] is False
    assert default["settings"]["NAME"] == connection.settings_dict["NAME"]
    assert default["settings"]["ENGINE"] == connection.settings_dict["ENGINE"]
    assert "USER" not in default["settings"] and "PASSWORD" not in default["settings"]


def test_credentials_in_the_settings_stay_hidden(monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "PASSWORD", "db-pass-4711")
    monkeypatch.setitem(connection.settings_dict, "OPTIONS",
                        {"connect_timeout": 3, "passfile": "/run/pgpass", "password": "o-4711"})
    shown = str(gather.database_stats()["default"])
    assert "4711" not in shown and "pgpass" not in shown
    assert "connect_timeout" in shown


def test_code_branch_is_local_and_remote(details_client, settings, tmp_path):
    upstream, clone = tmp_path / "upstream", tmp_path / "clone"
    upstream.mkdir()
    _git("init", "-q", "-b", "trunk", cwd=upstream)
    _git("commit", "-q", "--allow-empty", "-m", "first", cwd=upstream)
    _git("clone", "-q", str(upstream), str(clone), cwd=tmp_path)
    settings.BASE_DIR = clone
    gather_stats()
    code = details_client.get("/status/api/stats/code").json()
    assert code["branch"] == {"local": "trunk", "remote": "origin/trunk"}
    settings.BASE_DIR = upstream  # no upstream branch
    gather_stats()
    code = details_client.get("/status/api/stats/code").json()
    assert code["branch"] == {"local": "trunk", "remote": "unknown"}


def test_stats_stay_behind_a_token(details_client):
    gather_stats()
    assert Client().get("/status/api/stats/databases").status_code == 403
