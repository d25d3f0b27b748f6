"""One of each small helper: broker URLs, version.json, ages, deep redaction."""

from __future__ import annotations

import pytest

from healthd.util.humanize import format_age
from healthd.util.redact import MASK, redact_deep
from healthd.util.redis_urls import celery_broker_url, redis_url_of_broker
from healthd.util.version_json import read_version_json


def test_broker_urls_both_ways():
    assert celery_broker_url("unix:///run/redis.sock?db=2") == "redis+socket:///run/redis.sock?db=2"
    assert celery_broker_url("redis://h:6379/1") == "redis://h:6379/1"
    assert redis_url_of_broker("redis+socket:///run/redis.sock") == "unix:///run/redis.sock"
    assert redis_url_of_broker("rediss://h:6380/0") == "rediss://h:6380/0"
    assert redis_url_of_broker("amqp://guest@rabbit//") is None
    assert redis_url_of_broker(None) is None and redis_url_of_broker("") is None


def test_version_json_none_when_missing_value_error_when_malformed(tmp_path):
    assert read_version_json(tmp_path) is None
    (tmp_path / "version.json").write_text('{"version": "1.2", "commit": "abc"}')
    assert read_version_json(tmp_path) == {"version": "1.2", "commit": "abc"}
    (tmp_path / "version.json").write_text("{not json")
    with pytest.raises(ValueError):
        read_version_json(str(tmp_path))


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "never"), (0.2, "0 s ago"), (89, "89 s ago"), (180, "3 min ago"),
    (9000, "2.5 h ago"), (3 * 86400, "3.0 days ago"),
])
def test_format_age(seconds, text):
    assert format_age(seconds) == text


def test_redact_deep_reaches_every_string_keys_included():
    secret = "redis://:hunter2secret@db.internal:6379/0"
    found = redact_deep({"a": [secret, {"b": (secret, 1)}], secret: None, "n": 2.5})
    assert "hunter2secret" not in repr(found) and MASK in repr(found)
    assert found["a"][1]["b"][1] == 1 and found["n"] == 2.5
