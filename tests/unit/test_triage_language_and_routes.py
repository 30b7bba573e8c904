"""Languages, the praise/question/complaint rules, routes, suggestions and the batch API."""
from __future__ import annotations

import pytest

from bot.config import RoutingConfig
from bot.domain.routing import decide
from bot.triage import NOT_TRAINED, Triage, classify, classify_batch, language, suggest_reply
from bot.triage.training import train as train_mod


@pytest.mark.parametrize(
    "text,code",
    [
        ("@acme my order never arrived and nobody answers", "en"),
        ("still waiting…", "en"),
        ("ok", "en"),
        ("lol", "en"),
        ("fix it", "en"),
        ("😡😡😡 #4471", "und"),
        ("", "und"),
        ("@acme mi pedido nunca llegó y nadie responde", "es"),
        ("@acme meine Bestellung ist nie angekommen", "de"),
        ("@acme toujours pas reçu ma commande, c'est honteux", "fr"),
        ("@acme il mio ordine non è mai arrivato", "it"),
        ("@acme mijn bestelling is nooit aangekomen", "nl"),
        ("@acme siparişim hâlâ gelmedi", "tr"),
        ("@acme moje zamówienie nie dotarło", "pl"),
        ("@acme 注文した商品がまだ届かない", "ja"),
        ("@acme 주문한 상품이 아직 안 왔어요", "ko"),
        ("@acme мой заказ так и не пришёл", "ru"),
        ("@acme buongiorno a tutti", "it"),
    ],
)
def test_detects_the_language_offline(text, code):
    assert language.detect(text) == code


def test_a_post_in_another_language_is_a_card_that_says_so():
    t = classify("@acme mi pedido nunca llegó y nadie responde", followers=120_000)
    assert t.language == "es" and not t.language_trained
    assert t.category == "complaint"
    assert t.reasons[:3] == ("complaint", "Spanish", NOT_TRAINED)
    assert "120k followers" in t.reasons and t.priority == "urgent"
    assert decide(t) == "card"
    # nothing in it reads as anything: still a card, at least normal priority
    unread = classify("@acme hoy en Barcelona con mi hermana y mis primos")
    assert unread.language == "es" and unread.category == "other"
    assert decide(unread) == "card" and unread.priority == "normal"


def test_priority_reads_legal_and_safety_words_in_the_posts_language():
    assert classify("@acme ich schalte jetzt meinen Anwalt ein").priority == "urgent"
    assert "mentions safety" in classify("@acme el cargador se prendió fuego, es peligroso").reasons
    assert classify("@acme 弁護士に相談します").priority == "urgent"
    plain = classify("@acme meine Bestellung ist nie angekommen")
    assert plain.priority == "normal"
    assert classify("@acme meine Bestellung ist nie angekommen", prior_complaints=2).priority == "high"


@pytest.mark.parametrize(
    "text",
    [
        "great, another outage. third this week. cool cool cool",
        "@acme wow thanks for losing my bag, really appreciate it 🙄",
        "love the app but it crashes every time I open the camera",
        "@acme thanks for nothing, as usual",
        "I love waiting at the counter for 15 minutes for a coffee",
        "@acme brilliant, the refund is on its way for the 3rd week running",
    ],
)
def test_sarcasm_and_named_failures_are_never_praise(text):
    assert classify(text).category == "complaint"


@pytest.mark.parametrize(
    "text",
    ["still waiting…", "not impressed tbh", "if I could give zero stars I would", "@acme this is unacceptable.",
     "😡😡😡 order #4471", "day 12 of asking for my money back", "@acme refund. now.", "@acme hello?? anyone??"],
)
def test_terse_complaints_are_complaints(text):
    assert classify(text).category == "complaint"


def test_questions_get_question_answers():
    for text in ("does the sale include the coffee grinders?",
                 "Does the sale include the coffee grinders? Can't find them on the website.",
                 "@acme is the blue kettle coming back in stock?",
                 "@acme what's your returns policy if something arrives damaged?"):
        t = classify(text)
        assert t.category == "question", text
        reply = suggest_reply(t, name="Tom Becker").lower()
        assert "sorry" not in reply and "disruption" not in reply and "refund" not in reply


