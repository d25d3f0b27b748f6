"""The pages in a real browser: headless Chromium driven by Playwright.

Chromium is found as Playwright users point to it: ``PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH``,
else ``chromium`` or ``chromium-browser`` on ``PATH`` (Debian's, Ubuntu's), else the
browser ``playwright install chromium`` downloaded. The tests are skipped only when none
is there, saying which was looked for.

Real results are written first (healthd.tasks.run.run_and_record, no worker needed:
the email check fails for real against a closed SMTP port), then a browser logs into
the admin, reads the current-state page, filters the history by check and status, and
opens /status/ and /watchman/dashboard/: their colours render and they load nothing
from anywhere but the site itself. Screenshots go to the test's tmp_path.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

CHROMIUM_ENV = "PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH"
CHROMIUM_NAMES = ("chromium", "chromium-browser")
NO_CHROMIUM = (f"no Chromium: {CHROMIUM_ENV} is not set, neither {' nor '.join(CHROMIUM_NAMES)} "
               "is on PATH, and Playwright has not downloaded one (playwright install chromium)")


def _chromium_on_this_machine() -> str | None:
    """The Chromium named by the environment or found on PATH; None: Playwright's own."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        if not os.access(configured, os.X_OK):
            pytest.skip(f"{CHROMIUM_ENV}={configured} is not an executable file",
                        allow_module_level=True)
        return configured
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = _chromium_on_this_machine()
try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError as exc:  # pragma: no cover - the dev extra installs it
    pytest.skip(f"playwright cannot be imported: {exc}", allow_module_level=True)

from healthd.models import CheckResult  # noqa: E402
from healthd.tasks.run import run_and_record  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)

CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
CHECKS = [{"check": "database", "aliases": ["default"]}, "cache", "storage", "email"]
NAMES = ["database", "cache", "storage", "email"]
EXPECTED = {"database": "passing", "cache": "passing", "storage": "passing",
            "email": "failing"}
PASSWORD = "browser-pw-0123"

# The colours the templates give each status (computed style, as the browser paints it).
ADMIN_COLOURS = {"passing": "rgb(46, 125, 50)", "failing": "rgb(198, 40, 40)"}
PAGE_COLOURS = {"passing": "rgb(24, 128, 56)", "ok": "rgb(24, 128, 56)",
                "failing": "rgb(217, 48, 37)", "error": "rgb(217, 48, 37)"}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Recorded:
    superuser: Any
    email_failures: set[str] = field(default_factory=set)


@pytest.fixture
def recorded(settings, django_user_model) -> Recorded:
    """Two real runs (every check passing, then email failing) and some older failures."""
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": CHECKS}
    first = run_and_record()
    assert first.stored and first.saved
    assert {r.name: str(r.status) for r in first.results} == dict.fromkeys(NAMES, "passing")

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = (
        "127.0.0.1", _closed_port(), 3)
    second = run_and_record(["email"])
    assert second.stored and second.saved
    assert [str(r.status) for r in second.results] == ["failing"]

    # Older failures of email, and of cache so that the status filter alone is not enough.
    now = timezone.now()
    CheckResult.objects.bulk_create(
        [CheckResult(name="email", status="failing", message=f"smtp refused #{i}",
                     duration=0.05, checked_at=now - timedelta(hours=i), host="h")
         for i in range(1, 4)]
        + [CheckResult(name="cache", status="failing", message=f"cache down #{i}",
                       duration=0.2, checked_at=now - timedelta(hours=i), host="h")
           for i in range(1, 3)]
    )
    user = django_user_model.objects.create_superuser("operator", "op@example.com", PASSWORD)
    failures = set(CheckResult.objects.filter(name="email", status="failing")
                   .values_list("message", flat=True))
    assert len(failures) == 4
    return Recorded(user, failures)


@dataclass
class Browser:
    page: Page
    base: str
    shots: Path
    requests: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def goto(self, path: str) -> None:
        response = self.page.goto(self.base + path)
        assert response is not None and response.ok, f"{path}: {response and response.status}"

    def shot(self, name: str) -> Path:
        target = self.shots / f"{name}.png"
        self.page.screenshot(path=str(target), full_page=True)
        return target

    def login(self, username: str) -> None:
        self.goto("/admin/login/?next=/admin/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", PASSWORD)
        self.page.click("input[type=submit]")
        expect(self.page).to_have_url(self.base + "/admin/")
        expect(self.page.locator("#user-tools strong")).to_have_text(username)


@pytest.fixture
def browser(live_server, monkeypatch, tmp_path) -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in this thread; Django would refuse the
    # test's own ORM calls as "async" without this (the documented workaround).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as playwright:
        if CHROMIUM is None and not os.path.exists(playwright.chromium.executable_path):
            pytest.skip(NO_CHROMIUM)
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = chromium.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            page.set_default_timeout(15_000)
            state = Browser(page, live_server.url, shots)
            page.on("request", lambda request: state.requests.append(request.url))
            page.on("response", lambda response: (
                state.bad_responses.append(f"{response.status} {response.url}")
                if response.status >= 400 and not response.url.endswith("/favicon.ico")
                else None))
            page.on("console", lambda message: (
                state.console_errors.append(message.text) if message.type == "error" else None))
            yield state
        finally:
            # The test's ORM calls made while Playwright's loop ran used connections of
            # that context (asgiref's Local), which pytest-django never sees: close them
            # here, or they hold the test database open past its teardown.
            connections.close_all()
            chromium.close()


def _computed_background(locator) -> str:
    return locator.evaluate("element => getComputedStyle(element).backgroundColor")


