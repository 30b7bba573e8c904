r"""Case-insensitive patterns that match ASCII text without ``re.IGNORECASE``.

CPython's ``re`` runs a case-insensitive alternation of many words about three
times slower than the same pattern on lowercased text: with IGNORECASE it
cannot skip ahead on the first character.  Triage runs some fifty such
patterns on every post, so each pattern here is compiled twice: with
``re.ASCII``, for ASCII text lowercased (most posts: 84% of the dev tweets),
and with IGNORECASE for anything else.  On ASCII text both give the same
matches at the same positions: ASCII has one lowercase for each letter, and
ASCII-only ``\w``, ``\b`` and ``\d`` are Unicode's on ASCII text (another
quarter off the time).  ``\s`` is too, but for the separators U+001C-U+001F,
so text holding one takes the Unicode path.  Beyond ASCII, Unicode case
folding (``ſ``, the Kelvin sign, ``İ``) is left to ``re`` itself.

The patterns of one post are asked about the same text one after another, so
the lowercased text of the last post is kept: lowercasing it once instead of
once a pattern.
"""

from __future__ import annotations

import re


#: Escapes, whose letters are not text to match (``\\S``, ``\\U0001F44D``).
_ESCAPES = re.compile(r"\\(?:U[0-9A-Fa-f]{8}|u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2}|.)")
#: ASCII that Unicode's ``\s`` matches and ASCII's does not.
_SEPARATORS = re.compile(r"[\x1c-\x1f]")
#: (text, whether it takes the ASCII path, the text those patterns see), for the last text asked about.
_last: tuple[str, bool, str] = ("", True, "")


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
        self._plain = re.compile(pattern, re.ASCII)
        self._folded = re.compile(pattern, re.I)

    def _pick(self, text: str) -> tuple[re.Pattern[str], str]:
        global _last
        last = _last  # one read: another thread may replace it meanwhile
        if last[0] is not text:
            plain = text.isascii() and not _SEPARATORS.search(text)
            last = _last = (text, plain, text.lower() if plain else text)
        return (self._plain, last[2]) if last[1] else (self._folded, text)

    def search(self, text: str) -> re.Match[str] | None:
        rx, subject = self._pick(text)
        return rx.search(subject)

    def findall(self, text: str) -> list:
        rx, subject = self._pick(text)
        return rx.findall(subject)

    def sub(self, repl: str, text: str) -> str:
        return self._folded.sub(repl, text)
