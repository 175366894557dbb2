"""Feed items: is this a Socitm report?  Which question does it relate to?  Is it one we saw?

Pure logic, no I/O. The rules themselves are data (feeds/rules.toml, loaded by
`bot.watch.catalogue`); this module only knows how to apply them:

- `match_item`: names Socitm (or its long names) AND carries a report cue, in the title, the
  summary or the categories; per-feed keywords widen (plain), require (+word) or exclude (-word).
- `relate_question`: the theme the item talks about most, then the question of that theme
  whose wording it shares most.
- `normalise_link` / `display_link` / `item_keys`: the dedupe identity of an item (guid, link
  alias with tracking parameters stripped, title+date fallback).
- `html_to_text` / `one_paragraph` / `clean_text`: untrusted feed text made plain and bounded.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from bot.domain.questions import Question


class RulesError(ValueError):
    """Match rules that cannot be used; the message names the field."""


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One entry of a feed, already plain text and bounded (see bot.watch.parser)."""

    title: str
    link: str | None = None
    guid: str | None = None
    summary: str = ""
    categories: tuple[str, ...] = ()
    published: datetime | None = None
    author: str | None = None


@dataclass(frozen=True, slots=True)
class MatchRules:
    """What makes an item a Socitm report, and how items relate to question themes."""

    names: tuple[str, ...]
    cues: tuple[str, ...]
    # Ordered: on a tie the earlier theme wins.
    themes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    tracking_params: frozenset[str] = frozenset()
    tracking_prefixes: tuple[str, ...] = ()
    summary_chars: int = 400
    title_chars: int = 300
    _compiled: dict[str, re.Pattern[str]] = field(
        default_factory=dict, compare=False, repr=False, hash=False
    )

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> MatchRules:
        def strings(where: Mapping[str, Any], key: str, label: str) -> tuple[str, ...]:
            value = where.get(key, [])
            if not isinstance(value, list) or not all(
                isinstance(v, str) and v.strip() for v in value
            ):
                raise RulesError(f"{label}: expected a list of non-empty strings")
            return tuple(v.strip() for v in value)

        match = raw.get("match", {})
        if not isinstance(match, Mapping):
            raise RulesError("[match]: expected a table")
        names = strings(match, "names", "match.names")
        cues = strings(match, "cues", "match.cues")
        if not names or not cues:
            raise RulesError("match.names and match.cues must each list at least one term")
        themes_raw = raw.get("themes", [])
        if not isinstance(themes_raw, list):
            raise RulesError("[[themes]]: expected an array of tables")
        themes: list[tuple[str, tuple[str, ...]]] = []
        for i, theme in enumerate(themes_raw):
            if not isinstance(theme, Mapping) or not isinstance(theme.get("theme"), str):
                raise RulesError(f"themes[{i}].theme: expected a string")
            themes.append((theme["theme"], strings(theme, "keywords", f"themes[{i}].keywords")))
        links = raw.get("links", {})
        if not isinstance(links, Mapping):
            raise RulesError("[links]: expected a table")
        alert = raw.get("alert", {})
        if not isinstance(alert, Mapping):
            raise RulesError("[alert]: expected a table")
        summary_chars = alert.get("summary_chars", 400)
        title_chars = alert.get("title_chars", 300)
        for label, value in (("summary_chars", summary_chars), ("title_chars", title_chars)):
            if not isinstance(value, int) or not 40 <= value <= 3000:
                raise RulesError(f"alert.{label}: expected a whole number from 40 to 3000")
        return cls(
            names=names,
            cues=cues,
            themes=tuple(themes),
            tracking_params=frozenset(
                p.lower() for p in strings(links, "tracking_params", "links.tracking_params")
            ),
            tracking_prefixes=tuple(
                p.lower() for p in strings(links, "tracking_prefixes", "links.tracking_prefixes")
            ),
            summary_chars=summary_chars,
            title_chars=title_chars,
        )

    def pattern(self, kind: str, terms: Sequence[str]) -> re.Pattern[str]:
        """Compiled once per rules object: matching runs for every new item of every feed."""
        key = kind + "\x00" + "\x00".join(terms)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = compile_terms(terms)
            self._compiled[key] = compiled
        return compiled


