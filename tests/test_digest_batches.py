"""The batched builder works through the channels a batch at a time (memory holds one batch's
rows): any batch size gives the same digests, and each user is still looked up once per call.
On SQLite, and on PostgreSQL when LEADERBOT_TEST_POSTGRES_URL is set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from bot.services import digest as digest_service
from bot.services.digest import build_channel_digest, build_channel_digests
from bot.store.models import Reply
from tests.test_digest_service import ALL, WINDOW, names, platform, seed


async def test_small_batches_give_the_same_digests_and_look_each_user_up_once(
    database_url: str, make_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = platform()
    ctx = await make_context(database_url, chat)
    seeded = await seed(ctx)
    # UGHOST (no cached name, users.info fails) also replies in C2, a later batch than C1's.
    c2_post = next(p for p in seeded.posts if p.key == "q:C2:1")
    assert c2_post.sent_at is not None
    when = c2_post.sent_at + timedelta(minutes=7)
    async with ctx.db.write() as session:
        session.add(
            Reply(
                post_id=c2_post.id,
                channel_id="C2",
                user_id="UGHOST",
                text="Me too",
                message_id=f"{int(when.timestamp())}.000777",
                thread_id=c2_post.message_id,
                posted_at=datetime.fromtimestamp(int(when.timestamp()), UTC),
                updated_at=when,
            )
        )

    whole = await build_channel_digests(ctx, ALL, WINDOW, reconcile=False)
    assert chat.lookups == ["U3", "UGHOST"]
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    monkeypatch.setattr(digest_service, "BATCH_CHANNELS", 2)
    chat.lookups.clear()
    event.listen(ctx.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        batched = await build_channel_digests(ctx, ALL, WINDOW, reconcile=False)
    finally:
        event.remove(ctx.db.engine.sync_engine, "before_cursor_execute", count)
    # U3 was cached by the first build; UGHOST's failure is remembered across the batches.
    assert chat.lookups == ["UGHOST"]
    # Three batches (C1 C2, C3 C4, C5), each one read per table: C3 C4 have no thread in
    # the window (no replies, no names), C5's one author is known by then (no names).
    assert len(statements) == 6 + 4 + 5
    assert list(batched) == ALL
    assert batched == whole
    assert names(batched["C2"])[0][-1] == ("UGHOST", "Me too", False)

    monkeypatch.setattr(digest_service, "BATCH_CHANNELS", 1)
    assert await build_channel_digests(ctx, ALL, WINDOW, reconcile=False) == whole
    singles = {cid: await build_channel_digest(ctx, cid, WINDOW, reconcile=False) for cid in ALL}
    assert singles == whole
