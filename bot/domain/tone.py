"""A tone check for replies: everyone is watching, so no blame, no condescension, no shouting.

It points things out; it never blocks a deliberate send.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_PHRASES = [
    (r"\byou should have\b", "“you should have” puts the blame on the customer"),
    (r"\byou (?:need|have) to\b", "“you need to” reads as an order; try “could you…”"),
    (r"\bas (?:we|i) (?:already|previously) (?:said|stated|explained|mentioned)\b", "“as we already said” sounds impatient"),
    (r"\bcalm down\b", "“calm down” tends to inflame"),
    (r"\bnot our (?:fault|problem)\b", "“not our fault” sounds defensive"),
    (r"\bunfortunately,? (?:that's|that is) (?:just )?(?:our|the) policy\b", "hiding behind policy sounds cold; explain what you can do"),
    (r"\bobviously\b", "“obviously” can sound condescending"),
    (r"\bclearly\b", "“clearly” can sound condescending"),
    (r"\bread (?:the|our) (?:faq|manual|terms)\b", "pointing at the FAQ without help sounds dismissive"),
    (r"\bno need to be rude\b", "reacting to the tone escalates it"),
    (r"\bwhatever\b", "“whatever” sounds dismissive"),
]
_COMPILED = [(re.compile(pattern, re.IGNORECASE), why) for pattern, why in _PHRASES]
_SHOUTING = re.compile(r"\b[A-Z]{4,}\b")


@dataclass(frozen=True)
class ToneFinding:
    phrase: str
    why: str


def check_tone(text: str) -> list[ToneFinding]:
    findings = [ToneFinding(match.group(0), why) for pattern, why in _COMPILED if (match := pattern.search(text))]
    shouted = [w for w in _SHOUTING.findall(text) if w not in {"HTTP", "HTTPS", "FAQ", "ASAP", "SMS", "HTML"}]
    letters = [c for c in text if c.isalpha()]
    if len(shouted) >= 2 or (len(letters) >= 12 and sum(c.isupper() for c in letters) / len(letters) > 0.6):
        findings.append(ToneFinding(" ".join(shouted[:3]) or text[:20], "capitals read as shouting"))
    if text.count("!") >= 3:
        findings.append(ToneFinding("!!!", "a row of exclamation marks reads as agitated"))
    return findings
