"""Which language a post is written in, offline.

Triage was trained on English posts only; a post in another language must
still reach a person, marked with its language.  Detection uses lingua
(``lingua-language-detector``, Apache-2.0), restricted to the languages a
brand's customers most often write in: fewer candidates is faster and makes
fewer mistakes on short posts.  Its n-gram models load on first use (about
4 s, 300 MB), so an English-looking post is recognised first by cheap checks
and never loads them: most posts a brand gets are English.

A post too short or too unclear to call is English ("en"): the English
triage then reads it, and when it can't tell, the post still goes to the lane.
Text with no letters at all (emoji, an order number) is ``"und"``.
"""

from __future__ import annotations

import re
import threading
from typing import Any

#: ISO 639-1 code -> English name, for the card ("Spanish · triage not trained on this language").
LANGUAGES: dict[str, str] = {
    "en": "English",
    "es": "Spanish",
    "de": "German",
    "fr": "French",
    "pt": "Portuguese",
    "it": "Italian",
    "nl": "Dutch",
    "tr": "Turkish",
    "pl": "Polish",
    "sv": "Swedish",
    "ru": "Russian",
    "ja": "Japanese",
    "ko": "Korean",
    "zh": "Chinese",
    "ar": "Arabic",
    "hi": "Hindi",
}
UNDETERMINED = "und"
#: What the shipped triage model was trained on.
TRAINED = frozenset({"en"})
#: Below this confidence a non-English call on Latin-script text is not trusted.
MIN_CONFIDENCE = 0.5
#: ...unless it leads English by this factor (and has at least the floor): "vielen Dank, super Service!" is DE 0.35, EN 0.08.
CLEAR_LEAD = 2.0
CLEAR_LEAD_FLOOR = 0.3

_MENTION_URL = re.compile(r"(?:https?://|www\.)\S+|[@#]\w+", re.I)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
# Scripts that name their language without any model.
_SCRIPTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ja", re.compile(r"[\u3040-\u30ff]")),  # hiragana / katakana
    ("ko", re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")),
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
)
# Common English words: a post made mostly of these (and plain ASCII) is English.
_ENGLISH = frozenset(
    """a about after again all always am an and any anyone are as at back be been before but by can cannot can't
    could customer day days did didn't do does doesn't don't email even ever every fix for from get getting got
    had has have haven't hello help her here hey hi him his how i i'm i've if in is isn't it it's its just know
    last like me more my need never new no nobody not nothing now of on one only or order our out over please
    really refund same service should since so some still stop support than thanks thank that the their them then
    there they this thank time to today told too two up us very wait waiting want was wasn't way we week what
    when where which who why will with won't work working would yet you your you're zero""".split()
)


class _Detector:
    """lingua, built once and only when a post needs it (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._detector: Any = None

    def get(self) -> Any:
        if self._detector is None:
            with self._lock:
                if self._detector is None:
                    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

                    langs = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in LANGUAGES]
                    self._detector = LanguageDetectorBuilder.from_languages(*langs).build()
        return self._detector


_detector = _Detector()


def _looks_english(words: list[str]) -> bool:
    # The words, not the whole text: an emoji or a curly quote beside plain
    # English words must not cost a lingua call.
    if not "".join(words).isascii():
        return False
    common = sum(len(w) > 1 and w.lower() in _ENGLISH for w in words)  # "a" is also Italian, Portuguese...
    if len(words) <= 2:
        return common == len(words)
    return common >= 2 and common * 3 >= len(words)


def detect(text: str) -> str:
    """ISO 639-1 code of the post's language, ``"en"`` when unsure, ``"und"`` without letters."""
    body = _MENTION_URL.sub(" ", text or "")
    words = _WORD.findall(body)
    if not words:
        return UNDETERMINED
    for code, rx in _SCRIPTS:
        if rx.search(body):
            # Japanese mixes kanji with kana, so kana first; han alone is Chinese.
            return code
    if _looks_english(words):
        return "en"
    letters = sum(len(w) for w in words)
    if letters < 4:
        return "en"  # "ok", "lol": nothing to go on
    values = _detector.get().compute_language_confidence_values(" ".join(words))
    if not values:
        return "en"
    top = values[0]
    code = top.language.iso_code_639_1.name.lower()
    if code == "en":
        return "en"
    english = next((v.value for v in values if v.language.iso_code_639_1.name == "EN"), 0.0)
    sure = top.value >= MIN_CONFIDENCE or (top.value >= CLEAR_LEAD_FLOOR and top.value >= CLEAR_LEAD * english)
    return code if sure and code in LANGUAGES else "en"


def name(code: str) -> str:
    """"es" -> "Spanish"; unknown codes come back as they are."""
    return LANGUAGES.get(code, code)


def from_reasons(reasons: list[str] | tuple[str, ...]) -> str:
    """The language a card's reasons name ("Spanish" -> "es"), "en" when they name none: no detection, no model load."""
    by_name = {v: k for k, v in LANGUAGES.items()}
    return next((by_name[r] for r in reasons or () if r in by_name), "en")


def is_trained(code: str) -> bool:
    """Whether the English triage can read this post ("und" has no words to misread)."""
    return code in TRAINED or code == UNDETERMINED
