"""``POST /healthd/silence``: a deploy pipeline opens a silence with a token; a wrong or
missing token, a GET, or bad input is refused with a clear answer, and the token shows
nowhere."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from django.test import Client

from healthd.models import Silence

pytestmark = pytest.mark.django_db

TOKEN = "deploy-token-5b1f0c9e"
URL = "/healthd/silence"


def healthy():
    return "fine"


@pytest.fixture
def api(settings):
    settings.HEALTHD = {**settings.HEALTHD, "TOKENS": [TOKEN], "CHECKS": [
        {"check": "tests.alerting.test_silence_api.healthy", "name": "web"},
        {"check": "tests.alerting.test_silence_api.healthy", "name": "queue"}]}
    return Client(enforce_csrf_checks=True)  # no CSRF token: the token is the credential


def _bearer(token: str = TOKEN) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_a_form_post_opens_a_silence(api, caplog):
    caplog.set_level(logging.DEBUG)
    response = api.post(URL, {"for": "10m", "reason": "deploy", "checks": "web,queue"},
                        **_bearer())
    assert response.status_code == 201, response.content
    body = response.json()
    silence = Silence.objects.get()
    assert body["id"] == silence.pk and body["checks"] == ["web", "queue"]
    assert body["reason"] == "deploy" and body["created_by"] == "http"
    assert silence.ends_at - silence.starts_at == timedelta(minutes=10)
    assert silence.is_active()
    assert response["Cache-Control"] == "no-store"
    assert TOKEN not in response.content.decode() and TOKEN not in caplog.text


def test_a_json_post_opens_a_silence_of_every_check(api):
    response = api.post(URL, json.dumps({"for": "1h30m", "reason": "release 4.2", "all": True}),
                        content_type="application/json",
                        HTTP_AUTHORIZATION=f'WATCHMAN-TOKEN Token="{TOKEN}"')
    assert response.status_code == 201, response.content
    silence = Silence.objects.get(pk=response.json()["id"])
    assert silence.checks == [] and silence.reason == "release 4.2"
    assert silence.ends_at - silence.starts_at == timedelta(hours=1, minutes=30)
    listed = api.post(URL, json.dumps({"for": "5m", "checks": ["queue"]}),
                      content_type="application/json", **_bearer())
    assert listed.status_code == 201 and listed.json()["checks"] == ["queue"]


def test_the_deploy_hook_names_no_check_and_silences_every_check(api):
    response = api.post(URL, {"for": "10m", "reason": "deploy"}, **_bearer())
    assert response.status_code == 201, response.content
    silence = Silence.objects.get(pk=response.json()["id"])
    assert silence.checks == [] and response.json()["checks"] == []
    assert silence.ends_at - silence.starts_at == timedelta(minutes=10)


@pytest.mark.parametrize(("headers", "query"), [
    ({}, ""),
    (_bearer("not-the-token"), ""),
    ({"HTTP_AUTHORIZATION": "Bearer "}, ""),
    ({}, "?watchman-token=guess"),
])
def test_a_missing_or_wrong_token_is_refused(api, caplog, headers, query):
    caplog.set_level(logging.DEBUG)
    response = api.post(URL + query, {"for": "10m", "all": "1"}, **headers)
    assert response.status_code == 403
    assert response.json() == {"error": "forbidden: a valid token is required"}
    assert not Silence.objects.exists()
    assert TOKEN not in response.content.decode() and TOKEN not in caplog.text


def test_without_a_configured_token_nobody_opens_one(api, settings):
    settings.HEALTHD = {**settings.HEALTHD, "TOKENS": [], "PUBLIC_DETAILS": True}
    settings.DEBUG = True  # details may be public; writing is not
    response = api.post(URL, {"for": "10m", "all": "1"}, **_bearer())
    assert response.status_code == 403 and not Silence.objects.exists()


def test_a_get_is_not_allowed(api):
    response = api.get(URL, **_bearer())
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert "POST" in response.json()["error"]


@pytest.mark.parametrize(("data", "says"), [
    ({"for": "soon", "all": "1"}, "not a duration: 'soon'"),
    ({"for": "0m", "all": "1"}, "a silence lasts more than nothing"),
    ({"for": "10m", "checks": "web", "all": "1"}, "either checks or all"),
    ({"for": "10m", "checks": "wbe"}, "not a configured check: wbe"),
    ({"for": "10m", "all": "1", "reason": "x" * 501}, "a reason is at most 500 characters"),
])
def test_bad_input_is_a_400_saying_what_is_wrong(api, data, says):
    response = api.post(URL, data, **_bearer())
    assert response.status_code == 400
    assert says in response.json()["error"]
    assert not Silence.objects.exists()


@pytest.mark.parametrize(("body", "says"), [
    ("{not json", "the body is not JSON"),
    ('["web"]', "the body is not a JSON object"),
    ('{"for": 10, "checks": [1, 2]}', "checks: names"),
    ('{"for": ["10m"], "all": true}', "for: a string"),
])
def test_bad_json_is_a_400(api, body, says):
    response = api.post(URL, body, content_type="application/json", **_bearer())
    assert response.status_code == 400 and says in response.json()["error"]
