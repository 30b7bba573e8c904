"""Reply length as X counts it (twitter-text v3 weighted length).

twitter-text-parser is the only Python port of twitter-text's v3 counting (URLs
count 23, CJK and emoji count 2), but it reads one data file through
pkg_resources, which setuptools 82 removed. Rather than pin setuptools into the
build, the runtime and CI for that, the import below is given a one-function
stand-in for the duration of the import only (nothing else sees it).
"""
from __future__ import annotations

import sys
import types
from pathlib import Path


def _import_parse_tweet():
    def resource_string(module: str, name: str) -> bytes:
        # pkg_resources' meaning: a file beside the named module (or inside the named package).
        return Path(sys.modules[module].__file__).with_name(name).read_bytes()

    stand_in = types.ModuleType("pkg_resources")
    stand_in.resource_string = resource_string
    had, saved = "pkg_resources" in sys.modules, sys.modules.get("pkg_resources")
    sys.modules["pkg_resources"] = stand_in
    try:
        from twitter_text import parse_tweet
    finally:
        if had:
            sys.modules["pkg_resources"] = saved
        else:
            del sys.modules["pkg_resources"]
    return parse_tweet


parse_tweet = _import_parse_tweet()
from twitter_text.extract_urls import extract_urls  # noqa: E402 - after the stand-in import above loaded the package


def weighted_length(text: str) -> int:
    """280 is the limit: URLs count 23, CJK and emoji count 2."""
    return parse_tweet(text).weightedLength


def has_link(text: str) -> bool:
    """Whether X will see a URL in it (with or without http://, as twitter-text finds them)."""
    return bool(extract_urls(text))
