"""Where the feed catalogue and the match rules are (bot/data/feeds/: data, not code), and
loading them from there. Reading and checking the files is `bot.domain.feed_catalogue`."""

from __future__ import annotations

from pathlib import Path

from bot.data import bundled
from bot.domain.feed_catalogue import (
    CatalogueError,
    CatalogueFeed,
    find_in_catalogue,
    read_catalogue,
    read_rules,
)
from bot.domain.feed_match import MatchRules

# Shipped inside the package (bot/data/feeds/) so that a non-editable install has them too.
CATALOGUE_PATH = bundled("feeds/catalogue.toml")
RULES_PATH = bundled("feeds/rules.toml")
FEEDS_DIR = CATALOGUE_PATH.parent

__all__ = [
    "CATALOGUE_PATH",
    "FEEDS_DIR",
    "RULES_PATH",
    "CatalogueError",
    "CatalogueFeed",
    "find_in_catalogue",
    "load_catalogue",
    "load_rules",
]


def load_catalogue(path: Path = CATALOGUE_PATH) -> tuple[CatalogueFeed, ...]:
    return read_catalogue(path)


_RULES_CACHE: dict[Path, tuple[float, MatchRules]] = {}


def load_rules(path: Path = RULES_PATH) -> MatchRules:
    """Cached until the file changes: the watcher asks every cycle."""
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise CatalogueError(f"{path}: cannot read: {exc}") from None
    cached = _RULES_CACHE.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    rules = read_rules(path)
    _RULES_CACHE[path] = (mtime, rules)
    return rules
