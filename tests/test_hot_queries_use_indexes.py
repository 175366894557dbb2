"""Every hot query is answered from an index: no full scan of replies, posts or feed items.

The statements are the ones the code really issues: captured (before_cursor_execute) while a
batch of events is applied, a thread is reconciled and due posts are claimed, then explained
with their own parameters. SQLite: EXPLAIN QUERY PLAN, failing on "SCAN <table>" (a full
table or full index scan). PostgreSQL: EXPLAIN with enable_seqscan off (the tables here are
small, and a plan that still has a "Seq Scan on <table>" has no index it could use).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, text

from bot.services.ask import ask_and_deliver
from bot.services.collect import reconcile_thread
from bot.services.context import Context
from bot.services.outbox import _claim
from bot.services.reply_writer import apply_batch
from tests.replies import deletion, reply_change

HOT_TABLES = ("replies", "posts", "feed_items", "reply_tombstones", "processed_events")
_TOUCHES = re.compile(r"\b(" + "|".join(HOT_TABLES) + r")\b")
_SQLITE_SCAN = re.compile(r"^SCAN (" + "|".join(HOT_TABLES) + r")\b")
_PG_SCAN = re.compile(r"Seq Scan on (" + "|".join(HOT_TABLES) + r")\b")

Captured = list[tuple[str, Any]]


@contextmanager
def capture(ctx: Context) -> Iterator[Captured]:
    """The single-row statements (SELECT, UPDATE, DELETE) on the hot tables, with parameters."""
    seen: Captured = []

    def before(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool
    ) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if not many and verb in ("SELECT", "UPDATE", "DELETE") and _TOUCHES.search(statement):
            seen.append((statement, parameters))

    engine = ctx.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


async def full_scans(ctx: Context, statements: Captured) -> list[str]:
    """The plans with a full scan of a hot table, each with its statement."""
    found: list[str] = []
    async with ctx.db.engine.connect() as conn:
        if not ctx.db.sqlite:
            await conn.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in statements:
            if ctx.db.sqlite:
                rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                plan = [str(row[-1]) for row in rows.all()]
                bad = [line for line in plan if _SQLITE_SCAN.search(line)]
            else:
                rows = await conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)
                plan = [str(row[0]) for row in rows.all()]
                bad = [line for line in plan if _PG_SCAN.search(line)]
            if bad:
                found.append(f"{' '.join(statement.split())}\n    " + "\n    ".join(plan))
        await conn.rollback()
    return found


def tables_of(statements: Captured) -> set[str]:
    return {table for s, _ in statements for table in _TOUCHES.findall(s)}


async def test_ingest_reconcile_and_claim_never_scan_a_hot_table(
    database_url: str, make_context: Any
) -> None:
    ctx = await make_context(database_url)
    with capture(ctx) as statements:
        # Claiming (and sending) a due question.
        post = (await ask_and_deliver(ctx, "C1")).post
        assert post.message_id
        await _claim(ctx, only_keys=None, limit=10)

        def change(n: int, text: str = "", **fields: Any) -> Any:
            return reply_change(
                "C1",
                post.message_id or "",
                f"{1_800_000_000 + n}.000100",
                f"U{n}",
                text or f"reply {n}",
                event_id=fields.pop("event_id", f"Ev{n}"),
                **fields,
            )

        # A batch: new replies, an edit, a deletion, a retry; then one that finds them stored.
        await apply_batch(
            ctx,
            [change(1), change(2), change(3), deletion("C1", f"{1_800_000_003}.000100", "EvD3")],
        )
        await apply_batch(
            ctx,
            [change(1, "edited", edited=True, event_id="EvE1"), change(2), change(4)],
        )
        await apply_batch(ctx, [deletion("C1", f"{1_800_000_001}.000100", "EvD1")])
        # Reading the thread back (the console platform holds none of these replies).
        await reconcile_thread(ctx, post)

    assert {"replies", "posts", "reply_tombstones", "processed_events"} <= tables_of(statements)
    scans = await full_scans(ctx, statements)
    assert not scans, "full scans of a hot table:\n" + "\n".join(scans)


async def test_postgres_plans_each_execution_so_a_reused_look_up_keeps_its_index(
    database_url: str, make_context: Any
) -> None:
    """The driver prepares every statement, and after five runs PostgreSQL may switch a
    prepared statement to a generic plan: for the batch look-up (`= ANY($1)`) that is a scan of
    the whole replies table. The bot's connections plan each execution instead."""
    ctx = await make_context(database_url)
    if ctx.db.sqlite:
        pytest.skip("PostgreSQL's plan cache")
    async with ctx.db.read() as session:
        mode = (await session.execute(text("SHOW plan_cache_mode"))).scalar_one()
    assert mode == "force_custom_plan"
