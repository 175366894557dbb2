"""Wiring: settings -> database -> question set -> platform -> scheduler -> listeners."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TextIO

from bot.domain.clock import Clock, system_clock
from bot.domain.questions import load_question_set
from bot.platforms.base import ChatPlatform
from bot.platforms.console.platform import ConsolePlatform
from bot.services.context import Context
from bot.settings import PlatformName, Settings
from bot.store.db import Database

log = logging.getLogger(__name__)

# Modules that register content builders or listeners as they are imported. A feature that is
# not installed yet is simply absent.
FEATURE_MODULES = (
    "bot.services.ask",
    "bot.services.digest",
    "bot.services.nudge",
    "bot.services.collect",
    "bot.watch.watcher",
)


def load_features() -> None:
    for name in FEATURE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


@asynccontextmanager
async def platform_for(
    settings: Settings, out: TextIO | None = None
) -> AsyncIterator[ChatPlatform]:
    """Slack when there is a bot token, else the console."""
    if settings.platform is PlatformName.SLACK:
        from bot.platforms.slack.platform import SlackPlatform

        # One shared connection pool: a fan-out to many channels reuses connections.
        async with SlackPlatform.pooled(settings) as slack:
            yield slack
    else:
        yield ConsolePlatform(out)


@asynccontextmanager
async def open_context(
    settings: Settings,
    *,
    platform: ChatPlatform | None = None,
    clock: Clock = system_clock,
    out: TextIO | None = None,
) -> AsyncIterator[Context]:
    """A ready Context: migrations applied, questions loaded, platform chosen."""
    questions = load_question_set(settings.prompts_path)
    load_features()
    async with contextlib.AsyncExitStack() as stack:
        db = Database(settings.database_url)
        stack.push_async_callback(db.dispose)
        await db.upgrade()
        if platform is None:
            platform = await stack.enter_async_context(platform_for(settings, out))
        yield Context(settings=settings, db=db, platform=platform, questions=questions, clock=clock)


async def run_bot(settings: Settings) -> int:
    """`leaderbot run`: the scheduler and listeners until stopped (or EOF on the console)."""
    from bot.cli import StartupError
    from bot.scheduling.runner import BotScheduler

    http_mode = settings.platform is PlatformName.SLACK and not settings.socket_mode
    if http_mode and settings.slack_signing_secret is None:
        raise StartupError(
            "HTTP mode needs SLACK_SIGNING_SECRET (or set SLACK_APP_TOKEN for Socket Mode)"
        )
    async with open_context(settings) as ctx:
        scheduler = BotScheduler(ctx)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Event loops without signal support (Windows) raise here: Ctrl-C still works.
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await scheduler.start()
        try:
            if settings.platform is PlatformName.CONSOLE:
                from bot.platforms.console.session import run_console

                assert isinstance(ctx.platform, ConsolePlatform)
                log.info("no Slack credentials: running on the console platform")
                console = asyncio.create_task(run_console(ctx, sys.stdin))
                stopper = asyncio.create_task(stop.wait())
                await asyncio.wait({console, stopper}, return_when=asyncio.FIRST_COMPLETED)
                for task in (console, stopper):
                    task.cancel()
            else:
                from bot.platforms.slack.app import SlackRuntime

                runtime = SlackRuntime(ctx)
                try:
                    await runtime.start()
                except OSError as exc:
                    raise StartupError(
                        f"cannot listen on port {settings.port} ({exc.strerror}); "
                        "set LEADERBOT_PORT to a free port"
                    ) from None
                try:
                    await stop.wait()
                finally:
                    await runtime.stop()
        finally:
            await scheduler.shutdown()
    return 0
