"""bench/digest: the weekly digests of 400 channels holding 20,000 replies between them.

    python -m bench.digest [--channels 400] [--replies 20000] [--runs 3] [--no-baseline]
    python -m bench.digest --no-themes              # the digests without "what people said"
    python -m bench.digest --replies 100000         # the "Close to the floor" target

A child process seeds SQLite (in a temporary directory) through the models: per channel this
week's question and its share of the replies (each three sentences from `SENTENCES`, about
200 characters, two of the thirteen in Welsh), plus the display-name cache. This process then,
per run:

- data: builds every channel's digest with one call of the service's batched builder,
  `bot.services.digest.build_channel_digests` (reconciliation off: no Slack), i.e. the reads
  (one query per table for all channels), the display names, member counts, the themes of
  every question thread (`bot.domain.themes.find_themes_batch`, unless `--no-themes`) and
  `build_digest`; with themes on, they are also timed alone afterwards (wall and CPU), on the
  same replies, so their share can be read beside a noisy total;
- charts: draws each digest's PNG participation chart (`participation_chart`), as posting
  or the HTML export does;

and prints both, their total and this process's peak RSS over the runs (each run first drops
the last run's digests and charts, so it is what one build holds; printed again after the
themes are timed alone). Not included: seeding, imports,
rendering Slack blocks, JSON or HTML, and anything over the network. After the first run,
the batched digests are checked against `build_channel_digest` (one channel at a time) for a
sample of channels (not timed); `--per-channel` also times that for every channel, for
comparison.

Baseline (unless --no-baseline), after the runs: the reply rows alone, i.e. the columns the
digests read from `replies` for the window's questions, (a) as one query through the same
`Database` (SQLAlchemy + aiosqlite), (b) as the same SELECT with the standard sqlite3 module:
the floor for reading the data, printed with the ratio.

Targets: 20,000 replies (issue 3): the 400 digests in < 1 s and < 200 MB; 100,000 replies
("Close to the floor", `--replies 100000`): < 1.5 s and < 200 MB. The verdict is given for
the digest data and, beside it, for data + charts. Peak RSS is this process's (seeding is
in a child).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import multiprocessing
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench._support import peak_rss_mb

WINDOW_DAYS = 7

# Replies are three of these sentences each (chosen by the reply's and channel's numbers), so
# the themes have a real vocabulary to work on; about 200 characters a reply, as before.
SENTENCES = (
    "We would share platforms with neighbouring councils.",
    "Stop duplicate reporting & fix data quality first.",
    "Staff need digital skills training, not another portal.",
    "Legacy systems eat the budget every single year.",
    "Residents expect services online that actually work.",
    "Cloud hosting saved us money but contracts are messy.",
    "Leadership culture matters more than any new tool.",
    "Data sharing agreements take months to sign.",
    "Mae angen i ni rannu data gyda chynghorau eraill.",
    "Rydyn ni'n gwastraffu amser ar adroddiadau dyblyg.",
    "Cyber security training for every member of staff.",
    "Procurement rules slow down every digital project.",
    "Small teams cannot keep up with the demand.",
)


def reply_text(r: int, c: int) -> str:
    picks = (SENTENCES[(r + c) % len(SENTENCES)], SENTENCES[(r * 3 + c) % len(SENTENCES)])
    return f"Reply {r} in C{c:06d}: " + " ".join(picks) + " " + SENTENCES[(r * 7) % 13]


def channel_ids(count: int) -> list[str]:
    return [f"C{n:06d}" for n in range(count)]


# ----------------------------------------------------------------------------- seeding


async def seed(url: str, channels: int, replies: int, now: datetime) -> None:
    from sqlalchemy import insert

    from bot.store.db import Database
    from bot.store.models import Channel, ChatUser, Post, Reply

    db = Database(url)
    await db.upgrade()
    asked = now - timedelta(days=3)
    per_channel = replies // channels
    people = max(1, per_channel // 2)  # each person replies about twice
    channel_rows, post_rows, user_rows, reply_rows = [], [], [], []
    for c, cid in enumerate(channel_ids(channels)):
        thread_ts = f"{int(asked.timestamp())}.{c:06d}"
        channel_rows.append(
            {"id": cid, "platform": "slack", "name": f"leaders-{c}", "created_at": asked}
        )
        post_rows.append(
            {
                "id": c + 1,
                "key": f"question:bench:{cid}",
                "kind": "question",
                "channel_id": cid,
                "question_id": f"Q{c % 10 + 1}",
                "due_at": asked,
                "status": "sent",
                "attempts": 1,
                "message_id": thread_ts,
                "link": f"https://example.slack.com/archives/{cid}/p{thread_ts}",
                "created_at": asked,
                "sent_at": asked,
            }
        )
        for p in range(people):
            user_rows.append(
                {
                    "id": f"U{c:04d}{p:04d}",
                    "display_name": f"Person {p} of team {c}",
                    "fetched_at": now,
                }
            )
        for r in range(per_channel):
            posted = asked + timedelta(minutes=r + 1)
            reply_rows.append(
                {
                    "post_id": c + 1,
                    "channel_id": cid,
                    "user_id": f"U{c:04d}{r % people:04d}",
                    "text": reply_text(r, c),
                    "message_id": f"{int(posted.timestamp())}.{r:06d}",
                    "thread_id": thread_ts,
                    "edited": r % 7 == 0,
                    "posted_at": posted,
                    "updated_at": posted,
                }
            )
    async with db.write() as session:
        for model, rows in (
            (Channel, channel_rows),
            (Post, post_rows),
            (ChatUser, user_rows),
            (Reply, reply_rows),
        ):
            for start in range(0, len(rows), 5000):
                await session.execute(insert(model), rows[start : start + 5000])
    await db.dispose()


def seed_in_child(url: str, channels: int, replies: int, now: datetime) -> None:
    asyncio.run(seed(url, channels, replies, now))


# ----------------------------------------------------------------------------- baseline

REPLY_COLUMNS = "post_id, user_id, text, message_id, edited, posted_at"


async def bare_reads(url: str, channels: int, runs: int) -> tuple[float, float, int]:
    """(seconds through Database, seconds through sqlite3, rows): the median of `runs` reads
    of every window reply row, one query each."""
    from sqlalchemy import select

    from bot.store.db import Database
    from bot.store.models import Reply

    post_ids = list(range(1, channels + 1))
    query = (
        select(
            Reply.post_id,
            Reply.user_id,
            Reply.text,
            Reply.message_id,
            Reply.edited,
            Reply.posted_at,
        )
        .where(Reply.post_id.in_(post_ids))
        .order_by(Reply.id)
    )
    db = Database(url)
    via_db, via_sqlite, rows = [], [], 0
    try:
        for _ in range(runs):
            started = time.perf_counter()
            async with db.read() as session:
                rows = len((await session.execute(query)).all())
            via_db.append(time.perf_counter() - started)
    finally:
        await db.dispose()
    path = url.split("///", 1)[1]
    marks = ",".join("?" * len(post_ids))
    sql = f"SELECT {REPLY_COLUMNS} FROM replies WHERE post_id IN ({marks}) ORDER BY id"
    for _ in range(runs):
        started = time.perf_counter()
        with sqlite3.connect(path) as conn:
            conn.execute(sql, post_ids).fetchall()
        conn.close()
        via_sqlite.append(time.perf_counter() - started)
    return statistics.median(via_db), statistics.median(via_sqlite), rows


# ----------------------------------------------------------------------------- building


async def build_all(
    url: str,
    channels: int,
    now: datetime,
    runs: int,
    *,
    per_channel: bool = False,
    themes: bool = True,
) -> tuple[list[tuple[float, float]], float]:
    """(data seconds, chart seconds) for each run, and the peak RSS (MB) over the runs, before
    the themes are timed alone; see the module's docstring."""
    from bot.domain.chart import participation_chart
    from bot.domain.digest import Digest, DigestWindow
    from bot.domain.questions import load_question_set
    from bot.platforms.console.platform import ConsolePlatform
    from bot.runtime import CONTENT_BUILDERS
    from bot.services.context import Context, Platforms
    from bot.services.digest import build_channel_digest, build_channel_digests
    from bot.settings import BUNDLED_PROMPTS, Settings
    from bot.store.db import Database

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, DATABASE_URL=url, LEADERBOT_THEMES=themes
    )
    db = Database(url)
    ctx = Context(
        settings=settings,
        db=db,
        platforms=Platforms([ConsolePlatform(io.StringIO(), user="bench")]),
        builders=CONTENT_BUILDERS,
        questions=load_question_set(BUNDLED_PROMPTS),
        clock=lambda: now,
    )
    window = DigestWindow(start=now - timedelta(days=WINDOW_DAYS), end=now)
    ids = channel_ids(channels)
    timings = []
    data_cpus: list[float] = []  # CPU of this process (all threads): steadier than wall time
    digests: dict[str, Digest] = {}
    charts: list[bytes] = []
    try:
        for run in range(runs):
            # The last run's digests and charts go first: the peak is what one build holds.
            digests, charts = {}, []
            started, cpu = time.perf_counter(), time.process_time()
            digests = await build_channel_digests(ctx, ids, window, reconcile=False)
            data = time.perf_counter() - started
            data_cpus.append(time.process_time() - cpu)
            started = time.perf_counter()
            charts = [participation_chart(d.participation) for d in digests.values()]
            chart = time.perf_counter() - started
            timings.append((data, chart))
            replies = sum(d.reply_count for d in digests.values())
            found = sum(len(q.themes) for d in digests.values() for q in d.questions)
            print(
                f"  run {run + 1}: {replies} replies in {len(digests)} digests, {found} themes"
                f" | data {data:.3f} s ({data_cpus[-1]:.3f} s CPU) | {len(charts)} charts"
                f" {chart:.3f} s"
                f" | total {data + chart:.3f} s | peak RSS so far {peak_rss_mb():.0f} MB"
            )
            if run == 0:  # the same digests as building one channel at a time (not timed)
                for cid in ids[:: max(1, channels // 20)]:
                    one = await build_channel_digest(ctx, cid, window, reconcile=False)
                    if one != digests[cid]:
                        raise SystemExit(f"the batched digest of {cid} differs from its own")
        print(f"  data CPU, median of {runs}: {statistics.median(data_cpus):.3f} s")
        runs_rss = peak_rss_mb()
        if themes:  # the themes' share of the data figure, timed alone on the same replies
            from bot.domain.themes import ThemeReply, find_themes_batch

            threads = [
                [ThemeReply(r.text, r.user_id, r.message_id) for r in q.replies]
                for d in digests.values()
                for q in d.questions
            ]
            questions = [q.question.text for d in digests.values() for q in d.questions]
            walls, cpus = [], []
            for _ in range(runs):
                wall, cpu = time.perf_counter(), time.process_time()
                find_themes_batch(threads, questions=questions)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
            print(
                f"  themes alone (find_themes_batch, {len(threads)} threads, median of {runs}):"
                f" {statistics.median(walls):.3f} s wall, {statistics.median(cpus):.3f} s CPU"
            )
        if per_channel:  # for comparison: one call per channel, as before the batched builder
            started = time.perf_counter()
            for cid in ids:
                await build_channel_digest(ctx, cid, window, reconcile=False)
            wall = time.perf_counter() - started
            print(f"  for comparison, build_channel_digest channel by channel: data {wall:.3f} s")
    finally:
        await db.dispose()
    return timings, runs_rss


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.digest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--channels", type=int, default=400)
    parser.add_argument("--replies", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3, help="timed runs (the first is cold)")
    parser.add_argument(
        "--per-channel",
        action="store_true",
        help="also time build_channel_digest called once per channel (not in the figures)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare reads")
    parser.add_argument(
        "--no-themes", action="store_true", help="digests without themes (LEADERBOT_THEMES=false)"
    )
    args = parser.parse_args()
    target_s = 1.0 if args.replies <= 20_000 else 1.5
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        # Seeded in a child process, so this process's peak RSS is the digests' alone.
        child = multiprocessing.get_context("spawn").Process(
            target=seed_in_child, args=(url, args.channels, args.replies, now)
        )
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"seeding failed (exit {child.exitcode})")

        import numpy  # noqa: F401  # imports are not part of the figures

        import bot.domain.chart
        import bot.services.digest  # noqa: F401

        base_rss = peak_rss_mb()
        print(
            f"{args.replies} replies over {args.channels} channels (SQLite, reconcile off);"
            " data = build_channel_digests for all channels, charts = one PNG per digest;"
            f" themes {'off' if args.no_themes else 'on'}"
        )
        timings, rss = asyncio.run(
            build_all(
                url,
                args.channels,
                now,
                args.runs,
                per_channel=args.per_channel,
                themes=not args.no_themes,
            )
        )
        # `rss` is the runs' peak; then the themes timed alone (100,000 `ThemeReply`s at once
        # at 100,000 replies) and, below, the baseline, which reads every row at once.
        all_rss = peak_rss_mb()
        bare = None
        if not args.no_baseline:
            bare = asyncio.run(bare_reads(url, args.channels, args.runs))
    data = statistics.median(t[0] for t in timings)
    chart = statistics.median(t[1] for t in timings)
    total = statistics.median(t[0] + t[1] for t in timings)
    print(
        f"median of {len(timings)}: data {data:.3f} s, charts {chart:.3f} s, total {total:.3f} s"
        f" ({data / args.channels * 1000:.2f} + {chart / args.channels * 1000:.2f} ms a digest)"
    )
    print(
        f"peak RSS {rss:.0f} MB over the runs ({base_rss:.0f} MB after imports;"
        f" {all_rss:.0f} MB with the themes timed alone)"
    )
    if bare is not None:
        via_db, via_sqlite, rows = bare
        print(
            f"bare: the {rows} reply rows in one query: {via_db:.3f} s through Database"
            f" (SQLAlchemy + aiosqlite), {via_sqlite:.3f} s through sqlite3"
            f" -> the digest data is {data / via_db:.1f}x / {data / via_sqlite:.1f}x that"
        )
    print(
        f"target ({args.replies} replies, {args.channels} digests < {target_s:g} s,"
        f" < 200 MB): {'met' if data < target_s and rss < 200 else 'NOT met'} (digest data,"
        f" {data:.3f} s, {rss:.0f} MB); with charts {total:.3f} s:"
        f" {'met' if total < target_s and rss < 200 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
