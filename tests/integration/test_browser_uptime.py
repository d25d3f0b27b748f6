"""The uptime page in a real browser (headless Chromium, as test_browser.py drives it).

With no history and with 90 days of it: the page renders, a failing day is red, a bar
shows its day's figures on focus and on hover, nothing is loaded from elsewhere, the
console stays clean, and an accessibility smoke check passes (every bar has a text
alternative that the browser's accessibility tree exposes). Screenshots go to the run's
``artifacts`` directory (pytest's base temporary directory, or
``$HEALTHD_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import timezone

from healthd.checks.base import Status
from healthd.uptime import kept
from healthd.uptime import page as status_page
from tests.integration import test_browser  # skips this module too when Chromium is missing
from tests.integration.test_browser import PAGE_COLOURS, Browser, _only_own_requests, expect
from tests.support.results import write_all, write_result
from tests.uptime.test_uptime import fill, transition

browser = test_browser.browser  # the same Playwright fixture as the admin's test

pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = [{"check": "database", "aliases": ["default"]}, "cache", "storage"]
BAR_COLOURS = {"up": "rgb(24, 128, 56)", "down": "rgb(217, 48, 37)",
               "degraded": "rgb(227, 116, 0)", "none": "rgb(218, 220, 224)"}

# What every page must offer assistive technology; returns the problems found.
A11Y_SMOKE = """() => {
  const problems = [];
  if (!document.documentElement.lang) problems.push("html has no lang");
  if (!document.title.trim()) problems.push("no title");
  if (document.querySelectorAll("h1").length !== 1) problems.push("not exactly one h1");
  for (const img of document.querySelectorAll("img")) {
    if (!img.hasAttribute("alt")) problems.push("img without alt");
  }
  for (const svg of document.querySelectorAll("svg")) {
    if (!svg.getAttribute("role") || !(svg.getAttribute("aria-label") || "").trim())
      problems.push("svg without a role and a label");
  }
  const bars = document.querySelectorAll("svg.bars g.day");
  if (!bars.length) problems.push("no bars");
  for (const bar of bars) {
    const title = bar.querySelector(":scope > title");
    if (!title || !title.textContent.trim()) problems.push("bar without a <title>");
    if (bar.getAttribute("role") !== "img") problems.push("bar without role=img");
    if (bar.getAttribute("tabindex") !== "0") problems.push("bar not focusable");
  }
  for (const section of document.querySelectorAll("section")) {
    const id = section.getAttribute("aria-labelledby");
    if (!id || !document.getElementById(id)) problems.push("section without a heading");
  }
  for (const el of document.querySelectorAll("a, .badge, li")) {
    if (!el.textContent.trim()) problems.push(el.tagName + " without text");
  }
  return problems;
}"""


@pytest.fixture
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this run keeps what a person may want to look at afterwards."""
    target = Path(os.environ.get("HEALTHD_TEST_ARTIFACTS")
                  or tmp_path_factory.getbasetemp() / "artifacts")
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.fixture(autouse=True)
def uptime_page(settings) -> Iterator[None]:
    settings.HEALTHD = {**settings.HEALTHD, "CHECKS": CHECKS, "PUBLIC_STATUS_PAGE": True}
    kept.forget()
    status_page.forget()
    yield
    kept.forget()
    status_page.forget()


def _fill_ninety_days(failing_day: dt.date) -> None:
    now = timezone.now()
    spell = dt.datetime.combine(failing_day, dt.time(3, 12), tzinfo=dt.UTC)
    fill("database", now - dt.timedelta(days=92), now,
         failures={spell.replace(minute=0): 14})
    fill("cache", now - dt.timedelta(days=92), now, warnings=3)
    # storage began 20 days ago: the days before it have no data.
    fill("storage", now - dt.timedelta(days=20), now)
    transition("database", "passing", "failing", spell)
    transition("database", "failing", "passing", spell + dt.timedelta(minutes=7))
    write_all(Status.PASSING)
    write_result("cache", Status.WARNING, message="slow: 812 ms")


def _check_page(browser: Browser, artifacts: Path, name: str) -> None:
    page = browser.page
    problems = page.evaluate(A11Y_SMOKE)
    assert problems == [], problems
    _only_own_requests(browser, browser.requests)
    assert not browser.bad_responses, browser.bad_responses
    assert not browser.console_errors, browser.console_errors
    target = artifacts / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 1000


