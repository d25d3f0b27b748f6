"""One redaction step: every secret the site configured and the common shapes of one are
masked, before anything is cut, cheaply even for a hostile body; and one logging rule:
each logged message is one line, bounded."""

from __future__ import annotations

import importlib
import logging
import pkgutil
import time

import pytest

from healthd.util import known_secrets
from healthd.util.logs import LONGEST, OneLineFilter, get_logger, one_line
from healthd.util.redact import MASK, redact

SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
APPRISE_JSON = "json://capuser:CapPw77@127.0.0.1:8845/apprise/Tok3nSegment99"
ZAPIER = "form://hooks.zapier.com/hooks/catch/123456/abcdef7/"
WEBHOOK = "http://hookuser:HookPw55@127.0.0.1:9/hook"
DSN = "https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/42"

# Each configured secret, and one string that carries it (sometimes in a URL of its own).
CONFIGURED = {
    "site token": "site-token-7777",
    "watchman token": "wm-token-8888",
    "watchman tokens": "wm-token-9999",
    "this check's ping token": "backup-tok-1234",
    "another check's ping token": "other-tok-5678",
    "webhook HMAC secret": "hmac-secret-4242",
    "webhook password": "HookPw55",
    "Apprise URL password": "CapPw77",
    "Apprise URL path token": "Tok3nSegment99",
    "Slack token A": "T1JJ3T3L2",
    "Slack token C": "TIiajkdnlazkcOXrIdevi7FQ",
    "form:// path id": "123456",
    "form:// path key": "abcdef7",
    "Pushbullet token with a dot": "o.gn5kj6nfhv736I7jC3cj3QLRiyhgl98b",
    "Sentry key": "0123456789abcdef0123456789abcdef",
    "database password": "DbPw-31337",
    "broker password": "BrokerPw-2718",
    "result store password": "StorePw-1414",
    "e-mail password": "MailPw-1618",
}


pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")


@pytest.fixture
def site(settings):
    settings.HEALTHD = {
        **settings.HEALTHD,
        "TOKENS": ["site-token-7777"],
        "REDIS_URL": f"redis://:StorePw-1414@{settings.REDIS_URL.split('://', 1)[1]}",
        "CHECKS": ["storage",
                   {"passive": "backup", "every": "1d", "token": "backup-tok-1234"},
                   {"passive": "other", "every": "1h", "tokens": ["other-tok-5678"]}],
        "NOTIFY": [SLACK, APPRISE_JSON, ZAPIER, "pbul://o.gn5kj6nfhv736I7jC3cj3QLRiyhgl98b",
                   {"webhook": WEBHOOK, "secret": "hmac-secret-4242", "name": "ops hook"}],
    }
    settings.WATCHMAN_TOKEN = "wm-token-8888"
    settings.WATCHMAN_TOKENS = "wm-token-9999, another-wm-token"
    settings.SENTRY_DSN = DSN
    # BROKER_URL (Celery's old name), not CELERY_BROKER_URL: the tests' Celery app reads
    # the latter when it first needs a connection, and would keep this broker for the session.
    settings.BROKER_URL = "amqp://guest:BrokerPw-2718@127.0.0.1:5672//"
    settings.EMAIL_HOST_PASSWORD = "MailPw-1618"
    settings.DATABASES = {**settings.DATABASES,
                          "other": {**settings.DATABASES["default"], "PASSWORD": "DbPw-31337"}}
    return settings


@pytest.mark.parametrize("kind", sorted(CONFIGURED))
def test_every_secret_the_site_configured_is_masked(site, kind):
    secret = CONFIGURED[kind]
    for text in (f"failed: {secret}", f'{{"value": "{secret}"}}', f"see /x/{secret}/y",
                 f"({secret})"):
        out = redact(text)
        assert secret not in out and MASK in out, (kind, text, out)


def test_notification_urls_are_masked_whole(site):
    for url in (SLACK, APPRISE_JSON, ZAPIER, WEBHOOK, DSN):
        out = redact(f"could not reach {url} in 5 s")
        assert url not in out and out.startswith("could not reach ") and out.endswith(" in 5 s")
    # Host names, ports and the words a webhook URL is built from stay readable.
    assert redact("127.0.0.1:8845 hooks.zapier.com hooks catch") == (
        "127.0.0.1:8845 hooks.zapier.com hooks catch")


def test_a_secret_is_masked_where_it_stands_whole_not_inside_a_longer_word(site):
    assert redact("T1JJ3T3L2") == MASK
    assert redact("xT1JJ3T3L2x") == "xT1JJ3T3L2x"


