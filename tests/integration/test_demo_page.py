"""The demo page in a real headless Chromium: a visitor clicks, the bot gets Slack's signed requests.

One demo (emulators, bot, page) and one browser serve the whole module; each test works on
its own customer's card so the order of the tests does not matter.
"""
from __future__ import annotations

import json
import re

import pytest
import requests

from bot.demo_page import DemoPage, running_page

pytestmark = pytest.mark.browser

TIMEOUT = 30_000  # ms; the publisher paces Slack at about one message a second


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with running_page(str(tmp_path_factory.mktemp("demo")), poll_every=0.3) as page:
        yield page


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    from bot.demo_shots import launch

    with sync_playwright() as p:
        chromium = launch(p)
        yield chromium
        chromium.close()


@pytest.fixture
def page(demo, browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(demo.url + "/")
    tab.wait_for_function("document.querySelectorAll('#channel > .msg').length >= 7", timeout=60_000)
    yield tab
    context.close()
    assert not errors, errors


def card(page, text: str):
    return page.locator("#channel .msg", has_text=text).first


def wait_text(locator, text: str) -> None:
    locator.filter(has_text=text).first.wait_for(timeout=TIMEOUT)


def test_approve_sends_the_reply_to_x_and_links_it_on_the_card(page, demo):
    maya = card(page, "never arrived")
    maya.locator("[data-action=case_approve]").click()
    reply = page.locator("#x .tweet.brand", has_text="Hi Maya")
    reply.wait_for(timeout=TIMEOUT)
    assert "Replying to @maya_travels" in reply.inner_text()
    wait_text(page.locator("#channel .msg"), "Replied by")
    maya = card(page, "never arrived")
    assert "@you" in maya.inner_text()
    assert maya.locator("[data-action=case_approve]").count() == 0  # answered: no buttons left
    # the card's "view reply" link leads to the reply on the emulated timeline
    link = maya.get_by_role("link", name="view reply")
    tweet_id = re.search(r"/status/(\d+)", link.get_attribute("href")).group(1)
    assert [t["id"] for t in demo.stack.x.timeline() if t["by_brand"] and "Hi Maya" in t["text"]] == [tweet_id]
    link.click()
    page.locator(f"#x-{tweet_id}.flash").wait_for(timeout=5_000)


def test_edit_opens_a_modal_with_the_live_check_and_sends_the_edited_reply(page, demo):
    devon = card(page, "error 500")
    devon.locator("[data-action=case_edit]").click()
    modal = page.locator(".modal")
    modal.wait_for(timeout=TIMEOUT)
    assert "Edit reply" in modal.inner_text() and "error 500" in modal.inner_text()
    field = modal.locator("textarea")
    field.fill("Calm down, as we already said it works.")
    wait_text(modal, "Tone:")
    field.fill("x" * 300)
    wait_text(modal, "300/280")
    modal.get_by_role("button", name="Send reply").click()  # the bot refuses it in the modal (response_action=errors)
    wait_text(modal.locator(".error"), "Move to DM")
    edited = "Hi Devon, sorry about that! Checkout is fixed now; could you try again? DM us if it still fails."
    field.fill(edited)
    wait_text(modal, "Tone looks calm")
    modal.get_by_role("button", name="Send reply").click()
    modal.wait_for(state="detached", timeout=TIMEOUT)
    page.locator("#x .tweet.brand", has_text=edited).wait_for(timeout=TIMEOUT)
    assert [c["text"] for c in demo.stack.x.created if "Devon" in c["text"]] == [edited]


def test_saved_reply_menu_swaps_the_draft(page):
    card(page, "delivery address").locator("[data-action=case_edit]").click()
    modal = page.locator(".modal")
    modal.wait_for(timeout=TIMEOUT)
    before = modal.locator("textarea").input_value()
    modal.locator("select[data-action=reply_pick_saved]").select_option(index=1)
    page.wait_for_function("(b) => document.querySelector('.modal textarea') && document.querySelector('.modal textarea').value !== b",
                           arg=before, timeout=TIMEOUT)
    modal.get_by_role("button", name="Cancel").click()
    modal.wait_for(state="detached", timeout=TIMEOUT)


def test_move_to_dm_sends_a_private_message_then_the_public_reply(page, demo):
    card(page, "blender").locator("[data-action=case_move_to_dm]").click()
    modal = page.locator(".modal")
    modal.wait_for(timeout=TIMEOUT)
    fields = modal.locator("textarea")
    assert fields.count() == 2
    fields.nth(1).fill("Hi Gus, sorry! Send us your order number and we'll swap the blender.")
    modal.get_by_role("button", name="Send both").click()
    modal.wait_for(state="detached", timeout=TIMEOUT)
    page.locator("#x .dm", has_text="swap the blender").wait_for(timeout=TIMEOUT)
    page.locator("#x .tweet.brand", has_text="direct message").first.wait_for(timeout=TIMEOUT)


def test_claim_and_dismiss_edit_the_card_in_place(page):
    ana = card(page, "blue kettle")
    ana.locator("[data-action=case_claim]").click()
    wait_text(page.locator("#channel .msg"), "is on it")
    assert card(page, "blue kettle").locator("[data-action=case_claim]").count() == 0
    tom = card(page, "coffee grinders")
    tom.locator("select[data-action=case_dismiss]").select_option(label="Already handled")
    wait_text(page.locator("#channel .msg"), "Dismissed (Already handled)")
    assert card(page, "coffee grinders").locator("[data-action=case_approve]").count() == 0


def test_a_new_customer_post_becomes_a_card(page):
    page.locator("#play button[data-kind=question]").click()
    page.locator("#x .tweet", has_text="ship to Ireland").wait_for(timeout=TIMEOUT)
    card(page, "ship to Ireland").locator("[data-action=case_approve]").wait_for(timeout=TIMEOUT)
    page.locator("#network").select_option("facebook")
    page.locator("#play button[data-kind=complaint]").click()
    page.locator("#facebook .fb-comment", has_text="waiting for my refund").wait_for(timeout=TIMEOUT)
    card(page, "waiting for my refund").locator("[data-action=case_approve]").wait_for(timeout=TIMEOUT)


def test_slash_commands_answer_privately_and_the_chart_is_shown(page):
    composer = page.locator("#command")
    composer.fill("/socialdesk help")
    composer.press("Enter")
    help_note = page.locator("#channel .msg.ephemeral", has_text="stats")
    help_note.first.wait_for(timeout=TIMEOUT)
    assert "Only visible to you" in help_note.first.inner_text()
    composer.fill("/socialdesk oncall")
    composer.press("Enter")
    page.locator("#channel .msg.ephemeral", has_text="on call").first.wait_for(timeout=TIMEOUT)
    composer.fill("/socialdesk stats 7d")
    composer.press("Enter")
    chart = page.locator("#channel .files img").first
    chart.wait_for(timeout=60_000)
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 200", arg=chart.element_handle(), timeout=TIMEOUT)
    composer.fill("/weather")
    composer.press("Enter")
    page.locator("#toast", has_text="/socialdesk help").wait_for(timeout=TIMEOUT)


def test_the_home_tab_shows_the_app_home(page):
    page.locator("#tab-home").click()
    page.locator("#home .header", has_text="socialdesk").wait_for(timeout=TIMEOUT)
    assert "Waiting for an answer" in page.locator("#home").inner_text()


def test_customer_text_is_shown_as_text_never_as_markup(page, demo):
    x = demo.stack.x
    nasty = ('@acme my order page just shows <img src=x onerror="window.pwned=1"> and nothing else <!channel> '
             '<https://evil.example|click> &amp; I want a refund')
    x.add_tweet(nasty, x.add_user(username="mallory", name="Mal <b>Lory</b>", followers=10))
    shown = card(page, "onerror")
    shown.wait_for(timeout=TIMEOUT)
    assert 'onerror="window.pwned=1"' in shown.inner_text()
    assert "<!channel>" in shown.inner_text() and "&amp; I want" in shown.inner_text()
    assert shown.locator("img").count() == 0
    assert shown.get_by_role("link", name="click").count() == 0
    assert page.locator("#x .tweet", has_text="onerror").locator("img").count() == 0
    assert page.evaluate("window.pwned") is None


def test_slack_markup_from_the_bot_renders_like_slack(browser):
    """mrkdwn and Block Kit elements the bot may use, rendered by the page's own code in a blank page."""
    from bot.demo_page import STATIC

    script = (STATIC / "demo.js").read_text()
    tab = browser.new_page()
    try:
        tab.set_content('<div id="channel"></div><div id="home"></div><form id="composer"><input id="command"></form>'
                        '<div id="toast"></div><div id="modal-layer"></div><div id="x-posts"></div><div id="fb-posts"></div>'
                        '<span id="x-brand"></span><span id="fb-page"></span><span id="channel-name"></span>'
                        '<div id="play"></div><select id="network"></select><button id="tab-channel"></button><button id="tab-home"></button>')
        tab.add_script_tag(content=script.replace("refresh();\nsetInterval(refresh, 800);", ""))
        text = ("*bold* _italic_ ~gone~ `code` <https://example.com/a?b=1&amp;c=2|a link> <@U0DEMOAGENT> "
                ":tada: &lt;tag&gt;\n&gt; quoted line\nplain")
        html = tab.evaluate("(t) => { STATE = {visitor: 'U0DEMOAGENT', users: {U0DEMOAGENT: {name: 'you'}}};"
                            " const d = document.createElement('div'); d.appendChild(mrkdwn(t)); return d.innerHTML; }", text)
        assert "<b>bold</b>" in html and "<i>italic</i>" in html and "<s>gone</s>" in html and "<code>code</code>" in html
        assert 'href="https://example.com/a?b=1&amp;c=2"' in html and ">a link</a>" in html
        assert '<span class="mention me">@you</span>' in html and "🎉" in html
        assert "&lt;tag&gt;" in html and "<blockquote>quoted line</blockquote>" in html
        kit = [
            {"type": "header", "text": {"type": "plain_text", "text": "Numbers"}},
            {"type": "divider"},
            {"type": "section", "text": {"type": "mrkdwn", "text": "with fields"},
             "fields": [{"type": "mrkdwn", "text": "*Open*\n3"}, {"type": "plain_text", "text": "Closed 2"}]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "ctx"}]},
            {"type": "image", "image_url": "https://example.com/x.png", "alt_text": "a chart"},
            {"type": "actions", "elements": [
                {"type": "button", "action_id": "b", "text": {"type": "plain_text", "text": "Go"}, "style": "primary"},
                {"type": "static_select", "action_id": "s", "placeholder": {"type": "plain_text", "text": "Pick"},
                 "options": [{"text": {"type": "plain_text", "text": "One"}, "value": "1"}]},
                {"type": "overflow", "action_id": "o", "options": [{"text": {"type": "plain_text", "text": "More"}, "value": "m"}]}]},
        ]
        drawn = tab.evaluate("(k) => { const el = blocks(k, {kind: 'message', ts: '1.0'}); document.body.appendChild(el);"
                             " return {header: el.querySelector('.header').textContent, fields: el.querySelectorAll('.fields > div').length,"
                             " hr: el.querySelectorAll('hr').length, img: el.querySelectorAll('img').length,"
                             " placeholder: el.querySelector('.placeholder').textContent, primary: el.querySelector('.btn.primary').textContent,"
                             " options: [...el.querySelectorAll('select option')].map(o => o.textContent), overflow: el.querySelectorAll('.overflow').length}; }", kit)
        assert drawn == {"header": "Numbers", "fields": 2, "hr": 1, "img": 0, "placeholder": "🖼 a chart", "primary": "Go",
                         "options": ["Pick", "One"], "overflow": 1}
    finally:
        tab.close()