def test_a_suggestion_whose_topic_may_not_fit_falls_back_to_the_general_one():
    t = classify("@acme I paid for next day delivery and the parcel came a week late")
    assert set(t.topics) >= {"refund", "delivery"}
    general = Triage("complaint", -0.5, 2, "normal", 0.9, ("complaint",), "general")
    assert suggest_reply(t, name="Ana") == suggest_reply(general, name="Ana")
    one_topic = classify("@acme my parcel never arrived")
    assert one_topic.topics == ("delivery",) and "order" in suggest_reply(one_topic, name="Ana")


def test_no_built_in_suggestion_in_a_language_it_is_not_written_in():
    t = classify("@acme meine Bestellung ist nie angekommen")
    assert suggest_reply(t, name="Jonas") == ""


def test_routes():
    def t(category: str, lang: str = "en") -> Triage:
        return Triage(category, 0.0, 0, "low", 0.0, (category,), "general", language=lang)

    assert decide(t("complaint")) == decide(t("question")) == decide(t("praise")) == "card"
    assert decide(t("other")) == "lane"
    assert decide(t("spam")) == "hidden"
    assert decide(t("complaint"), own=True) == "hidden"
    assert decide(t("other", "de")) == "card"  # unread: a person must look
    assert decide(t("other"), kind="search") == "lane"
    assert decide(t("other"), kind="search", routing=RoutingConfig(search="hidden")) == "hidden"
    assert decide(t("complaint"), kind="search", routing=RoutingConfig(search="hidden")) == "card"
    # a team that cards complaints only still sees questions and praise, in the lane
    only = RoutingConfig(card=["complaint"])
    assert decide(t("question"), routing=only) == decide(t("praise"), routing=only) == "lane"
    assert decide(t("spam"), routing=RoutingConfig(card=["complaint", "spam"])) == "card"


def test_classify_batch_gives_what_classify_gives():
    rows = train_mod.load_rows()[::40]
    posts = [{"text": r["text"], "followers": i * 997, "engagement": i % 70} for i, r in enumerate(rows)]
    posts += ["", None, "@acme mi pedido nunca llegó", "😡😡😡", "x" * 5000]
    batch = classify_batch(posts)
    assert len(batch) == len(posts)
    for post, got in zip(posts, batch):
        one = classify(post["text"], followers=post["followers"], engagement=post["engagement"]) if isinstance(post, dict) else classify(post)
        assert got.category == one.category and got.priority == one.priority and got.reasons == one.reasons
        assert got.score == pytest.approx(one.score, abs=1e-4)
    assert classify_batch([]) == []


def test_the_demo_posts_are_triaged_right():
    from bot.demo import CUSTOMERS, FACEBOOK_COMMENTS

    got = {handle: classify(text, followers=followers).category for handle, _, followers, text in CUSTOMERS}
    assert got == {"maya_travels": "complaint", "devon_builds": "complaint", "li.wei": "question",
                   "sunny_side": "praise", "grumpy_gus": "complaint"}
    assert [classify(text).category for _, text in FACEBOOK_COMMENTS] == ["complaint", "question"]


def test_saved_replies_follow_the_language():
    from bot.config import SavedReply
    from bot.domain.saved_replies import saved_replies_for, suggestion_in_language

    library = [SavedReply(name="EN", text="Hi {first_name}, sorry!", category="complaint"),
               SavedReply(name="DE", text="Hallo {first_name}, das tut uns leid.", category="complaint", lang="de"),
               SavedReply(name="ES", text="Hola {first_name}, lo sentimos.", category="any", lang="es")]
    assert [r.name for r in saved_replies_for("complaint", library, "es")] == ["ES", "EN", "DE"]
    assert [r.name for r in saved_replies_for("complaint", library)] == ["EN", "DE", "ES"]
    assert suggestion_in_language(library, "de", "complaint", name="Jonas Weber") == "Hallo Jonas, das tut uns leid."
    assert suggestion_in_language(library, "de", "praise", name="Jonas") == ""
    assert suggestion_in_language(library, "fr", "complaint", name="Jonas") == ""
    assert language.from_reasons(["complaint", "German", NOT_TRAINED]) == "de"
    assert language.from_reasons(["complaint", "angry"]) == "en"


def test_a_bad_language_code_in_a_saved_reply_is_a_config_error(tmp_path):
    from bot.config import ConfigError, load_file_config

    path = tmp_path / "socialdesk.toml"
    path.write_text('[[saved_replies]]\nname = "x"\ntext = "y"\nlang = "spanish"\n')
    with pytest.raises(ConfigError, match="two-letter language code"):
        load_file_config(path)
