"""What /healthz and /metrics ask of the core: does the database answer, and how far behind
is the outbox (read from the database, since any process may be the one sending)."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from bot.services.context import Context
from bot.store.models import Post

log = logging.getLogger(__name__)

DATABASE_CHECK_TIMEOUT_S = 2.0
UNSENT = ("pending", "sending")


async def database_answers(ctx: Context) -> tuple[bool, str | None]:
    """True when the database answers a trivial query within a couple of seconds."""
    try:
        async with asyncio.timeout(DATABASE_CHECK_TIMEOUT_S), ctx.db.read() as session:
            await session.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        reason = "no answer in time" if isinstance(exc, TimeoutError) else type(exc).__name__
        log.warning("health check: the database does not answer (%s)", reason)
        return False, reason
    return True, None


async def outbox_backlog(ctx: Context) -> tuple[int, float]:
    """How many posts are due and unsent, and how long the oldest of them has been due."""
    now = ctx.clock()
    async with ctx.db.read() as session:
        count, oldest = (
            await session.execute(
                select(func.count(Post.id), func.min(Post.due_at)).where(
                    Post.status.in_(UNSENT), Post.due_at <= now
                )
            )
        ).one()
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return int(count), age
