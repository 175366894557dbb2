"""The one door through which every platform adapter hands the core what happened.

Adapters turn their platform's JSON into the neutral events of `bot.port` and call these
methods; no adapter stores a reply, purges a workspace or runs a command its own way.

Replies go through the batching writer (`reply_writer`): `reply` returns once the reply is
committed (group commit, a few ms), and an adapter acknowledges its platform only after that,
so an acknowledged reply survives a crash. A purge waits for every change queued before it,
so a reply queued earlier cannot survive the purge.
"""

from __future__ import annotations

import logging

from bot.port import Installed, Uninstalled
from bot.services.channels import record_workspace_channels
from bot.services.collect import ReconcileResult, ReplyChange, reconcile_recent
from bot.services.context import Context
from bot.services.privacy import purge_workspace
from bot.services.reply_writer import writer_for

log = logging.getLogger(__name__)


class Inbound:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.writer = writer_for(ctx)

    async def reply(self, change: ReplyChange) -> None:
        """A message in a thread was posted, edited or deleted (the core decides whether the
        thread is one of its questions). Returns once it is durably written (its batch
        committed); raises if it could not be, and then the platform must not be acked."""
        await self.writer.store(change)

    async def installed(self, event: Installed) -> None:
        """The app joined a workspace: remember its channels (and what the platform needs)."""
        await record_workspace_channels(self.ctx, event)
        log.info("installed in %s workspace %s", event.platform, event.workspace_id)

    async def uninstalled(self, event: Uninstalled) -> None:
        """The app left a workspace: purge its data, after the changes queued before."""

        async def purge() -> None:
            await purge_workspace(self.ctx, event.platform, event.workspace_id)

        try:
            await self.writer.after_pending(purge)
        except Exception:
            log.exception("purging %s workspace %s failed", event.platform, event.workspace_id)

    async def catch_up(self) -> ReconcileResult:
        """At start: bring this week's question threads up to date (events lost while the bot
        was down). Never raises: the digest reconciles again."""
        try:
            result = await reconcile_recent(self.ctx)
        except Exception as exc:
            log.exception("reconciling this week's threads at start failed")
            return ReconcileResult(error=str(exc))
        log.info(
            "reconciled this week's threads: +%d ~%d -%d",
            result.added,
            result.updated,
            result.removed,
        )
        return result

    async def close(self) -> None:
        """At stop: write the changes still queued (their requests are not acknowledged yet)."""
        await self.writer.close()
