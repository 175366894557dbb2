"""What people said: a few themes (key phrases) of a question's replies, each with one
representative reply. Pure: reply texts in, `Theme`s out; computed on this machine, with no
model and no outside service.

How (deliberately small, and the same every time for the same replies):

1. Each reply is cleaned (links, mentions, emoji codes, e-mail addresses, HTML entities and
   numbers go, each ending a phrase),
   its language decided (`reply_language`: a hint, else the share of Welsh function words)
   and split into words; that language's stop words (bot/data/stopwords/) break the text
   into runs of content words, and the runs give the reply's terms: single words and
   two-word phrases.
2. Each thread gets its own TF-IDF weights, the formula of scikit-learn's
   `TfidfTransformer(sublinear_tf=True)` (tf = 1 + ln(count), smooth idf = ln((1 + n) /
   (1 + df)) + 1 over the thread's n replies, each reply's weights scaled to unit length;
   tests/test_themes.py checks the weights against scikit-learn's). The terms of every reply
   of every thread are counted at once with numpy, so 400 threads cost one pass, and a
   thread's themes never depend on other threads'.
3. A term's score is the sum of its weights over the thread's replies (phrases count a half
   more, being easier to read). Only terms used by at least `MIN_SUPPORT_PEOPLE` people in
   as many replies can be themes, and none made only of the question's own words (echoing
   the question says nothing); the best `max_themes` that share no word are kept, each
   quoting the reply that weighs the term most (one not quoted yet, where there is one).

Not used, for speed (bench/README.md has the figures): scikit-learn's NMF topics (about 17 ms
a thread, 7 s for 400 channels, against the digest's 1 s budget) and its `CountVectorizer`
(a Python loop per term: 1.6 s for 20,000 replies), and importing scikit-learn at all (about
a second); numpy does the arithmetic and is imported on first use.

Nothing is returned for a thread with fewer than `min_replies` replies that have words in
them, or fewer than `min_repliers` people writing them, so that no one can be singled out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import chain, pairwise
from typing import Any, Literal

from bot.data import bundled

Language = Literal["en", "cy"]

MIN_SUPPORT_PEOPLE = 2
"""A theme is a term at least this many people used (in at least as many replies)."""

PHRASE_BOOST = 1.5
"""Two-word phrases' scores are multiplied by this: "shared platforms" reads better than
"platforms" and is worth a slightly rarer use."""

QUOTE_CHARS = 240
"""A quote longer than this is cut at a word boundary, with an ellipsis."""

CHUNK_REPLIES = 2000
"""Replies scored together (whole threads): bounds the memory of a large batch."""

MAX_CHARS = 4000
"""Only the first this many characters of a reply are read for its terms (very long replies
then cost no more than long ones)."""

WELSH_SHARE = 0.12
"""A reply is Welsh when at least this share of its words are Welsh function words and they
outnumber English ones (`reply_language`)."""


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Function words that mark a language: common, and not words of the other language. Short
# ambiguous words ("a", "i", "am", "hi", "pan", "dim") are left out of both.
_WELSH_MARKERS = _word_set(
    """yn y yr mae maen ac ei eu wedi gyda hefyd sydd sy ond bod fod nid ddim hyn hynny oedd
    roedd rydyn rydym dwi iawn mwy yng ym drwy gan fel neu ydy yw ydyn ni ein eich gallu gael
    cael dylai rhaid gwneud mewn wrth ag nhw chi dros ar o ac yma yna hwn hon pob rhai ydw
    byddai bydd fydd oes sut pam beth pwy ble"""
)
_ENGLISH_MARKERS = _word_set(
    """the and to of is are was were be been that this these those it its we our you your they
    their for with on in at by from not but or if would could should will can have has had
    there what which who when how do does did an as so than then just also more very"""
)

# Words that carry no theme in a chat reply, in both languages' lists.
_CHAT_FILLER = _word_set(
    """ok okay yes yeah yep yup no nope thanks thank thx ta cheers agree agreed lol haha hi
    hello hey think thinks thought really actually maybe probably like just got get gets
    getting need needs going don doesn didn isn aren wasn weren won wouldn couldn shouldn ve ll
    re etc eg ie diolch plis iawn"""
)

# Removed before reading words, each only when its marker is in the text (a pattern that
# does not start with a fixed character is tried at every position): chat markup (<@U123>,
# <https://…|label>, <#C…>), links, e-mail addresses, @mentions and #channels, :emoji_codes:,
# HTML entities (&lt; as typed or as a platform escaped it).
_NOISE: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("<", re.compile(r"<[^<>\n]{0,500}>")),
    ("http", re.compile(r"https?://\S+")),
    ("www.", re.compile(r"www\.\S+")),
    ("@", re.compile(r"\S*@\S*")),
    ("#", re.compile(r"#[\w.-]+")),
    (":", re.compile(r":[a-z0-9_+-]{1,60}:")),
    ("&", re.compile(r"&#?[a-z0-9]{1,10};")),
)
# Words (letters only, any script) and the punctuation that ends a phrase.
_TOKENS = re.compile(r"[^\W\d_]+|[.,;:!?()\[\]{}\"“”‘’/|\n•*–—-]")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class ThemeReply:
    """Input: one reply of a thread."""

    text: str
    author: str
    message_id: str


@dataclass(frozen=True, slots=True)
class Theme:
    """Output: a key phrase of a thread and the reply quoted for it."""

    phrase: str
    replies: int
    """Replies using the phrase."""
    people: int
    """Distinct people using it."""
    quote: str
    """The quoted reply's text, whitespace collapsed, cut to `QUOTE_CHARS`."""
    message_id: str
    """The quoted reply's id (its link is the platform's business)."""
    link: str | None = None
    """The quoted reply's link, when the platform can make one (set by the service)."""