@pytest.mark.parametrize(("text", "secret"), [
    ("postgres://u:pa/ss@h/db", "pa/ss"),
    ("redis://u:p@ss@h:6379/0", "p@ss"),
    ("amqp://user:pw:with:colons@rabbit//", "pw:with:colons"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "eyJhbGciOiJIUzI1NiJ9"),
    ("authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA"),
    ('Authorization: WATCHMAN-TOKEN Token="wt-12345"', "wt-12345"),
    ('{"password": "hunter2!"}', "hunter2!"),
    ('{"db_password":"hunter2!", "name": "x"}', "hunter2!"),
    ("{'api_key': 'k-98765'}", "k-98765"),
    ('{"client_secret": "c-s\\"q"}', "c-s"),
    ('{"Authorization": "Bearer abcdefgh12345"}', "abcdefgh12345"),
    ("export PGPASSWORD=hunter2!", "hunter2!"),
    ("GET /x?token=t-1234&page=2", "t-1234"),
    ("https://maps.example.com/?key=k-55555", "k-55555"),
    ("password: hunter2!", "hunter2!"),
    ("curl -H 'X-Auth-Token: xt-24680' https://x", "xt-24680"),
    ("sent with bearer abcdefgh12345678", "abcdefgh12345678"),
])
def test_the_shapes_of_a_secret_are_masked_whoever_it_belongs_to(text, secret):
    out = redact(text)
    assert secret not in out and MASK in out, out


def test_a_url_password_is_masked_whole_and_the_rest_stays():
    assert redact("postgres://u:pa/ss@h/db") == f"postgres://u:{MASK}@h/db"
    assert redact("redis://u:p@ss@h/0 x") == f"redis://u:{MASK}@h/0 x"
    assert "@ss" not in redact("mysql://u:p@ss@h")
    assert redact("https://example.com:8443/path and user@example.com") == (
        "https://example.com:8443/path and user@example.com")


def test_redaction_is_idempotent(site):
    text = f"{SLACK} postgres://u:pa/ss@h/db password=x Authorization: Bearer abcdefghijk"
    once = redact(text)
    assert redact(once) == once


@pytest.mark.parametrize("unit", [
    "a://b:", "ab://c:d@", "token=", "token:", '"password": "x', "'secret':'", "bearer ",
    'Authorization: "', "key=", "x://u:p@@@@", "api", '{"token": "' + "a" * 100,
    "http://u:" + "p" * 50,
])
def test_a_hostile_10_kb_body_costs_milliseconds(site, unit):
    text = (unit * (10240 // len(unit) + 1))[:10240]
    redact(text)
    started = time.perf_counter()
    redact(text)
    assert time.perf_counter() - started < 0.1


def test_the_known_secrets_are_worked_out_once_per_settings(site, settings):
    first = known_secrets.secrets()
    assert known_secrets.secrets() is first
    settings.HEALTHD = {**settings.HEALTHD, "TOKENS": ["a-new-token-31"]}
    assert "a-new-token-31" in known_secrets.secrets()
    assert "site-token-7777" not in known_secrets.secrets()


# -- the logging rule --------------------------------------------------------------------


def test_a_logged_message_is_one_line_bounded_and_redacted(site, caplog):
    logger = get_logger("healthd.test-one-line")
    forged = "2026-01-01 00:00:00,000 ERROR healthd.deliver: forged"
    body = f"disk full\n{forged}\r\nsee site-token-7777\x1b[31m" + "x" * 20_000
    with caplog.at_level(logging.INFO, logger="healthd"):
        logger.warning("check %s: %s", "backup", body)
    (record,) = [r for r in caplog.records if r.name == "healthd.test-one-line"]
    message = record.getMessage()
    assert "\n" not in message and "\r" not in message and "\x1b" not in message
    assert "disk full\\n2026-01-01 00:00:00,000 ERROR healthd.deliver: forged\\r\\n" in message
    assert "site-token-7777" not in message
    assert len(message) <= LONGEST and message.endswith(" characters in all)")


def test_one_line_escapes_every_control_character():
    assert one_line("a\nb\rc\td\x00e\x7ff\u2028g") == "a\\nb\\rc\\td\\x00e\\x7ff\\u2028g"


def test_one_line_twice_is_one_line_once():
    once = one_line("x\n" * 5000)
    assert one_line(once) == once and len(once) == LONGEST


def test_every_healthd_logger_carries_the_rule():
    import healthd

    loggers = {}
    for found in pkgutil.walk_packages(healthd.__path__, "healthd."):
        if found.name.startswith(("healthd.site", "healthd.migrations", "healthd.__main__")):
            continue
        module = importlib.import_module(found.name)
        loggers.update({f"{found.name}.{attribute}": value
                        for attribute, value in vars(module).items()
                        if isinstance(value, logging.Logger)})
    assert len(loggers) > 20
    for where, logger in loggers.items():
        assert any(isinstance(f, OneLineFilter) for f in logger.filters), where


@pytest.mark.django_db
def test_a_ping_body_is_masked_before_it_is_cut(client, site):
    from healthd import store
    from healthd.passive.views import BODY_LIMIT

    tail = "postgres://u:TopSecretValue9@db.internal/app"
    body = "x" * (BODY_LIMIT - 22) + tail  # the limit falls inside the password
    response = client.post("/healthd/ping/backup/fail", body, content_type="text/plain",
                           HTTP_AUTHORIZATION="Bearer backup-tok-1234")
    assert response.json()["recorded"] == "failing"
    message = store.read_latest().records["backup"].message
    assert "TopSec" not in message and len(message) <= BODY_LIMIT
    assert message.endswith("xpostgres://u:********@")  # masked whole, then cut
