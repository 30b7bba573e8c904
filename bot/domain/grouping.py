"""Which posts are about the same problem: terms, incident profiles and a similarity score.

Pure text work, no database. A profile is the share of an incident's posts that use
each term, so "checkout", "error 500" and "site down" all count once enough people
in the incident say them, and a post joins when its strongest terms are typical of
the incident. Generic complaint words ("still", "help", "never") carry no weight.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

_URL = re.compile(r"https?://\S+|www\.\S+")
_HANDLE = re.compile(r"[@#]\w+")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_CLAUSE = re.compile(r"[.,;:!?()\[\]\"…–—]+|\s-\s|\n")
_STOP = frozenset("""
a about above after again against all already also am an and any anyone anything are aren't as at be because been
before being below between both but by can could did didn't do does doesn't doing don't during each even ever
every few for from further get gets getting got guys had hasn't has have haven't having he her here hers herself him
himself his how i i'd i'll i'm i've if in into is isn't it it's its itself just keep keeps kept let's like me more
most my myself no nor not now of off on once only or other our ours ourselves out over own please same she should
so some still such than thank thanks that that's the their theirs them themselves then there there's these they
they're this those through to today too under until up us very was wasn't we we're were what what's when where which
while who why will with won't would you you're your yours yourself yourselves hi hey hello ok okay omg lol wtf
again seriously really literally anybody someone help fix sort sorted guys team support customer service acme
one two day days hour hours minute minutes time times morning tonight yesterday week now
""".split())
_SYNONYMS = {
    "can't": "cannot", "cant": "cannot", "won't": "wont", "couldn't": "cannot", "unable": "cannot",
    "website": "site", "webpage": "site", "page": "site", "checking": "checkout", "basket": "cart",
    "paying": "pay", "payment": "pay", "payments": "pay", "paid": "pay", "purchase": "buy", "buying": "buy",
    "crashing": "crash", "crashed": "crash", "crashes": "crash", "errors": "error", "broken": "broke",
    "outage": "down", "offline": "down", "loading": "load", "loads": "load", "logging": "login", "log": "login",
    "signin": "login",
}
GENERIC = frozenset({"cannot", "wont", "work", "working", "broke", "problem", "issue", "issues", "still"})


def _stem(word: str) -> str:
    word = _SYNONYMS.get(word, word)
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return _SYNONYMS.get(word[: -len(suffix)], word[: -len(suffix)])
    return word


def _kept(word: str) -> str | None:
    word = _stem(word)
    return word if word not in _STOP and (len(word) > 2 or word.isdigit()) else None


def terms(text: str) -> set[str]:
    """The words (stemmed, generic ones dropped) and the word pairs people actually wrote.

    A pair is two kept words side by side in one clause: a dropped word or
    punctuation between them breaks it, so "check out, error 503" gives
    "error 503" and never "check error", and the incident's phrases read as
    the customers wrote them.
    """
    text = _HANDLE.sub(" ", _URL.sub(" ", text.lower()))
    out: set[str] = set()
    for clause in _CLAUSE.split(text):
        words = [_kept(w) for w in _TOKEN.findall(clause)]
        out.update(w for w in words if w)
        out.update(f"{a} {b}" for a, b in zip(words, words[1:]) if a and b and a != b)
    return out


def profile(texts: Iterable[set[str]], *, min_share: float = 0.04, size: int = 60) -> dict[str, float]:
    """Share of posts that use each term, for the terms used by enough of them."""
    texts = list(texts)
    if not texts:
        return {}
    counts = Counter(t for ts in texts for t in ts)
    shares = {t: c / len(texts) for t, c in counts.items() if c / len(texts) >= min_share or len(texts) < 5}
    return dict(sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))[:size])


FULL_SHARE = 0.5  # a term used by half an incident's posts is fully typical of it


def score(post_terms: set[str], prof: dict[str, float]) -> float:
    """How typical a post is of an incident: the weight of its two strongest specific terms.

    An incident people describe in several ways ("checkout broken", "site down") has
    each way used by only part of its posts, so a term counts fully from FULL_SHARE on.
    One shared word alone counts half, unless most of the incident uses it.
    """
    weights = sorted((min(1.0, prof.get(t, 0.0) / FULL_SHARE) * (0.5 if t in GENERIC else 1.0) for t in post_terms), reverse=True)
    weights = [w for w in weights[:2] if w > 0]
    if len(weights) == 1 and weights[0] < 1.0:
        return weights[0] / 2
    return sum(weights)


def fitting(texts: list[set[str]], prof: dict[str, float], *, threshold: float) -> float:
    """The share of posts that fit a profile on their own."""
    return sum(score(t, prof) >= threshold for t in texts) / len(texts) if texts else 0.0


def merge_related(groups: list[list[int]], terms_of: dict[int, set[str]], *, threshold: float, min_size: int = 3) -> list[int]:
    """The largest group plus the other groups it is bridged to: enough posts fit both (one problem, said two ways)."""
    main = list(groups[0])
    main_profile = profile(terms_of[i] for i in main)
    for group in groups[1:]:
        if len(group) < min_size:
            continue
        other = profile(terms_of[i] for i in group)
        bridges = sum(score(terms_of[i], other) >= threshold for i in main) + sum(score(terms_of[i], main_profile) >= threshold for i in group)
        if bridges >= max(2, 0.1 * min(len(group), len(main))):
            main += group
            main_profile = profile(terms_of[i] for i in main)
    return main


def top_phrases(prof: dict[str, float], n: int = 4) -> list[str]:
    """What the incident is about, for people: the commonest pairs first, each word said once."""
    picked: list[str] = []
    said: set[str] = set()
    for term, _ in sorted(prof.items(), key=lambda kv: (-kv[1] * (1.3 if " " in kv[0] else 1.0), kv[0])):
        if term in GENERIC or said & set(term.split()):
            continue
        picked.append(term)
        said.update(term.split())
        if len(picked) == n:
            break
    return picked


def cluster(items: list[tuple[int, set[str]]], *, threshold: float) -> list[list[int]]:
    """Greedy leader clustering in arrival order: each post joins the closest group whose profile it fits."""
    groups: list[tuple[list[int], list[set[str]], dict[str, float]]] = []
    for item_id, item_terms in items:
        best, best_score = None, threshold
        for group in groups:
            s = score(item_terms, group[2])
            if s >= best_score:
                best, best_score = group, s
        if best is None:
            groups.append(([item_id], [item_terms], {t: 1.0 for t in item_terms}))
            continue
        best[0].append(item_id)
        best[1].append(item_terms)
        if len(best[1]) <= 50 or len(best[1]) % 25 == 0:  # the profile settles; refreshing it each time is quadratic
            best[2].clear()
            best[2].update(profile(best[1]))
    return [g[0] for g in groups]
