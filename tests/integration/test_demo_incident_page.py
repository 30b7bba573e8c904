"""The demo's incident in a real headless Chromium: its message's controls render and work end to end.

A demo of its own (the incident ends resolved, which the other demo-page tests must not see).
"""
from __future__ import annotations

import re

import pytest

from bot.demo_page import running_page

pytestmark = pytest.mark.browser

TIMEOUT = 30_000


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with running_page(str(tmp_path_factory.mktemp("demo")), poll_every=0.3) as page:
        yield page


@pytest.fixture
def page(demo):
    from playwright.sync_api import sync_playwright

    from bot.demo_shots import launch

    with sync_playwright() as p:
        browser = launch(p)
        tab = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.goto(demo.url + "/")
        tab.wait_for_function("document.querySelectorAll('#channel > .msg').length >= 7", timeout=60_000)
        yield tab
        browser.close()
    assert not errors, errors


def test_the_incident_message_resolves_through_its_modal_with_a_preview_and_the_final_word_goes_out(page, demo):
    page.locator("#play button[data-kind=burst]").click()
    incident = page.locator("#channel .msg", has_text="Incident #").first
    incident.wait_for(timeout=60_000)
    for label in ("Answer all", "Status update", "Resolve", "Split"):
        assert incident.get_by_role("button", name=re.compile(label)).count() == 1

    incident.get_by_role("button", name=re.compile("Split")).click()
    modal = page.locator(".modal")
    modal.wait_for(timeout=TIMEOUT)
    assert "Posts that mention" in modal.inner_text()
    modal.get_by_role("button", name="Split").click()  # nothing chosen: the bot says so in the modal
    modal.locator(".error", has_text="Say which posts").wait_for(timeout=TIMEOUT)
    modal.get_by_role("button", name="Cancel").click()
    modal.wait_for(state="detached", timeout=TIMEOUT)

    incident.get_by_role("button", name=re.compile("Resolve")).click()
    modal = page.locator(".modal")
    modal.wait_for(timeout=TIMEOUT)
    assert "not answered yet" in modal.inner_text()
    final = "Checkout works again. Sorry for the trouble, and thanks for bearing with us."
    modal.locator("textarea").fill(final)
    modal.locator(".block", has_text="$0.015").first.wait_for(timeout=TIMEOUT)  # the live preview: one post on X at X's price
    modal.locator("input[type=checkbox]").check()
    modal.get_by_role("button", name="Resolve").click()
    modal.wait_for(state="detached", timeout=TIMEOUT)
    page.locator("#channel .msg", has_text="resolved").first.wait_for(timeout=TIMEOUT)
    page.locator("#x .tweet.brand", has_text="Checkout works again").first.wait_for(timeout=TIMEOUT)
    answered = [t for t in demo.stack.x.timeline() if t["by_brand"] and final in t["text"]]
    assert len(answered) >= 2  # the public update and the replies to the incident's posts on X
    assert len([t for t in answered if t["text"] == final]) == 1