@dataclass(frozen=True, slots=True)
class ThemeRules:
    enabled: bool = True
    min_replies: int = 5
    min_repliers: int = 3
    max_themes: int = 3


# ------------------------------------------------------------------------------- stop words


def _word_list(name: str) -> frozenset[str]:
    text = bundled(f"stopwords/{name}.txt").read_text(encoding="utf-8")
    return frozenset(w for w in (line.strip() for line in text.splitlines()) if w[:1] != "#")


@cache
def welsh_stop_words() -> frozenset[str]:
    """The bundled Welsh list (bot/data/stopwords/cy.txt) and the chat fillers."""
    return _word_list("cy") | _CHAT_FILLER


@cache
def english_stop_words() -> frozenset[str]:
    """scikit-learn's English list (bot/data/stopwords/en.txt) and the chat fillers."""
    return _word_list("en") | _CHAT_FILLER


def stop_words(language: Language) -> frozenset[str]:
    return welsh_stop_words() if language == "cy" else english_stop_words()


# Punctuation and single letters also end a phrase; the same for both languages.
_BREAKS = frozenset('.,;:!?()[]{}"“”‘’/|\n•*–—-') | frozenset(
    "abcdefghijklmnopqrstuvwxyzâêîôûŵŷáéíóúẃýàèìòùẁỳäëïöüẅÿ"
)


@cache
def _blanks(language: Language) -> dict[str, str]:
    """Word -> "" for each word that ends a phrase: `dict.get(word, word)` keeps the rest."""
    return dict.fromkeys(stop_words(language) | _BREAKS, "")


# ------------------------------------------------------------------------------ per reply


def _words(text: str) -> list[str]:
    """The reply's words and phrase-ending punctuation, lower case, noise removed."""
    text = text[:MAX_CHARS].lower()
    for marker, pattern in _NOISE:
        if marker in text:
            text = pattern.sub(" | ", text)  # what is removed ends a phrase
    return _TOKENS.findall(text)


def _language_of_words(words: Sequence[str], hint: str | None) -> Language:
    if hint in ("en", "cy"):
        return hint  # type: ignore[return-value]  # checked
    if _WELSH_MARKERS.isdisjoint(words):  # most English replies stop here
        return "en"
    letters = sum(map(str.isalpha, words))
    welsh = sum(map(_WELSH_MARKERS.__contains__, words))
    english = sum(map(_ENGLISH_MARKERS.__contains__, words))
    return "cy" if welsh > english and welsh / letters >= WELSH_SHARE else "en"


