"""Wiring: settings -> database -> question set -> platforms -> services -> scheduler -> servers.

Everything is listed here, by hand: the chat platform adapters (`ADAPTERS`), how each kind of
post is built (`CONTENT_BUILDERS`), where `feeds add` reads the feed catalogue
(`Context.feed_catalogue`). A missing piece is an import error at start, never a
feature that silently is not there. Platform SDKs are imported only when that platform is
configured, so a command that needs none starts quickly.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from bot.domain.clock import Clock, system_clock
from bot.domain.language import use_catalogue
from bot.domain.questions import load_question_set
from bot.platforms.console.platform import ConsolePlatform
from bot.port import ChatPlatform
from bot.services import ask, digest, nudge, processes
from bot.services.context import ContentBuilder, Context, Platforms
from bot.services.inbound import Inbound
from bot.settings import Settings
from bot.store.db import Database
from bot.watch.alerts import build_alert
from bot.watch.catalogue import load_catalogue

if TYPE_CHECKING:
    # The HTTP server (aiohttp) is imported by `serving`, for `leaderbot run`: the commands
    # that only open a context (ask, schedules, digest, …) never listen.
    from bot.serving import HttpServer, PlatformRuntime

log = logging.getLogger(__name__)

# kind of outbox row -> how its content is built when it is sent.
CONTENT_BUILDERS: Mapping[str, ContentBuilder] = {
    "question": ask.question_content,
    "notice": ask.notice_content,
    "nudge": nudge.nudge_content,
    "digest": digest.digest_content,
    "alert": build_alert,
}


class StartupError(Exception):
    """The bot cannot start (port taken, settings incomplete): one line, exit 1."""


@asynccontextmanager
async def _open_slack(
    settings: Settings, db: Database, _out: TextIO | None
) -> AsyncIterator[ChatPlatform]:
    from bot.platforms.slack.platform import SlackPlatform
    from bot.store.token_cipher import SecretKeyError, TokenCipher

    if settings.slack_oauth:
        # Many workspaces: tokens are stored encrypted, so no key, no start.
        try:
            TokenCipher(settings.secret(settings.secret_key))
        except SecretKeyError as exc:
            raise StartupError(str(exc)) from None
    # One shared connection pool: a fan-out to many channels reuses connections.
    async with SlackPlatform.pooled(settings, db=db) as slack:
        yield slack


@asynccontextmanager
async def _open_teams(
    settings: Settings, db: Database, _out: TextIO | None
) -> AsyncIterator[ChatPlatform]:
    from bot.platforms.teams.platform import TeamsPlatform

    # The adapter reads which team each channel is in (and its service URL) from the database.
    async with TeamsPlatform.open(settings, db) as teams:
        yield teams


@dataclass(frozen=True)
class Adapter:
    """A chat platform: when it is configured, and how to open its outbound side."""

    name: str
    configured: Callable[[Settings], bool]
    open: Callable[[Settings, Database, TextIO | None], AbstractAsyncContextManager[ChatPlatform]]


# Every chat platform but the console, which runs only when none of these is configured.
ADAPTERS: tuple[Adapter, ...] = (
    Adapter("slack", lambda s: s.slack_configured, _open_slack),
    Adapter("teams", lambda s: s.teams_configured, _open_teams),
)


@asynccontextmanager
async def open_platforms(
    settings: Settings, db: Database, out: TextIO | None = None
) -> AsyncIterator[Platforms]:
    """Every configured platform, opened; the console alone when none is configured (keeping
    its messages in `db`, so that every process sees the same threads)."""
    async with contextlib.AsyncExitStack() as stack:
        adapters = [
            await stack.enter_async_context(adapter.open(settings, db, out))
            for adapter in ADAPTERS
            if adapter.configured(settings)
        ]
        yield Platforms(adapters or [ConsolePlatform(out, db=db)])


@asynccontextmanager
async def open_context(
    settings: Settings,
    *,
    platforms: Platforms | None = None,
    clock: Clock = system_clock,
    out: TextIO | None = None,
) -> AsyncIterator[Context]:
    """A ready Context: migrations applied, questions loaded, platforms opened."""
    questions = load_question_set(settings.prompts_path)
    # Read now, so a council's catalogue that cannot be used stops the start in one line.
    use_catalogue(settings.welsh_catalogue)
    async with contextlib.AsyncExitStack() as stack:
        db = Database(settings.database_url)
        stack.push_async_callback(db.dispose)
        await db.upgrade()
        if platforms is None:
            platforms = await stack.enter_async_context(open_platforms(settings, db, out))
        yield Context(
            settings=settings,
            db=db,
            platforms=platforms,
            questions=questions,
            builders=CONTENT_BUILDERS,
            clock=clock,
            feed_catalogue=load_catalogue,
        )


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Event loops without signal support (Windows) raise here: Ctrl-C still works.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def run_bot(settings: Settings) -> int:
    """`leaderbot run`: the scheduler, the listeners and the feed watcher until stopped (or
    end of input on the console)."""
    from bot.scheduling.runner import BotScheduler

    if settings.slack_configured and not settings.socket_mode and not settings.slack_signing_secret:
        raise StartupError(
            "HTTP mode needs SLACK_SIGNING_SECRET (or set SLACK_APP_TOKEN for Socket Mode)"
        )
    async with open_context(settings) as ctx, processes.alive(ctx):
        inbound = Inbound(ctx)
        scheduler = BotScheduler(ctx)
        stop = asyncio.Event()
        _stop_on_signals(stop)
        await scheduler.start()
        try:
            console = ctx.platforms.named("console")
            if isinstance(console, ConsolePlatform):
                await _run_console(ctx, console, stop)
            else:
                await _serve(ctx, inbound, stop)
        finally:
            await inbound.close()
            await scheduler.shutdown()
    return 0


async def _run_console(ctx: Context, console: ConsolePlatform, stop: asyncio.Event) -> None:
    from bot.platforms.console.session import run_console

    log.info("no chat platform configured: running on the console")
    session = asyncio.create_task(run_console(ctx, console, sys.stdin))
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({session, stopper}, return_when=asyncio.FIRST_COMPLETED)
    for task in (session, stopper):
        task.cancel()
    await asyncio.gather(session, stopper, return_exceptions=True)


def platform_runtimes(ctx: Context, inbound: Inbound) -> list[PlatformRuntime]:
    """The inbound side of every configured platform, listed."""
    runtimes: list[PlatformRuntime] = []
    if ctx.platforms.named("slack") is not None:
        from bot.platforms.slack.app import SlackRuntime

        runtimes.append(SlackRuntime(ctx, inbound))
    if ctx.platforms.named("teams") is not None:
        from bot.platforms.teams.inbound import TeamsInbound

        runtimes.append(TeamsInbound.for_context(ctx, inbound))
    return runtimes


@asynccontextmanager
async def serving(
    ctx: Context, inbound: Inbound, *, host: str | None = None, port: int | None = None
) -> AsyncIterator[HttpServer]:
    """Every configured platform's listeners on one HTTP server. Events lost while the bot
    was down are caught up aside, so the server answers at once."""
    from bot.serving import HttpServer

    server = HttpServer(
        platform_runtimes(ctx, inbound),
        host=ctx.settings.host if host is None else host,
        port=ctx.settings.port if port is None else port,
        settings=ctx.settings,
        ctx=ctx,
    )
    try:
        await server.start()
    except OSError as exc:
        await server.stop()
        raise StartupError(
            f"cannot listen on port {server.requested_port} ({exc.strerror}); "
            "set LEADERBOT_PORT to a free port"
        ) from None
    # What start-up loaded (modules, SQLAlchemy's mappers, the questions, the listeners) lives
    # as long as the process, and a full collection walks all of it: 70-75 ms on the 2-core
    # machine (150,000 objects), a stall every request in flight waits out. Frozen, the
    # collector skips it and a full collection walks only what was made since. Unfrozen on
    # the way out, so a process that serves again (the tests) can still collect it.
    gc.freeze()
    catch_up = asyncio.create_task(inbound.catch_up())
    try:
        yield server
    finally:
        catch_up.cancel()
        await asyncio.gather(catch_up, return_exceptions=True)
        await server.stop()
        gc.unfreeze()


async def _serve(ctx: Context, inbound: Inbound, stop: asyncio.Event) -> None:
    async with serving(ctx, inbound):
        await stop.wait()
