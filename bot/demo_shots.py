"""Drive the demo page in the system's headless Chromium: the README's screenshots, and the browser tests' helpers.

Playwright (the `test` extra) drives Debian's `chromium`; nothing is downloaded.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
VIEWPORT = {"width": 1440, "height": 900}


def chromium_path() -> str | None:
    return os.environ.get("SOCIALDESK_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def launch(playwright):
    path = chromium_path()
    if path is None:
        raise RuntimeError("no Chromium found: install it (apt-get install chromium) or set SOCIALDESK_CHROMIUM")
    return playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)


def card(page, text: str):
    """The channel message whose text contains `text` (a customer's words)."""
    return page.locator("#channel .msg", has_text=text).first


def take_screenshots(out_dir: str, *, out=sys.stdout) -> int:
    """A card, the Edit modal with its live check, the channel after a reply, an incident and its Resolve modal, and
    X polling paused by the budget: PNGs in `out_dir`."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("socialdesk demo --screenshots needs Playwright: pip install -e '.[test]'", file=sys.stderr)
        return 2
    from bot.demo_page import running_page

    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="socialdesk-shots-") as workdir, running_page(workdir) as demo, sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(demo.url + "/")
            # all seven sample cards are in (the publisher paces Slack at about one message a second)
            page.wait_for_function("document.querySelectorAll('#channel [data-action=case_edit]').length >= 7", timeout=60_000)
            maya = card(page, "never arrived")
            maya.scroll_into_view_if_needed()
            maya.screenshot(path=str(target / "card.png"))

            devon = card(page, "error 500")
            devon.scroll_into_view_if_needed()
            devon.locator("[data-action=case_edit]").click()
            modal = page.locator(".modal")
            modal.wait_for()
            field = modal.locator("textarea")
            field.fill("Hi Devon, sorry about that! Checkout had a hiccup this morning and it's fixed now. "
                       "As we already said, please try again and DM us if it fails.")
            page.wait_for_function("document.querySelector('.modal') && document.querySelector('.modal').innerText.includes('Tone:')",
                                   timeout=15_000)
            page.screenshot(path=str(target / "edit-modal.png"))
            field.fill("Hi Devon, sorry about that! Checkout had a hiccup this morning and it's fixed now. "
                       "Could you try again? If it still fails, DM us and we'll sort it out.")
            page.wait_for_function("document.querySelector('.modal') && document.querySelector('.modal').innerText.includes('Tone looks calm')",
                                   timeout=15_000)
            modal.get_by_role("button", name="Send reply").click()
            modal.wait_for(state="detached")

            page.wait_for_function("document.querySelectorAll('#x .tweet.brand').length >= 1", timeout=30_000)
            card(page, "never arrived").locator("[data-action=case_approve]").click()
            page.wait_for_function("document.querySelectorAll('#x .tweet.brand').length >= 2", timeout=30_000)
            page.wait_for_function("[...document.querySelectorAll('#channel .msg')].filter(m => m.innerText.includes('Replied by')).length >= 2",
                                   timeout=30_000)
            card(page, "never arrived").scroll_into_view_if_needed()
            page.screenshot(path=str(target / "channel-after-reply.png"))

            # a burst of complaints about one outage: one incident message, then its Resolve modal with the live preview
            page.locator("#play button[data-kind=burst]").click()
            incident = page.locator("#channel .msg", has_text="Incident #").first
            incident.wait_for(timeout=60_000)
            page.wait_for_function("[...document.querySelectorAll('#channel .msg')].some(m => { "
                                   "const r = /(\\d+) posts from/.exec(m.innerText); return r && +r[1] >= 6; })", timeout=60_000)
            incident.scroll_into_view_if_needed()
            incident.screenshot(path=str(target / "incident.png"))
            incident.get_by_role("button", name="Resolve…").click()
            modal = page.locator(".modal")
            modal.wait_for()
            modal.locator("textarea").fill("Checkout works again. Sorry for the trouble, and thanks for bearing with us.")
            modal.locator(".block", has_text="$0.015").first.wait_for(timeout=15_000)
            modal.locator("input[type=checkbox]").check()
            page.screenshot(path=str(target / "incident-resolve.png"))
            budget_paused(browser, target / "x-budget-paused.png")
        finally:
            browser.close()
    for name in ("card.png", "edit-modal.png", "channel-after-reply.png", "incident.png", "incident-resolve.png", "x-budget-paused.png"):
        print(f"wrote {target / name}", file=out)
    return 0


def budget_paused(browser, path: Path) -> None:
    """The channel when X polling waits for the month's budget: all of it spent, so on any day of the month."""
    from bot.config import FileConfig, XConfig
    from bot.demo_page import DemoPage
    from bot.domain import spend
    from bot.emulators.stack import LocalStack

    with tempfile.TemporaryDirectory(prefix="socialdesk-shots-") as workdir, \
            LocalStack(f"sqlite:///{Path(workdir) / 'socialdesk.db'}", config=FileConfig(x=XConfig(monthly_budget=30))) as stack:
        with stack.rt.db.session() as session:
            spend.record(session, "x", "post_read", 6000, 30.0)
        demo = DemoPage(stack).start()  # its first poll meets the budget
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 520})
            page.goto(demo.url + "/")
            page.locator("#channel .msg", has_text="polling is paused").first.wait_for(timeout=30_000)
            page.screenshot(path=str(path))
        finally:
            demo.stop()
