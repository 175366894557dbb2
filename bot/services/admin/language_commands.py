"""`language cy|en|both`: what the bot writes in a channel (admins only, audited).

The reply is written in the language just chosen (Welsh, then English, for `both`), so the
person sees at once what the channel will read.
"""

from __future__ import annotations

from bot.domain.command_grammar import SetLanguage
from bot.domain.language import N_, translator
from bot.services import channels
from bot.services.admin.channel_settings import remember_channel
from bot.services.admin.replies import Invocation, Outcome, change_made
from bot.services.admin.targets import Where
from bot.services.context import Context

# One whole sentence per language: Welsh mutates the words after "yn" (yn Gymraeg).
NOW_WRITTEN_IN = {
    "en": N_("{channel} now gets its questions, nudges, digests and alerts in English."),
    "cy": N_("{channel} now gets its questions, nudges, digests and alerts in Welsh."),
    "both": N_(
        "{channel} now gets its questions, nudges, digests and alerts in Welsh, then English."
    ),
}
ALREADY = N_("Nothing changed: {channel} is already set to `{code}`.")


async def set_language(ctx: Context, cmd: SetLanguage, where: Where, inv: Invocation) -> Outcome:
    await remember_channel(ctx, where, inv)
    before = await channels.set_language(ctx, where.id, cmd.language, actor=inv.user_id)
    t = translator(cmd.language)
    channel = inv.style.channel(where.id)
    if before == cmd.language:
        text = t.each(
            lambda t: inv.style.escape(t.gettext(ALREADY)).format(
                channel=channel, code=cmd.language
            ),
            "\n",
        )
        return Outcome(text)
    message = NOW_WRITTEN_IN[cmd.language]
    return change_made(
        t.each(lambda t: inv.style.escape(t.gettext(message)).format(channel=channel), "\n")
    )
