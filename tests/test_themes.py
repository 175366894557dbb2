"""bot/domain/themes.py: what people said, found from the replies alone (pure, no I/O)."""

from __future__ import annotations

import numpy as np
import pytest

from bot.domain import themes
from bot.domain.themes import (
    Theme,
    ThemeReply,
    ThemeRules,
    find_themes,
    find_themes_batch,
    quote_text,
    reply_language,
    reply_terms,
    welsh_stop_words,
)

ENGLISH = (
    ("ann", "We should move to shared platforms with the neighbouring councils."),
    ("bob", "Shared platforms, yes, and stop buying the same system three times."),
    ("cat", "Honestly the data quality is what holds every project back."),
    ("dan", "Data quality first, then shared platforms will actually work."),
    ("ann", "Training for managers on digital basics would help too."),
    ("cat", "Budgets are tight; we cannot afford five finance systems."),
)

WELSH = (
    ("ann", "Mae angen i ni rannu platfformau gyda'r cynghorau cyfagos."),
    ("bob", "Rydyn ni'n gwario gormod ar systemau dyblyg, felly rhannu platfformau yw'r ateb."),
    ("cat", "Mae ansawdd data yn dal pob prosiect yn ôl yn y cyngor."),
    ("dan", "Ansawdd data yn gyntaf, wedyn bydd rhannu platfformau yn gweithio."),
    ("ann", "Hyfforddiant i reolwyr ar sgiliau digidol sylfaenol."),
)


def replies(pairs) -> list[ThemeReply]:
    return [ThemeReply(text, who, f"m{n}") for n, (who, text) in enumerate(pairs)]


# ----------------------------------------------------------------------------- finding


def test_enough_replies_give_themes_each_quoting_a_reply_that_used_it() -> None:
    found = find_themes(replies(ENGLISH))
    assert [(t.phrase, t.replies, t.people, t.message_id) for t in found] == [
        ("shared platforms", 3, 3, "m0"),
        ("data quality", 2, 2, "m3"),
    ]
    assert found[0].quote == ENGLISH[0][1]
    for theme in found:  # the quoted reply really uses the phrase
        quoted = dict((f"m{n}", text) for n, (_, text) in enumerate(ENGLISH))[theme.message_id]
        assert theme.phrase in quoted.lower()


def test_the_same_replies_give_the_same_themes_alone_or_in_a_batch_of_many() -> None:
    other = [ThemeReply(f"Cloud hosting costs rise {n}", f"u{n % 4}", f"x{n}") for n in range(9)]
    alone = find_themes(replies(ENGLISH))
    batch = find_themes_batch([other, replies(ENGLISH), [], other], ThemeRules())
    assert batch[1] == alone == find_themes(replies(ENGLISH))
    assert batch[0] == batch[3] and batch[2] == ()


def test_a_batch_larger_than_a_chunk_gives_each_thread_its_own_themes(monkeypatch) -> None:
    monkeypatch.setattr(themes, "CHUNK_REPLIES", 7)
    batch = find_themes_batch([replies(ENGLISH)] * 5)
    assert batch == [find_themes(replies(ENGLISH))] * 5


def test_fewer_replies_than_the_minimum_give_no_themes() -> None:
    five = [*ENGLISH[:4], ("eve", "Shared platforms again, and data quality again.")]
    assert find_themes(replies(five[:4])) == ()  # 4 replies < 5
    assert find_themes(replies(five)) != ()
    assert find_themes(replies(five), ThemeRules(min_replies=6)) == ()


def test_fewer_people_than_the_minimum_give_no_themes() -> None:
    two_people = [("ann" if n % 2 else "bob", text) for n, (_, text) in enumerate(ENGLISH)]
    assert find_themes(replies(two_people)) == ()  # 6 replies from 2 people < 3
    assert find_themes(replies(two_people), ThemeRules(min_repliers=2)) != ()


def test_themes_turned_off_give_none() -> None:
    assert find_themes(replies(ENGLISH), ThemeRules(enabled=False)) == ()


def test_a_phrase_only_one_person_used_is_no_theme() -> None:
    # "budget cuts" five times, all from one person; the others say unrelated things.
    pairs = [("ann", "Budget cuts, budget cuts, budget cuts everywhere.")] * 5
    pairs += [("bob", "Recruitment is slow."), ("cat", "Hybrid meetings work well.")]
    assert find_themes(replies(pairs)) == ()


def test_words_of_the_question_alone_are_no_theme() -> None:
    question = "How are shared services changing your council's platforms?"
    found = find_themes(replies(ENGLISH), question=question)
    assert [t.phrase for t in found] == ["data quality"]  # "shared platforms" echoes it


def test_at_most_max_themes_and_no_two_share_a_word() -> None:
    pairs = [
        (f"p{n % 5}", "Shared platforms and data quality, cloud hosting, digital skills.")
        for n in range(10)
    ]
    found = find_themes(replies(pairs), ThemeRules(max_themes=2))
    assert len(found) == 2
    words = [set(t.phrase.split()) for t in found]
    assert not words[0] & words[1]


# ------------------------------------------------------------------------- the arithmetic