# -- the page's server without a browser: bad input gets a clear error -------------------------------


@pytest.mark.parametrize("path, body, error", [
    ("/api/click", {}, "action_id is missing"),
    ("/api/click", {"action_id": "case_approve", "message_ts": "1.0"}, "no longer in the channel"),
    ("/api/submit", {"view_id": "V404"}, "that window is closed"),
    ("/api/command", {"text": "/weather"}, "one command: /socialdesk"),
    ("/api/customer", {"kind": "rant"}, "kind must be one of"),
    ("/api/customer", {"kind": "praise", "network": "myspace"}, "network must be x or facebook"),
])
def test_bad_requests_to_the_page_get_a_clear_error(demo, path, body, error):
    response = requests.post(demo.url + path, json=body, timeout=10)
    assert response.status_code == 400
    assert error in response.json()["error"]


def test_a_body_that_is_not_json_is_refused(demo):
    response = requests.post(demo.url + "/api/click", data=b"{nope", timeout=10)
    assert response.status_code == 400 and "JSON" in response.json()["error"]
    assert requests.post(demo.url + "/api/click", data=json.dumps([1]), timeout=10).status_code == 400


def test_approve_on_a_facebook_card_answers_under_the_comment(page, demo):
    graph = demo.stack.graph
    post = next(p["id"] for p in graph.feed() if p["from"]["is_page"])
    graph.add_comment(post, "My blender arrived with a cracked jug, really disappointed, I want a replacement.", graph.add_user("Lea Brandt"))
    lea = card(page, "cracked jug")
    lea.locator("[data-action=case_approve]").click()
    answer = page.locator("#facebook .fb-comment.page.child")
    answer.first.wait_for(timeout=TIMEOUT)
    assert "Lea" in answer.first.inner_text()
    wait_text(page.locator("#channel .msg"), "Replied by")


def test_a_burst_of_complaints_becomes_one_incident(page):
    page.locator("#play button[data-kind=burst]").click()
    incident = page.locator("#channel .msg", has_text="Incident #").first
    incident.wait_for(timeout=60_000)
    assert "503 everywhere" in incident.inner_text()
    for label in ("Answer all", "Status update", "Resolve"):
        assert incident.get_by_role("button", name=re.compile(label)).count() == 1
