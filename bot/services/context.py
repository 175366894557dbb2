"""What every use case needs, built once by `bot.runtime` and passed down."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.domain.clock import Clock, system_clock
from bot.domain.feed_catalogue import CatalogueFeed
from bot.domain.questions import QuestionSet
from bot.port import UNKNOWN_CHANNEL, ChatPlatform, PermanentFailure
from bot.settings import Settings
from bot.store.db import Database

if TYPE_CHECKING:
    from bot.store.models import Post

# How rows of one kind of post become content; may be async (a digest reads the database).
ContentBuilder = Callable[["Post", "Context"], Any]

# Reads the feed catalogue (bot.watch.catalogue.load_catalogue, wired by bot.runtime).
CatalogueLoader = Callable[[], Sequence[CatalogueFeed]]


def no_feed_catalogue() -> Sequence[CatalogueFeed]:
    """A Context built without a catalogue: every feed added is an unlisted one."""
    return ()


class Platforms:
    """The configured chat platforms, each asked in turn whether a channel id is its own."""

    def __init__(self, adapters: Sequence[ChatPlatform]) -> None:
        if not adapters:
            raise ValueError("at least one chat platform is needed")
        self._adapters = tuple(adapters)

    def __iter__(self) -> Iterator[ChatPlatform]:
        return iter(self._adapters)

    def named(self, name: str) -> ChatPlatform | None:
        return next((a for a in self._adapters if a.name == name), None)

    def for_channel(self, channel_id: str) -> ChatPlatform:
        """The platform whose channel this is; PermanentFailure (UNKNOWN_CHANNEL) if none."""
        for adapter in self._adapters:
            if adapter.owns(channel_id):
                return adapter
        names = " or ".join(a.name for a in self._adapters)
        raise PermanentFailure(
            f"{channel_id!r} is not a channel id of {names} (the platforms configured here)",
            code=UNKNOWN_CHANNEL,
        )


@dataclass
class Context:
    settings: Settings
    db: Database
    platforms: Platforms
    questions: QuestionSet
    # kind of post -> how its content is built (bot.runtime.CONTENT_BUILDERS).
    builders: Mapping[str, ContentBuilder]
    clock: Clock = field(default=system_clock)
    # Called after a schedule changes, so a running scheduler rebuilds its jobs.
    schedule_changed: Callable[[], None] | None = None
    # Where `feeds add` finds a listed feed's name, keywords and interval.
    feed_catalogue: CatalogueLoader = field(default=no_feed_catalogue)

    def platform_for(self, channel_id: str) -> ChatPlatform:
        return self.platforms.for_channel(channel_id)