def _only_own_requests(browser: Browser, requests: list[str]) -> None:
    assert requests, "the page made no request at all?"
    foreign = [url for url in requests if not url.startswith(browser.base + "/")]
    assert not foreign, f"requests to elsewhere than {browser.base}: {foreign}"


def test_admin_current_state_and_filtered_history(recorded, browser):
    page = browser.page
    browser.login(recorded.superuser.username)

    # The current-state page: every check, its status, in its colour.
    browser.goto("/admin/healthd/checkstatus/current/")
    expect(page.locator("h1")).to_have_text("Current state of the checks")
    rows = page.locator("tr.healthd-check")
    expect(rows).to_have_count(len(NAMES))
    # The strip's heading is its capacity, not the length of the first check's strip.
    expect(page.locator("#result_list thead")).to_contain_text("Last 50 results")
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.check)") == NAMES
    for name, status in EXPECTED.items():
        row = page.locator(f'tr.healthd-check[data-check="{name}"]')
        # The check's name links to its history (the row's other link silences it).
        expect(row.locator(f'th a[href$="?name={name}"]')).to_have_text(name)
        badge = row.locator(".healthd-status")
        expect(badge).to_be_visible()
        expect(badge).to_have_text(status)
        assert _computed_background(badge) == ADMIN_COLOURS[status], name
        expect(row.locator("svg.healthd-strip")).to_be_visible()
    email_message = page.locator('tr.healthd-check[data-check="email"] td').last
    expect(email_message).not_to_have_text("")
    expect(page.locator('input[type=submit][value="Run checks now"]')).to_be_visible()
    browser.shot("current-state")

    # The history: filter by check, then by status, by clicking the filter links.
    browser.goto("/admin/healthd/checkresult/")
    total = CheckResult.objects.count()
    expect(page.locator("#result_list tbody tr")).to_have_count(total)
    filters = page.locator("#changelist-filter")
    filters.locator('details[data-filter-title="check"]').get_by_role(
        "link", name="email", exact=True).click()
    expect(page).to_have_url(browser.base + "/admin/healthd/checkresult/?name=email")
    email_rows = CheckResult.objects.filter(name="email").count()
    assert email_rows == len(recorded.email_failures) + 1  # and the first run's pass
    expect(page.locator("#result_list tbody tr")).to_have_count(email_rows)

    filters.locator('details[data-filter-title="status"]').get_by_role(
        "link", name="failing", exact=True).click()
    expect(page).to_have_url(re.compile(r"/checkresult/\?.*status__exact=failing"))
    assert "name=email" in page.url
    shown = page.locator("#result_list tbody tr")
    expect(shown).to_have_count(len(recorded.email_failures))
    assert set(shown.locator("td.field-name").all_inner_texts()) == {"email"}
    assert set(shown.locator("td.field-status").all_inner_texts()) == {"failing"}
    assert set(shown.locator("td.field-short_message").all_inner_texts()) == (
        recorded.email_failures)
    expect(page.locator("p.paginator")).to_contain_text(
        f"{len(recorded.email_failures)} check results")
    for title, choice in (("check", "email"), ("status", "failing")):
        expect(filters.locator(f'details[data-filter-title="{title}"] li.selected')
               ).to_have_text(choice)
    browser.shot("history-email-failing")

    _only_own_requests(browser, browser.requests)
    assert not browser.bad_responses, browser.bad_responses


def test_status_and_watchman_pages_render_and_load_nothing_from_elsewhere(recorded, browser,
                                                                         settings):
    page = browser.page
    settings.WATCHMAN_ENABLE_PAID_CHECKS = True  # email, the failing check, is watchman's

    # /status/: the overall banner and one badge per check, coloured.
    browser.goto("/status/")
    expect(page).to_have_title("Status: failing")
    banner = page.locator(".banner")
    expect(banner).to_have_text("Overall: failing")
    assert _computed_background(banner) == PAGE_COLOURS["failing"]
    for name, status in EXPECTED.items():
        row = page.locator("table tbody tr").filter(
            has=page.locator("td:first-child", has_text=name))
        badge = row.locator(".badge")
        expect(badge).to_have_text(status)
        assert _computed_background(badge) == PAGE_COLOURS[status], name
    expect(page.get_by_text("passing", exact=True)).to_have_count(3)
    status_requests = list(browser.requests)
    browser.shot("status")

    # /watchman/dashboard/: watchman's keys, ok/error per part, overall error.
    browser.requests.clear()
    browser.goto("/watchman/dashboard/")
    expect(page).to_have_title("Watchman: error")
    overall = page.locator(".banner").first
    expect(overall).to_have_text("Overall: error")
    assert _computed_background(overall) == PAGE_COLOURS["error"]
    body = page.locator("table tbody")
    for key in ("databases", "caches", "storage", "email"):
        expect(body.locator("td", has_text=key).first).to_be_visible()
    email_badge = body.locator("tr", has=page.locator("td", has_text="email")).locator(
        ".badge").first
    expect(email_badge).to_have_text("failing")
    assert _computed_background(email_badge) == PAGE_COLOURS["failing"]
    ok_badges = body.locator(".badge.ok")
    assert ok_badges.count() >= 3
    assert _computed_background(ok_badges.first) == PAGE_COLOURS["ok"]
    expect(body.locator(".badge.error")).to_have_count(1)
    watchman_requests = list(browser.requests)
    browser.shot("watchman-dashboard")

    _only_own_requests(browser, status_requests)
    _only_own_requests(browser, watchman_requests)
    assert not browser.bad_responses, browser.bad_responses
    # A Content-Security-Policy violation (a blocked style or script) shows up here.
    assert not browser.console_errors, browser.console_errors
