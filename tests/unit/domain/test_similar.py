"""The reply a new card offers from the most similar answered case: the index finds what a pass over every case finds."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from bot.domain.similar import MIN_OVERLAP, ReplyIndex, words

VOCAB = ["parcel", "lost", "refund", "order", "late", "broken", "app", "crash", "login", "charged", "twice", "depot", "week", "the", "you"]
texts = st.lists(st.sampled_from(VOCAB), max_size=8).map(" ".join)


def every_case(rows: list[tuple[str, str]], text: str) -> str | None:
    """The definition: highest Jaccard overlap of content words above the minimum; the newest (first) of equals."""
    own = words(text)
    best, best_score = None, MIN_OVERLAP
    for post_text, reply in rows:
        other = words(post_text)
        score = len(own & other) / len(own | other) if own and other else 0.0
        if score > best_score:
            best, best_score = reply, score
    return best


@settings(max_examples=300, deadline=None)
@given(st.lists(texts, max_size=30), texts)
def test_the_index_picks_what_comparing_every_case_picks(answered, text):
    rows = [(post_text, f"reply {i}") for i, post_text in enumerate(answered)]
    own = words(text)
    assert (ReplyIndex(rows).best(own, MIN_OVERLAP) if own else None) == every_case(rows, text)


def test_of_equally_close_cases_the_newest_reply_wins():
    rows = [("my parcel is lost", "newest"), ("my parcel is lost", "older")]
    assert ReplyIndex(rows).best(words("parcel lost again"), MIN_OVERLAP) == "newest"
    assert ReplyIndex(rows).best(words("the app crashed at login"), MIN_OVERLAP) is None
    # Two cases each sharing a different word with the post: whichever word is looked up first, the newer case wins.
    for a, b in zip(VOCAB, reversed(VOCAB)):
        if a != b and words(a) and words(b):
            assert ReplyIndex([(a, "newest"), (b, "older")]).best(words(f"{a} {b}"), MIN_OVERLAP) == "newest", (a, b)
