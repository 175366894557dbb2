"""The feed catalogue and the match rules as data: reading and checking the TOML files.

In the domain layer because the feed admin service (`feeds add` takes a catalogue feed's
name, keywords and interval) and the watcher (seeding, rules) both read them. Where the files
are is not decided here: `bot.watch.catalogue` names the paths, and the caller passes them.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.domain.feed_match import Keywords, MatchRules, RulesError


class CatalogueError(ValueError):
    """A catalogue or rules file that cannot be used; the message names the file and field."""


@dataclass(frozen=True, slots=True)
class CatalogueFeed:
    name: str
    url: str
    confirmed: bool
    poll_minutes: int
    keywords: Keywords
    publisher_is_subject: bool
    note: str


class _FeedModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=10, max_length=2048)
    confirmed: bool
    poll_minutes: int | None = Field(None, ge=5, le=1440)
    keywords: list[str] = Field(default_factory=list, max_length=20)
    publisher_is_subject: bool = False
    note: str = ""

    @field_validator("url")
    @classmethod
    def _http_only(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value


class _CatalogueModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: dict[str, int] = Field(default_factory=dict)
    feeds: list[_FeedModel] = Field(default_factory=list)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogueError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{path}: not valid TOML: {exc}") from None


def read_catalogue(path: Path) -> tuple[CatalogueFeed, ...]:
    raw = read_toml(path)
    try:
        model = _CatalogueModel.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CatalogueError(f"{path}: field {where}: {first['msg']}") from None
    default_minutes = int(model.defaults.get("poll_minutes", 60))
    seen: set[str] = set()
    feeds: list[CatalogueFeed] = []
    for entry in model.feeds:
        if entry.url in seen:
            raise CatalogueError(f"{path}: {entry.url} is listed twice")
        seen.add(entry.url)
        feeds.append(
            CatalogueFeed(
                name=entry.name,
                url=entry.url,
                confirmed=entry.confirmed,
                poll_minutes=entry.poll_minutes or default_minutes,
                keywords=Keywords.parse(entry.keywords),
                publisher_is_subject=entry.publisher_is_subject,
                note=entry.note,
            )
        )
    return tuple(feeds)


def read_rules(path: Path) -> MatchRules:
    try:
        return MatchRules.from_mapping(read_toml(path))
    except RulesError as exc:
        raise CatalogueError(f"{path}: {exc}") from None


def find_in_catalogue(url: str, catalogue: Sequence[CatalogueFeed]) -> CatalogueFeed | None:
    return next((entry for entry in catalogue if entry.url == url), None)
