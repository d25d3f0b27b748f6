"""watchman's Authorization header: every parameter parsed, ``Token`` taken wherever it is.

watchman read ``WATCHMAN-TOKEN`` as a list of ``name=value`` parameters and took the one
named ``Token``; a client that sends another parameter first must not be refused after a
switch. Expected codes: watchman's (200 with a valid token, 403 without or with a wrong one).
"""

from __future__ import annotations

import pytest

from tests.support.results import write_all

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def token(settings):
    settings.WATCHMAN_TOKEN = "ABCDE"
    settings.WATCHMAN_TOKENS = None
    write_all()


@pytest.mark.parametrize("header", [
    'WATCHMAN-TOKEN Foo="bar" Token="ABCDE"',
    'WATCHMAN-TOKEN Foo=bar Token=ABCDE',
    'WATCHMAN-TOKEN Token="ABCDE" Foo="bar"',
    'WATCHMAN-TOKEN Token="ABCDE"',
])
def test_the_token_is_found_among_other_parameters(client, header):
    response = client.get("/watchman/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 200
    # the token also unlocks the details of the other dialects
    assert "checks" in client.get("/__heartbeat__", HTTP_AUTHORIZATION=header).json()


@pytest.mark.parametrize("header", [
    'WATCHMAN-TOKEN Foo="bar" Token="12345"',
    'WATCHMAN-TOKEN Foo="ABCDE"',
    'WATCHMAN-TOKEN NotToken="ABCDE"',
])
def test_a_wrong_or_missing_token_parameter_is_refused(client, header):
    assert client.get("/watchman/", HTTP_AUTHORIZATION=header).status_code == 403


def test_without_a_token_parameter_the_query_string_is_read(client):
    # watchman fell back to the query string when the header had no Token
    response = client.get("/watchman/", {"watchman-token": "ABCDE"},
                          HTTP_AUTHORIZATION='WATCHMAN-TOKEN Foo="bar"')
    assert response.status_code == 200
