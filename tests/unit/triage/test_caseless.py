"""The rules' fast case-insensitive patterns match exactly what ``re.IGNORECASE`` matches."""

from __future__ import annotations

import json
import re
import string

import pytest
from hypothesis import given, settings, strategies as st

from bot.triage import model, rules
from bot.triage.caseless import Caseless
from bot.triage.training import train as train_mod
from tests.helpers import ROOT


def _patterns() -> list[Caseless]:
    found = [p for p in vars(rules).values() if isinstance(p, Caseless)]
    for table in (rules.TOPIC_PATTERNS, rules.URGENT_TERMS, rules.HIGH_TERMS):
        found += [p for _, p in table]
    return found + list(model._LEXICON_RX)


PATTERNS = _patterns()


def _same(p: Caseless, text: str) -> None:
    folded = re.compile(p.pattern, re.I)
    assert bool(p.search(text)) == bool(folded.search(text)), (p.pattern[:60], text)
    assert len(p.findall(text)) == len(folded.findall(text)), (p.pattern[:60], text)
    assert p.sub(" ", text) == folded.sub(" ", text)


def test_every_rule_pattern_is_caseless():
    assert len(PATTERNS) > 40


def test_real_posts_match_as_with_ignorecase():
    texts = [r["text"] for r in train_mod.load_rows()]
    with open(ROOT / "tests" / "data" / "incident_set.jsonl", encoding="utf-8") as f:
        texts += [json.loads(line)["text"] for line in f if line.strip()]
    texts += [t.upper() for t in texts[:300]] + [t.title() for t in texts[:300]]
    assert sum(t.isascii() for t in texts) > len(texts) // 2  # both paths are exercised
    for text in texts:
        for p in PATTERNS:
            _same(p, text)


#: Cue words from the patterns, in any case, with the characters whose case folding is special, and the
#: ASCII separators that only Unicode's ``\s`` matches.
_WORDS = ["refund", "STILL waiting", "Never Arrived", "sue", "Lawyer", "outage", "thank YOU", "cool cool cool", "#Fail",
          "why", "wtf", "ſue", "\u212aettle", "İnjured", "oh great", "charged twice", "??", "£5", "D:", "😡", "\x1c", "\x1f"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_WORDS), st.text(string.printable, max_size=8),
                          st.text(st.characters(max_codepoint=0x2FF), max_size=4)), max_size=12),
       st.sampled_from([" ", "", ", ", "!"]))
def test_any_text_matches_as_with_ignorecase(parts, sep):
    text = sep.join(parts)
    for p in PATTERNS:
        _same(p, text)


def test_an_ascii_separator_is_space_as_unicode_says():
    # "\x1c" is ASCII, and whitespace to Unicode's \s but not to ASCII's: "@acme\x1cwhy" still starts with a question word.
    text = "@acme\x1cwhy is my order late"
    assert rules._QUESTION_START.search(text)
    assert rules._QUESTION_START.search(text.replace("\x1c", " "))  # and the text before it, asked first, is not reused
    _same(rules._QUESTION_START, text)


def test_a_capital_letter_in_a_pattern_is_refused():
    with pytest.raises(ValueError, match="capital"):
        Caseless(r"\bRefund\b")
    Caseless(r"\bcan'?t\S*\b|[$£€]\d|\U0001F44D")  # escapes and uncased symbols are fine


def test_sub_keeps_the_case_of_the_text():
    assert Caseless(r"\bif\b[^?]*").sub(" ", "Arrived D: If it breaks?") == "Arrived D:  ?"
