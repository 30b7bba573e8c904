"""Make customer text inert in Slack mrkdwn."""
from __future__ import annotations

import re

ZWSP = "\u200b"
_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
# Lookalikes for the characters that make bold, italics, strikethrough and code. Slack has
# no escape for them; one inside a word (jordan_k, 5*2) formats nothing and is kept.
_LOOKALIKE = {"*": "\u2217", "_": "\uff3f", "~": "\u223c", "`": "\u02cb"}
_MARKUP = re.compile(r"`|(?<![^\W_])[*_~]|[*_~](?![^\W_])")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\u0085\v\f]+")


def escape(text: str) -> str:
    """Escape the three control characters (so no <!channel>, <@U..> or <url|label>), break bare
    broadcasts, and swap formatting characters at word edges for lookalikes (no *fake bold*)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MARKUP.sub(lambda m: _LOOKALIKE[m.group(0)], text)
    return _BROADCAST.sub(lambda m: "@" + ZWSP + m.group(1), text)


def one_line(text: str) -> str:
    """Escaped, on one line: for names and handles, which must not add lines (or a fake quote) to a card."""
    return escape(_LINE_BREAKS.sub(" ", text)).strip()


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compact_number(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M".replace(".0M", "M")
    if n >= 1_000:
        return f"{n / 1_000:.1f}k".replace(".0k", "k")
    return str(n)