def test_the_uptime_page_without_any_history(browser, artifacts):
    page = browser.page
    browser.requests.clear()
    response = page.goto(browser.base + "/status/uptime/")
    # No result in the store yet: the page renders, and says the state is not known.
    assert response is not None and response.status == 200
    expect(page.locator("h1")).to_have_text("Uptime")
    sections = page.locator("section.service")
    expect(sections).to_have_count(3)
    expect(page.locator("svg.bars g.day")).to_have_count(3 * 90)
    expect(page.locator("svg.bars g.day.none")).to_have_count(3 * 90)
    first_bar = page.locator("svg.bars g.day rect").first
    assert first_bar.evaluate("r => getComputedStyle(r).fill") == BAR_COLOURS["none"]
    windows = page.locator(".windows li").all_inner_texts()
    assert len(windows) == 3 * 4
    assert all(re.fullmatch(r"(24h|7d|30d|90d)\s*-", text) for text in windows), windows
    expect(page.locator(".service .badge").first).to_have_text("unknown")
    expect(page.get_by_text("No check was failing or warning")).to_be_visible()
    _check_page(browser, artifacts, "uptime-empty")


def test_the_uptime_page_with_ninety_days(browser, artifacts):
    today = timezone.now().date()
    failing_day = today - dt.timedelta(days=4)
    _fill_ninety_days(failing_day)
    page = browser.page
    browser.requests.clear()
    browser.goto("/status/uptime/")
    expect(page).to_have_title("Uptime: warning")
    expect(page.locator("section.service")).to_have_count(3)

    database = page.locator('section[data-row="database"]')
    expect(database.locator("g.day")).to_have_count(90)
    red = database.locator(f'g.day[data-date="{failing_day.isoformat()}"]')
    expect(red).to_have_class(re.compile(r"\bdown\b"))
    assert red.locator("rect").evaluate("r => getComputedStyle(r).fill") == BAR_COLOURS["down"]
    green = database.locator(f'g.day[data-date="{(failing_day - dt.timedelta(days=1))}"]')
    assert green.locator("rect").evaluate("r => getComputedStyle(r).fill") == BAR_COLOURS["up"]
    expect(database.locator("g.day.down")).to_have_count(1)
    expect(database.locator("g.day.up")).to_have_count(89)

    # The bar's text alternative is its <title>: the accessibility tree names it so.
    label = f"{failing_day:%a %d %b %Y}: "
    named = page.get_by_role("img", name=re.compile(re.escape(label)))
    expect(named).to_have_count(3)
    title = red.locator("title").text_content()
    assert "14 failed" in title and "worst state failing" in title

    # Focus shows the day's figures above the bars; so does hovering.
    tip = red.locator("text.tip")
    expect(tip).to_be_hidden()
    red.focus()
    expect(tip).to_be_visible()
    expect(tip).to_contain_text(f"{failing_day:%d %b}: 99.")
    browser.shot("uptime-focused-bar")
    page.locator("h1").click()
    expect(tip).to_be_hidden()
    other = database.locator("g.day").nth(50)
    other.hover()
    expect(other.locator("text.tip")).to_be_visible()

    # storage began 20 days ago: grey before, green since.
    storage = page.locator('section[data-row="storage"]')
    expect(storage.locator("g.day.none")).to_have_count(69)
    # cache's runs warned all along and the database holds no state of it: its days are
    # coloured from its runs, amber.
    cache = page.locator('section[data-row="cache"]')
    expect(cache.locator("g.day.degraded")).to_have_count(90)
    assert cache.locator("g.day rect").first.evaluate(
        "r => getComputedStyle(r).fill") == BAR_COLOURS["degraded"]
    expect(cache.locator(".badge")).to_have_text("warning")
    assert cache.locator(".badge").evaluate(
        "b => getComputedStyle(b).backgroundColor") == "rgb(227, 116, 0)"

    incidents = page.locator("ul.incidents li")
    expect(incidents).to_have_count(1)
    expect(incidents.first).to_contain_text("database failing")
    expect(incidents.first).to_contain_text("03:12\u201303:19, 7 min")
    assert incidents.first.locator(".badge").evaluate(
        "b => getComputedStyle(b).backgroundColor") == PAGE_COLOURS["failing"]
    expect(page.get_by_text("slow: 812 ms")).to_have_count(0)
    _check_page(browser, artifacts, "uptime-ninety-days")

    # The badges: SVG answers, and images that draw in a page.
    for path, spoken in (("/status/badge.svg", "status: warning"),
                         ("/status/badge/database.svg?period=90d", "database uptime 90d: ")):
        response = page.goto(browser.base + path)
        assert response is not None and response.ok
        assert response.headers["content-type"] == "image/svg+xml; charset=utf-8"
        assert page.locator("svg").get_attribute("aria-label").startswith(spoken)
    browser.goto("/admin/login/")  # a page of the site without a policy of its own
    page.set_content(
        f'<main><img alt="status" src="{browser.base}/status/badge.svg"> '
        f'<img alt="database, 7 days" src="{browser.base}/status/badge/database.svg?period=7d">'
        "</main>")
    images = page.locator("img")
    expect(images).to_have_count(2)
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    widths = images.evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
    assert all(width > 40 for width in widths), widths
    page.locator("main").screenshot(path=str(artifacts / "badges.png"))
    # (The console has the admin page's missing favicon; every other answer was fine.)
    assert not browser.bad_responses, browser.bad_responses