def reply_language(text: str, hint: str | None = None) -> Language:
    """The language whose stop words apply to the reply: `hint` when it is "en" or "cy" (a
    channel's language), else (no hint, or "both") Welsh when at least `WELSH_SHARE` of its
    words are Welsh function words and they outnumber the English ones, else English."""
    return _language_of_words(_words(text), hint)


def reply_tokens(text: str, hint: str | None = None) -> list[str]:
    """The reply's words in order, "" in place of each stop word, lone letter or punctuation
    mark (each ends a phrase)."""
    words = _words(text)
    blanks = _blanks(_language_of_words(words, hint))
    return list(map(blanks.get, words, words))


def reply_terms(text: str, hint: str | None = None) -> list[str]:
    """The reply's terms: its content words and the two-word phrases of adjacent content
    words (a stop word or punctuation in between breaks a phrase; a word twice is none).
    The scoring counts the same terms from `reply_tokens`, with numpy."""
    kept = reply_tokens(text, hint)
    terms = list(filter(None, kept))
    terms += [f"{a} {b}" for a, b in pairwise(kept) if a and b and a != b]
    return terms


def quote_text(text: str, limit: int = QUOTE_CHARS) -> str:
    """The reply as a one-paragraph quote, cut at a word boundary when longer than `limit`."""
    # Only the start of a very long reply is looked at (a reply of mostly spaces may then be
    # cut shorter than `limit`, still with its ellipsis).
    head = text[: limit * 8]
    flat = _SPACE.sub(" ", head).strip()
    if len(flat) <= limit and len(head) == len(text):
        return flat
    cut = flat[:limit]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"


# ------------------------------------------------------------------------------- threads


def find_themes(
    replies: Sequence[ThemeReply],
    rules: ThemeRules = ThemeRules(),
    language: str | None = None,
    question: str = "",
) -> tuple[Theme, ...]:
    """The themes of one thread's replies (see the module's docstring). Words of `question`
    (the text the replies answer) are no theme on their own: echoing the question says
    nothing."""
    return find_themes_batch([replies], rules, [language], [question])[0]


def find_themes_batch(
    threads: Sequence[Sequence[ThemeReply]],
    rules: ThemeRules = ThemeRules(),
    languages: Sequence[str | None] | None = None,
    questions: Sequence[str] | None = None,
) -> list[tuple[Theme, ...]]:
    """The themes of each thread, in order: `find_themes` for many threads in one pass (one
    count of every reply's terms). `languages` gives each thread's language hint ("en",
    "cy", or None / "both" to decide per reply), `questions` each thread's question text."""
    results: list[tuple[Theme, ...]] = [() for _ in threads]
    if not rules.enabled or rules.max_themes <= 0:
        return results
    echoes = [_echoes(q) for q in questions] if questions is not None else None
    docs: list[list[str]] = []
    owner: list[int] = []  # thread index of each doc
    kept: list[ThemeReply] = []
    for index, thread in enumerate(threads):
        hint = languages[index] if languages is not None else None
        # Cheap before the work: too few replies or people can never qualify.
        if not _enough(thread, rules):
            continue
        tokens = [reply_tokens(r.text, hint) for r in thread]
        worded = [(r, t) for r, t in zip(thread, tokens, strict=True) if any(t)]
        if not _enough([r for r, _ in worded], rules):
            continue
        for reply, reply_tokens_ in worded:
            docs.append(reply_tokens_)
            owner.append(index)
            kept.append(reply)
        # Whole threads at a time, a bounded number of replies: memory stays flat however
        # many channels there are, and each thread is still scored on its own.
        if len(docs) >= CHUNK_REPLIES:
            _store(_score(docs, owner, kept, rules, echoes), results)
            docs, owner, kept = [], [], []
    if docs:
        _store(_score(docs, owner, kept, rules, echoes), results)
    return results


def _enough(replies: Sequence[ThemeReply], rules: ThemeRules) -> bool:
    people = len({r.author for r in replies})
    return len(replies) >= rules.min_replies and people >= max(
        rules.min_repliers, MIN_SUPPORT_PEOPLE
    )