def test_the_weights_are_scikit_learns_tfidf_for_the_thread() -> None:
    """The numpy arithmetic gives exactly scikit-learn's TfidfTransformer(sublinear_tf=True)
    summed per term, for a thread scored alone and inside a batch."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

    # A reply using a term several times exercises the sublinear term frequency.
    texts = [text for _, text in ENGLISH] + ["Data quality, data quality, data everywhere."]
    docs = [reply_terms(text) for text in texts]
    counts = CountVectorizer(analyzer=lambda terms: terms).fit(docs)
    expected = np.asarray(
        TfidfTransformer(sublinear_tf=True).fit_transform(counts.transform(docs)).sum(axis=0)
    ).ravel()
    want = dict(zip(counts.get_feature_names_out(), expected, strict=True))

    scores = themes.term_scores([texts])[0]
    for term, score in scores.items():
        boost = themes.PHRASE_BOOST if " " in term else 1.0
        assert score == pytest.approx(want[term] * boost), term
    assert set(scores) == set(want)
    # In a batch with another thread, the same scores.
    other = [f"Cloud hosting costs rise {n}" for n in range(5)]
    assert themes.term_scores([other, texts])[1] == pytest.approx(scores)


# ---------------------------------------------------------------------------------- Welsh


def test_a_welsh_reply_is_told_from_an_english_one_by_its_function_words() -> None:
    for _, text in WELSH:
        assert reply_language(text) == "cy", text
    for _, text in ENGLISH:
        assert reply_language(text) == "en", text
    assert reply_language("") == "en"
    assert reply_language("Data data data") == "en"
    # A channel's language, when known, decides; "both" leaves it to the words.
    assert reply_language(ENGLISH[0][1], "cy") == "cy"
    assert reply_language(WELSH[0][1], "en") == "en"
    assert reply_language(WELSH[0][1], "both") == "cy"


def test_welsh_replies_lose_welsh_stop_words_not_english_ones() -> None:
    terms = reply_terms("Mae ansawdd data yn dal pob prosiect yn ôl yn y cyngor.")
    assert "mae" not in terms and "yn" not in terms and "pob" not in terms
    assert "ansawdd data" in terms and "cyngor" in terms
    # The same words read as English keep the Welsh function words (they are not English).
    assert "mae" in reply_terms("Mae ansawdd data yn dal pob prosiect.", "en")
    assert {"mae", "yn", "gyda", "ein", "rydyn"} <= welsh_stop_words()


def test_welsh_threads_get_welsh_themes_without_welsh_stop_words() -> None:
    found = find_themes(replies(WELSH))
    phrases = [t.phrase for t in found]
    assert sorted(phrases) == ["ansawdd data", "rhannu platfformau"]
    stop = welsh_stop_words()
    assert not any(word in stop for p in phrases for word in p.split())


# ------------------------------------------------------------------------------ hostile


@pytest.mark.parametrize(
    "texts",
    [
        ["", "", "", "", "", ""],
        ["   \n\t "] * 6,
        ["👍", "🎉🎉", ":thumbsup:", "👏 👏", "🙂", "❤️"],
        [
            "https://example.org/a",
            "<https://example.org/b|b>",
            "<@U123> <@U456>",
            "@everyone @here",
            "<!channel>",
            "#general www.example.org",
        ],
        ["yes yes yes yes yes"] * 6,
        ["ok", "thanks", "agree", "+1", "same", "yes"],
        ["12345 67890", "2025-01-01", "£1,000,000", "50%", "3.14", "0"],
        ["\x00\x1b[2J\x07", "\u202e\u202d", "\ufeff", "\u200b" * 50, "\r\n", "\x7f"],
    ],
)
def test_hostile_input_never_crashes_and_shows_nothing(texts: list[str]) -> None:
    pairs = [(f"person{n % 4}", text) for n, text in enumerate(texts)]
    assert find_themes(replies(pairs)) == ()


def test_a_very_long_reply_is_read_in_part_and_quoted_short() -> None:
    long_text = "Shared platforms matter. " + "blah " * 200_000
    pairs = [*ENGLISH, ("eve", long_text)]
    found = find_themes(replies(pairs))
    assert [t.phrase for t in found] == ["shared platforms", "data quality"]
    assert all(len(t.quote) <= themes.QUOTE_CHARS + 1 for t in found)
    # Quoted, it is cut at a word with an ellipsis.
    quoted = quote_text(long_text)
    assert quoted.endswith("…") and len(quoted) <= themes.QUOTE_CHARS + 1


def test_one_word_repeated_by_everyone_is_at_most_that_word() -> None:
    pairs = [(f"person{n}", "platforms " * (n + 1)) for n in range(6)]
    found = find_themes(replies(pairs))
    assert [t.phrase for t in found] in ([], ["platforms"])
    assert all(isinstance(t, Theme) for t in found)


def test_links_mentions_and_emails_are_never_themes() -> None:
    noise = "<@U0LEADER> see https://intranet.example.gov.uk/x and mail jo.bloggs@example.gov.uk"
    pairs = [(f"person{n % 4}", f"{noise} :tada: {text}") for n, (_, text) in enumerate(ENGLISH)]
    phrases = " ".join(t.phrase for t in find_themes(replies(pairs)))
    for bit in ("intranet", "example", "https", "bloggs", "u0leader", "tada", "gov"):
        assert bit not in phrases


def test_html_entities_and_markup_as_typed_are_no_words() -> None:
    terms = reply_terms("&lt;script&gt; alert &amp; &#169; <b>bold</b> shared platforms")
    assert "lt" not in terms and "gt" not in terms and "amp" not in terms
    assert "shared platforms" in terms


def test_a_reply_of_mostly_spaces_is_quoted_short_with_an_ellipsis() -> None:
    text = "Shared platforms" + " " * 5000 + "matter"
    quoted = quote_text(text)
    assert quoted == "Shared platforms…"
