"""The lane and review builders: pure, escaped, bounded."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from bot.slack import lane_blocks
from bot.slack.ids import Action, parse_post_ref
from storage import models as m


def post(i: int, text: str = "just landed in Paris", **kw) -> m.Post:
    values = dict(id=i, network="x", external_id=str(i), kind="mention", text=text, url=f"https://x.com/a/status/{i}",
                  author_handle="sam", author_name="Sam P", category="other", created_at=datetime(2026, 11, 30, tzinfo=timezone.utc))
    values.update(kw)
    return m.Post(**values)


def test_the_lane_lists_the_newest_with_make_a_case_and_counts_the_rest():
    posts = [post(i) for i in range(40, 0, -1)]
    text, body = lane_blocks.lane_message(57, posts, 40)
    assert text == "57 more posts to glance at"
    buttons = [b["accessory"] for b in body if "accessory" in b]
    assert len(buttons) == lane_blocks.LANE_LIMIT and len(body) <= 50
    assert all(b["action_id"] == Action.MAKE_CASE.value and b["text"]["text"] == "Make a case" for b in buttons)
    assert [parse_post_ref(b["value"]) for b in buttons][:2] == [40, 39]
    assert "37 older posts" in json.dumps(body) and "/socialdesk review lane" in json.dumps(body)
    clear = body[-1]["elements"][0]
    assert clear["action_id"] == Action.CLEAR_LANE.value and clear["value"] == "40"
    assert lane_blocks.lane_message(1, [post(1)], 1)[0] == "1 more post to glance at"


def test_customer_text_in_the_lane_can_never_ping_or_link():
    evil = post(1, "<!channel> hi <@U0BOSS> <https://evil.example|click> & more", author_name="<!here>")
    _, body = lane_blocks.lane_message(1, [evil], 1)
    line = body[1]["text"]
    assert line["verbatim"] is True
    for raw in ("<!channel>", "<@U0BOSS>", "<https://evil.example|click>", "<!here>"):
        assert raw not in line["text"]
    assert "&amp;" in line["text"]


def test_an_empty_lane_says_so():
    text, body = lane_blocks.lane_message(0, [], 0)
    assert "Nothing to glance at" in text and len(body) == 1


def test_review_lists_counts_and_offers_make_a_case_except_for_our_own_posts():
    counts = {"spam": 3, "own": 1, "search": 0, "lane": 2, "glanced": 0}
    _, body = lane_blocks.review_message("spam", counts, [post(5, "FREE FOLLOWERS", category="spam")], 7)
    assert "spam: *3*" in body[0]["text"]["text"] and "our own posts: *1*" in body[0]["text"]["text"]
    assert body[-1]["accessory"]["action_id"] == Action.MAKE_CASE.value
    _, own = lane_blocks.review_message("own", counts, [post(6, "see you at the launch", category="own")], 7)
    assert "accessory" not in own[-1]
    _, none = lane_blocks.review_message("search", counts, [], 7)
    assert "No quiet search hits in the last 7 days" in json.dumps(none)
