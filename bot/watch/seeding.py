"""Seeding: the catalogue's confirmed feeds (feeds/catalogue.toml) added to the database when
missing. A removed catalogue feed stays removed (disabled, not deleted)."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.services.context import Context
from bot.store.models_feeds import Feed
from bot.watch.catalogue import CATALOGUE_PATH, CatalogueError, load_catalogue

log = logging.getLogger(__name__)

_SEEDED: dict[tuple[str, Path, bool], float] = {}


async def seed_catalogue(
    ctx: Context, path: Path = CATALOGUE_PATH, *, include_unconfirmed: bool = False
) -> int:
    """Add catalogue feeds not yet in the database (a removed one stays, disabled). Returns how
    many were added. Skipped while the file is unchanged since the last seed.

    Only `confirmed = true` entries are added automatically: a guessed URL would fail, back off
    and post a failure notice to every alerts channel. `leaderbot feeds add --catalogue` adds
    the unconfirmed ones on purpose."""
    try:
        mtime = path.stat().st_mtime  # noqa: ASYNC240  (one stat a cycle)
    except OSError as exc:
        raise CatalogueError(f"{path}: cannot read: {exc}") from None
    marker = (ctx.db.url, path, include_unconfirmed)
    if _SEEDED.get(marker) == mtime:
        return 0
    catalogue = load_catalogue(path)
    async with ctx.db.read() as session:
        present = set((await session.scalars(select(Feed.url))).all())
    missing = [
        entry
        for entry in catalogue
        if entry.url not in present and (entry.confirmed or include_unconfirmed)
    ]
    if missing:
        now = ctx.clock()
        try:
            async with ctx.db.write() as session:
                present = set((await session.scalars(select(Feed.url))).all())
                for entry in missing:
                    if entry.url in present:
                        continue
                    session.add(
                        Feed(
                            url=entry.url,
                            source=entry.name,
                            keywords=entry.keywords.as_list() or None,
                            publisher_is_subject=entry.publisher_is_subject,
                            from_catalogue=True,
                            enabled=True,
                            poll_interval_s=entry.poll_minutes * 60,
                            primed=False,
                            consecutive_failures=0,
                            failure_notified=False,
                            added_by="catalogue",
                            created_at=now,
                        )
                    )
        except IntegrityError:
            return 0  # another process seeded at the same moment; next cycle re-checks
        log.info("feeds: %d catalogue feed(s) added", len(missing))
    _SEEDED[marker] = mtime
    return len(missing)
