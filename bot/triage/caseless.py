"""Case-insensitive patterns that match ASCII text without ``re.IGNORECASE``.

CPython's ``re`` runs a case-insensitive alternation of many words about three
times slower than the same pattern on lowercased text: with IGNORECASE it
cannot skip ahead on the first character.  Triage runs some forty such
patterns on every post, so each pattern here is compiled twice: plain, for
ASCII text lowercased (most posts: 84% of the dev tweets), and with
IGNORECASE for anything else.  On ASCII text both give the same matches at
the same positions (ASCII has one lowercase for each letter), so nothing
changes but the time; beyond ASCII, Unicode case folding (``ſ``, the Kelvin
sign, ``İ``) is left to ``re`` itself.
"""

from __future__ import annotations

import re


#: Escapes, whose letters are not text to match (``\\S``, ``\\U0001F44D``).
_ESCAPES = re.compile(r"\\(?:U[0-9A-Fa-f]{8}|u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2}|.)")


class Caseless:
    """A pattern compiled with ``re.IGNORECASE``, faster on ASCII text.

    ``search`` and ``findall`` see the lowercased text when it is ASCII (their
    matches are lowercase); ``sub`` always keeps the text's own case.
    """

    __slots__ = ("pattern", "_plain", "_folded")

    def __init__(self, pattern: str):
        if any(c != c.lower() for c in _ESCAPES.sub("", pattern)):
            raise ValueError(f"a Caseless pattern has no capital letters (it meets lowercased text): {pattern!r}")
        self.pattern = pattern
        self._plain = re.compile(pattern)
        self._folded = re.compile(pattern, re.I)

    def _pick(self, text: str) -> tuple[re.Pattern[str], str]:
        return (self._plain, text.lower()) if text.isascii() else (self._folded, text)

    def search(self, text: str) -> re.Match[str] | None:
        rx, subject = self._pick(text)
        return rx.search(subject)

    def findall(self, text: str) -> list:
        rx, subject = self._pick(text)
        return rx.findall(subject)

    def sub(self, repl: str, text: str) -> str:
        return self._folded.sub(repl, text)
