"""Customer names and texts cannot add formatting or lines to a card."""
from __future__ import annotations

import re

from hypothesis import given, strategies as st

from bot.slack.text import escape, one_line

# A formatting character Slack could act on: a backtick anywhere, or * _ ~ not strictly inside a word.
_ACTIVE = re.compile(r"`|(?<![^\W_])[*_~]|[*_~](?![^\W_])")


def test_the_name_from_the_issue_adds_no_bold_and_no_quoted_line():
    out = one_line("Dana\n> *FAKE: approved by manager*")
    assert "\n" not in out and "*" not in out and not out.startswith("&gt;")
    assert "FAKE: approved by manager" in out


def test_italics_strikethrough_and_code_are_neutralised_but_handles_keep_their_underscores():
    assert not _ACTIVE.search(escape("_it_ ~gone~ `code` *bold* ```block```"))
    assert escape("jordan_k") == "jordan_k" and escape("5*2") == "5*2"


@given(st.text())
def test_no_text_keeps_an_active_formatting_character(text):
    assert not _ACTIVE.search(escape(text))


@given(st.text())
def test_a_name_is_always_one_line(text):
    out = one_line(text)
    assert not re.search(r"[\r\n\u2028\u2029\u0085\v\f]", out) and "<" not in out
