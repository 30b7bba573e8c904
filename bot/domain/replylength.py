"""Reply length as X counts it (twitter-text v3 weighted length)."""
from __future__ import annotations

import warnings

with warnings.catch_warnings():
    # twitter-text-parser imports pkg_resources, which warns on import.
    warnings.simplefilter("ignore")
    from twitter_text import parse_tweet


def weighted_length(text: str) -> int:
    """280 is the limit: URLs count 23, CJK and emoji count 2."""
    return parse_tweet(text).weightedLength