@dataclass(frozen=True, slots=True)
class Keywords:
    """Per-feed keywords. Plain words widen, `+word` requires, `-word` excludes."""

    widen: tuple[str, ...] = ()
    require: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def parse(cls, words: Iterable[str] | None) -> Keywords:
        widen: list[str] = []
        require: list[str] = []
        exclude: list[str] = []
        for raw in words or ():
            word = " ".join(raw.split())
            if word.startswith("+") and word[1:].strip():
                require.append(word[1:].strip())
            elif word.startswith("-") and word[1:].strip():
                exclude.append(word[1:].strip())
            elif word and word not in ("+", "-"):
                widen.append(word)
        return cls(tuple(widen), tuple(require), tuple(exclude))

    def as_list(self) -> list[str]:
        return [*self.widen, *(f"+{w}" for w in self.require), *(f"-{w}" for w in self.exclude)]

    def __bool__(self) -> bool:
        return bool(self.widen or self.require or self.exclude)


@dataclass(frozen=True, slots=True)
class Match:
    matched: bool
    reason: str


# --- text -------------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "tr",
        "table",
        "section",
        "article",
        "header",
        "footer",
        "figure",
        "figcaption",
        "pre",
        "hr",
        "dd",
        "dt",
    }
)
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript", "head", "title"})
# Invisible or direction-changing characters: they can hide or reorder text in a chat client.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n" if tag == "p" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n" if tag == "p" else "\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def clean_text(text: str) -> str:
    """Drop control and invisible characters; collapse spaces within lines."""
    text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub(" ", text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_to_text(markup: str, limit: int = 20_000) -> str:
    """Plain text of an HTML fragment (or of plain text with entities). Bounded input: the
    caller's field cap keeps this linear and small."""
    markup = markup[:limit]
    if "<" not in markup:
        return clean_text(unescape(markup))
    collector = _TextCollector()
    try:
        collector.feed(markup)
        collector.close()
    except Exception:  # HTMLParser is lenient; never let odd markup stop an item
        return clean_text(re.sub(r"<[^>]*>", " ", unescape(markup)))
    return clean_text("".join(collector.parts))


def cap(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"


def one_paragraph(text: str, limit: int) -> str:
    """The first non-empty paragraph, as one line, capped."""
    for para in re.split(r"\n\s*\n", text):
        line = " ".join(para.split())
        if line:
            return cap(line, limit)
    return ""


def _fold(text: str) -> str:
    """Case- and punctuation-insensitive form for matching ("Socitm’s" -> "socitm's")."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return text.translate(_FOLD_TABLE)


_FOLD_TABLE = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u00a0": " ",
    }
)


def compile_terms(terms: Sequence[str]) -> re.Pattern[str]:
    """One regex for a list of terms. Words are matched whole, separated by any punctuation or
    space ("Innovation, Technology" matches "innovation technology"); a trailing `*` allows any
    ending ("report*" matches "reports", "reporting")."""
    alternatives: list[str] = []
    for term in terms:
        prefix = term.endswith("*")
        words = re.findall(r"\w+", _fold(term.rstrip("*")))
        if not words:
            continue
        body = r"\W+".join(re.escape(w) for w in words)
        alternatives.append(body + (r"\w*" if prefix else "") + r"(?!\w)")
    if not alternatives:
        return re.compile(r"(?!x)x")  # matches nothing
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + ")")


def _haystack(item: FeedItem) -> str:
    return _fold("\n".join([item.title, item.summary, *item.categories]))


def match_item(
    item: FeedItem,
    rules: MatchRules,
    keywords: Keywords = Keywords(),
    *,
    publisher_is_subject: bool = False,
) -> Match:
    """Is `item` a Socitm report (under this feed's keywords)?  The reason says why or why not.

    `publisher_is_subject`: the feed is Socitm's own, so every item names Socitm implicitly
    (its press releases say "we", or lead with partner bodies).
    """
    text = _haystack(item)
    if keywords.exclude:
        found = rules.pattern("kw", keywords.exclude).search(text)
        if found:
            return Match(False, f"excluded by keyword -{found.group(0)}")
    if keywords.require:
        for word in keywords.require:
            if not rules.pattern("kw", (word,)).search(text):
                return Match(False, f"missing required keyword +{word}")
    if keywords.widen:
        found = rules.pattern("kw", keywords.widen).search(text)
        if found:
            return Match(True, f"feed keyword {found.group(0)!r}")
    name = rules.pattern("names", rules.names).search(text)
    if name is None and not publisher_is_subject:
        return Match(False, "does not name Socitm")
    cue = rules.pattern("cues", rules.cues).search(text)
    if cue is None:
        return Match(False, "names Socitm but has no report cue")
    who = repr(name.group(0)) if name else "Socitm's own feed"
    return Match(True, f"names {who} with report cue {cue.group(0)!r}")


# --- themes -----------------------------------------------------------------------------------

_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "could",
        "do",
        "does",
        "for",
        "from",
        "have",
        "how",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "our",
        "rather",
        "than",
        "that",
        "the",
        "their",
        "them",
        "there",
        "these",
        "this",
        "those",
        "to",
        "what",
        "which",
        "while",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "yours",
        "more",
        "most",
        "make",
        "making",
        "being",
        "been",
        "were",
        "was",
        "would",
        "should",
    }
)


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", _fold(text)) if len(w) > 3 and w not in _STOPWORDS}


def relate_question(
    item: FeedItem, questions: Sequence[Question], rules: MatchRules
) -> Question | None:
    """The question an item relates to: the best-scoring theme (title hits count double), then
    among that theme's questions the one sharing most words with the item. None if no theme
    keyword appears."""
    title = _fold(item.title)
    body = _fold("\n".join([item.summary, *item.categories]))
    scored: list[tuple[int, int, str]] = []
    for order, (theme, terms) in enumerate(rules.themes):
        pattern = rules.pattern("theme", terms)
        score = 2 * len(set(pattern.findall(title))) + len(set(pattern.findall(body)))
        if score:
            scored.append((-score, order, theme))
    words = _content_words(item.title + " " + item.summary)
    for _, _, theme in sorted(scored):
        candidates = [q for q in questions if q.theme.casefold() == theme.casefold()]
        if candidates:
            # max() keeps the first of equals: the question set's own order breaks ties.
            return max(candidates, key=lambda q: len(words & _content_words(q.text)))
    return None


# --- links and identity -----------------------------------------------------------------------


def _split_http(url: str | None) -> Any:
    if not url:
        return None
    url = url.strip()
    if len(url) > 4096 or any(ord(ch) < 33 for ch in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return parts, port


def _is_tracking(name: str, rules: MatchRules) -> bool:
    lowered = name.lower()
    return lowered in rules.tracking_params or lowered.startswith(rules.tracking_prefixes)


def display_link(url: str | None, rules: MatchRules) -> str | None:
    """The link to show: http(s) only, no credentials, no fragment, no tracking parameters."""
    split = _split_http(url)
    if split is None:
        return None
    parts, port = split
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not _is_tracking(k, rules)]
    query = parts.query if len(kept) == len(pairs) else urlencode(kept, quote_via=quote)
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", query, ""))


def normalise_link(url: str | None, rules: MatchRules) -> str | None:
    """A link's dedupe identity: scheme folded (http = https), host lowercased, default port,
    fragment and tracking parameters dropped, trailing slash dropped, query sorted."""
    split = _split_http(url)
    if split is None:
        return None
    parts, port = split
    host = parts.hostname.lower().rstrip(".")
    if port in (80, 443):
        port = None
    netloc = host if port is None else f"{host}:{port}"
    path = parts.path.rstrip("/")
    pairs = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not _is_tracking(k, rules)
    )
    return urlunsplit(("https", netloc, path, urlencode(pairs, quote_via=quote), ""))


def normalise_title(title: str) -> str:
    return " ".join(re.findall(r"\w+", _fold(title)))


def _key(kind: str, *parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return f"{kind}:{digest}"


def item_keys(item: FeedItem, feed_key: str, rules: MatchRules) -> tuple[str, ...]:
    """Every identity an item is known by; two items sharing any key are the same story.

    - the guid, scoped to the feed by `feed_key` (feeds number their items "1", "2"…, so
      guids are not globally unique). `feed_key` must never name another feed, past or
      present: the watcher passes the feed's URL, not its id (SQLite reuses a deleted id);
    - the normalised link (and the guid when it is itself a link), across all feeds: the same
      story in two feeds, or a story whose guid changed;
    - the normalised title with the publication date, across all feeds: a story whose guid and
      link both changed.
    With none of these, the title alone, scoped to the feed.
    """
    keys: list[str] = []
    guid = (item.guid or "").strip()
    if guid:
        keys.append(_key("g", feed_key, guid))
    for candidate in (item.link, guid):
        link = normalise_link(candidate, rules)
        if link:
            key = _key("l", link)
            if key not in keys:
                keys.append(key)
    title = normalise_title(item.title)
    if title and item.published is not None:
        keys.append(_key("t", title, item.published.date().isoformat()))
    if not keys and title:
        keys.append(_key("n", feed_key, title))
    return tuple(keys)
