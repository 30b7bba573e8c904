"""Customer text is inert in Slack."""
from __future__ import annotations

from hypothesis import given, strategies as st

from bot.slack.text import compact_number, escape


def test_escape_neutralises_mentions_links_and_broadcasts():
    out = escape("<!channel> <@U123> <#C1> <!subteam^S1> <https://evil|bank> & @here @Everyone")
    assert "<" not in out and ">" not in out
    assert "&amp;" in out and "@\u200bhere" in out and "@\u200bEveryone" in out


@given(st.text())
def test_no_input_survives_as_a_control_sequence(text):
    out = escape(text)
    assert "<" not in out and ">" not in out
    assert "@here" not in out.lower() and "@channel" not in out.lower() and "@everyone" not in out.lower()


def test_compact_numbers():
    assert [compact_number(n) for n in (0, 999, 1000, 48_200, 1_200_000, 3_000_000)] == ["0", "999", "1k", "48.2k", "1.2M", "3M"]