def _store(found: dict[int, tuple[Theme, ...]], results: list[tuple[Theme, ...]]) -> None:
    for index, themes in found.items():
        results[index] = themes


def _runs(values):  # type: ignore[no-untyped-def]  # numpy arrays
    """The distinct values of a sorted array and how many times each occurs."""
    import numpy as np

    if len(values) == 0:
        return values, values
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    return values[starts], np.diff(np.append(starts, len(values)))


def _echoes(question: str) -> frozenset[str]:
    """The words of a question, in both languages' forms of its terms."""
    return frozenset(reply_terms(question, "en")) | frozenset(reply_terms(question, "cy"))


@dataclass(frozen=True, slots=True)
class _Weights:
    """Per-thread TF-IDF of a batch of replies (numpy arrays). An entry is a (reply, term)
    pair; a key a (thread, term) pair."""

    terms: list[str]
    rows: Any  # reply of each entry
    weights: Any  # its TF-IDF weight
    entry_key: Any  # its key
    key_thread: Any
    key_term: Any
    df: Any  # replies of the thread using the term
    score: Any  # summed weight, phrases boosted


def _tfidf(docs: list[list[str]], owner: list[int]) -> _Weights:
    """`docs` are the replies' `reply_tokens`; `owner` the thread of each."""
    import numpy as np

    # Every token of every reply in one array of word ids (-1 for a break, and one after each
    # reply so that no phrase spans two); phrases are then pairs of adjacent ids.
    words = sorted(set(chain.from_iterable(docs)) - {""})
    n_words = len(words)
    word_id = dict(zip(words, range(n_words), strict=True))
    word_id[""] = -1
    flat: list[str] = []
    for tokens in docs:
        flat += tokens
        flat.append("")
    ids = np.fromiter(map(word_id.__getitem__, flat), dtype=np.int64, count=len(flat))
    lengths = np.fromiter((len(t) + 1 for t in docs), dtype=np.int64, count=len(docs))
    doc_of = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
    first, second = ids[:-1], ids[1:]
    paired = (first >= 0) & (second >= 0) & (first != second)
    pair_codes = first[paired] * n_words + second[paired]
    pairs = np.unique(pair_codes)
    phrases = [
        f"{words[a]} {words[b]}"
        for a, b in zip((pairs // n_words).tolist(), (pairs % n_words).tolist(), strict=True)
    ]
    # Term ids in alphabetical order, so that ties broken by id are broken by the term: the
    # same in a batch of one thread or of 400.
    unsorted = words + phrases
    order = sorted(range(len(unsorted)), key=unsorted.__getitem__)
    terms = [unsorted[n] for n in order]
    n_terms = len(terms)
    rank = np.empty(n_terms, dtype=np.int64)
    rank[np.asarray(order, dtype=np.int64)] = np.arange(n_terms)
    single = ids >= 0
    entry_doc = np.concatenate((doc_of[single], doc_of[:-1][paired]))
    entry_term = np.concatenate(
        (rank[ids[single]], rank[n_words + np.searchsorted(pairs, pair_codes)])
    )
    # One entry per (reply, term) with its count, in reply order (so each thread's entries
    # are together).
    entries, counts = _runs(np.sort(entry_doc * n_terms + entry_term))
    rows, cols = entries // n_terms, entries % n_terms
    thread_of_doc = np.asarray(owner, dtype=np.int64)
    threads = thread_of_doc[rows]
    # One key per (thread, term): its document frequency in the thread.
    by_thread_term = np.argsort(threads * n_terms + cols, kind="stable")
    keys, df = _runs((threads * n_terms + cols)[by_thread_term])
    entry_key = np.empty(len(entries), dtype=np.int64)
    entry_key[by_thread_term] = np.repeat(np.arange(len(keys)), df)
    key_thread, key_term = keys // n_terms, keys % n_terms
    # scikit-learn's TfidfTransformer(sublinear_tf=True, smooth_idf=True, norm="l2"), with
    # n and df counted within each thread.
    docs_per_thread = np.bincount(thread_of_doc)
    idf = np.log((1 + docs_per_thread[key_thread]) / (1 + df)) + 1.0
    weights = (1.0 + np.log(counts)) * idf[entry_key]
    norms = np.sqrt(np.bincount(rows, weights=weights * weights, minlength=len(docs)))
    weights /= norms[rows]
    score = np.bincount(entry_key, weights=weights, minlength=len(keys))
    is_phrase = np.fromiter((" " in t for t in terms), dtype=bool, count=n_terms)
    score = np.where(is_phrase[key_term], score * PHRASE_BOOST, score)
    return _Weights(terms, rows, weights, entry_key, key_thread, key_term, df, score)


def term_scores(
    threads: Sequence[Sequence[str]], hint: str | None = None
) -> list[dict[str, float]]:
    """Each thread's terms (of its replies' texts) and their scores: the sum of the term's
    TF-IDF weights over the thread's replies, times `PHRASE_BOOST` for a phrase. For tests
    and for checking a digest by hand."""
    tokens = [[reply_tokens(text, hint) for text in thread] for thread in threads]
    docs = [t for thread in tokens for t in thread if any(t)]
    owner = [n for n, thread in enumerate(tokens) for t in thread if any(t)]
    result: list[dict[str, float]] = [{} for _ in threads]
    if not docs:
        return result
    w = _tfidf(docs, owner)
    for key in range(len(w.df)):
        result[int(w.key_thread[key])][w.terms[w.key_term[key]]] = float(w.score[key])
    return result


def _score(
    docs: list[list[str]],
    owner: list[int],
    replies: list[ThemeReply],
    rules: ThemeRules,
    echoes: list[frozenset[str]] | None,
) -> dict[int, tuple[Theme, ...]]:
    import numpy as np

    w = _tfidf(docs, owner)
    terms, rows, weights, entry_key = w.terms, w.rows, w.weights, w.entry_key
    key_thread, key_term, df, score = w.key_thread, w.key_term, w.df, w.score
    n_keys = len(df)
    # People per key: distinct (key, author) pairs.
    author_ids: dict[str, int] = {}
    author_of_doc = np.fromiter(
        (author_ids.setdefault(r.author, len(author_ids)) for r in replies),
        dtype=np.int64,
        count=len(replies),
    )
    n_authors = len(author_ids)
    pairs, _ = _runs(np.sort(entry_key * n_authors + author_of_doc[rows]))
    people = np.bincount(pairs // n_authors, minlength=n_keys)
    # Each key's entries, best weight first (then the earlier reply): the quote candidates.
    by_key = np.lexsort((rows, -weights, entry_key))
    starts = np.searchsorted(entry_key[by_key], np.arange(n_keys))
    eligible = np.flatnonzero((people >= MIN_SUPPORT_PEOPLE) & (df >= MIN_SUPPORT_PEOPLE))
    # Per thread, best score first; ties by the term (its id).
    order = eligible[np.lexsort((key_term[eligible], -score[eligible], key_thread[eligible]))]
    results: dict[int, tuple[Theme, ...]] = {}
    if len(order) == 0:
        return results
    bounds = np.searchsorted(key_thread[order], np.unique(key_thread[order])).tolist()
    for start, end in zip(bounds, [*bounds[1:], len(order)], strict=True):
        thread = int(key_thread[order[start]])
        chosen: list[Theme] = []
        used_words: set[str] = set()
        echo = echoes[thread] if echoes is not None else frozenset()
        quoted: set[int] = set()
        for key in order[start:end].tolist():
            phrase = terms[key_term[key]]
            words = set(phrase.split(" "))
            if words & used_words or words <= echo:
                continue
            candidates = rows[by_key[starts[key] : starts[key] + df[key]]].tolist()
            row = next((r for r in candidates if r not in quoted), candidates[0])
            quoted.add(row)
            used_words |= words
            reply = replies[row]
            chosen.append(
                Theme(
                    phrase=phrase,
                    replies=int(df[key]),
                    people=int(people[key]),
                    quote=quote_text(reply.text),
                    message_id=reply.message_id,
                )
            )
            if len(chosen) == rules.max_themes:
                break
        if chosen:
            results[thread] = tuple(chosen)
    return results
