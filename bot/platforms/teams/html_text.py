"""Teams message bodies (HTML) to the plain text a person typed. Pure.

Teams sends a channel message's text as HTML (even when `textFormat` says "plain"), and Graph
returns bodies as HTML. The parser keeps the words, turns block elements and <br> into line
breaks, decodes entities once, keeps a mention's name as plain text, and drops what is not
text (scripts, styles, images, card placeholders). The result is stored and later escaped by
whichever renderer shows it; it is never trusted as markup.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "tr", "table", "blockquote", "pre", "h1", "h2", "h3"}
)
SKIPPED_TAGS = frozenset({"script", "style", "attachment", "template", "head", "title"})
MAX_INPUT_CHARS = 200_000  # Teams messages are capped far below this; a larger body is cut


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED_TAGS:
            self._skipping += 1
        elif tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in BLOCK_TAGS and tag != "br":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


_BLANK_RUNS = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t\u00a0]+\n")


def html_to_text(html: str) -> str:
    parser = _Text()
    parser.feed(html[:MAX_INPUT_CHARS])
    parser.close()
    text = "".join(parser.parts).replace("\r\n", "\n").replace("\u00a0", " ")
    text = _TRAILING_SPACE.sub("\n", text)
    return _BLANK_RUNS.sub("\n\n", text).strip()


_AT = re.compile(r"<at\b[^>]*>(.*?)</at>", re.IGNORECASE | re.DOTALL)


def strip_leading_mention(html: str, bot_name: str | None = None) -> tuple[bool, str]:
    """(whether the message starts with an @mention, the HTML after it). A command to the bot
    is "<at>leaderbot</at> status"; the mention itself is not part of the command."""
    stripped = html.lstrip()
    # Teams wraps a message in <p> or <div> when the client sends HTML.
    while True:
        opener = re.match(r"<(p|div)\b[^>]*>\s*", stripped, re.IGNORECASE)
        if opener is None:
            break
        stripped = stripped[opener.end() :]
    match = _AT.match(stripped)
    if match is None:
        return False, html
    if bot_name is not None and html_to_text(match.group(1)).strip() != bot_name:
        return False, html
    return True, stripped[match.end() :]
