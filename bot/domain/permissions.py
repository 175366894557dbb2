"""Who may change leaderbot's settings: a pure decision over what the platform said.

Reading is open to everyone. Changing needs a workspace admin or owner, a user in
LEADERBOT_ADMINS, or one added with `/leadership admins add`. Guests, deactivated accounts and
bots never may, whatever list they are on. When the platform could not tell us who someone
is, we refuse (fail closed) and say so: a stale "yes" is worse than a retry.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass, field

from bot.domain.command_grammar import SLASH, CommandBase, is_change
from bot.domain.content import UserInfo
from bot.domain.language import N_, Translator
from bot.domain.messages import Msg, one_line
from bot.domain.parsing import show


@dataclass(frozen=True, slots=True)
class Decision:
    """`reason`: for a refusal, the one-line message to show; for a yes, the role that allowed
    it (for the audit log), e.g. "workspace admin"."""

    allowed: bool
    reason: str
    # A refusal as a catalogue message, written in the channel's language by `text`.
    message: Msg | None = field(default=None, compare=False)

    def text(self, t: Translator) -> str:
        """The reason in `t`'s language (Welsh then English for `both`)."""
        if self.message is None:
            return self.reason
        message = self.message
        return t.each(lambda one: one_line(message.render(one)))


def _refuse(message: Msg) -> Decision:
    return Decision(False, one_line(str(message)), message)


# The roles that allow a change, in the order they are checked (the audit log names the first).
WORKSPACE_OWNER = "workspace owner"
WORKSPACE_ADMIN = "workspace admin"
ALLOW_LISTED = "listed in LEADERBOT_ADMINS"
BOT_ADMIN = f"added with {SLASH} admins add"
READING = "reading is open to everyone"

WHO_CAN_CHANGE_MSG = Msg(
    N_(
        "Only workspace admins and owners, and people added as leaderbot admins, can change "
        "settings. Ask one of them (`{slash} admins` lists them); `{slash} status` shows the "
        "current settings."
    ),
    slash=SLASH,
)
WHO_CAN_CHANGE = str(WHO_CAN_CHANGE_MSG)


def _lookup_failed(why: str, platform_label: str | None) -> Decision:
    role = (
        Msg(N_("your {platform} role"), platform=platform_label)
        if platform_label
        else Msg(N_("your role in the workspace"))
    )
    return _refuse(
        Msg(
            N_(
                "I couldn't check {role} ({why}), so I can't make changes right now. "
                "Try again in a minute. (Reading still works, e.g. `{slash} status`.)"
            ),
            role=role,
            why=show(why),
            slash=SLASH,
        )
    )


def decide_admin(
    user: UserInfo | None,
    *,
    user_id: str,
    allowlist: Set[str],
    bot_admins: Set[str],
    lookup_error: str | None,
    platform_label: str | None = None,
) -> Decision:
    """May `user_id` change settings? `user` is what users.info said (None if it said nothing),
    `allowlist` is LEADERBOT_ADMINS, `bot_admins` the users added with `admins add`, and
    `lookup_error` why users.info failed, if it did. `platform_label` names the platform in a
    refusal ("your Slack role"); without it the words are neutral."""
    if lookup_error is not None:
        return _lookup_failed(lookup_error, platform_label)
    if user is None:
        return _lookup_failed("no answer about you", platform_label)
    if user.id != user_id:
        # Details for someone else would be a bug upstream: never decide on them.
        return _lookup_failed("the answer was about someone else", platform_label)
    # The hard "never"s come before every list: a guest on LEADERBOT_ADMINS is still a guest.
    if user.deleted:
        return _refuse(
            Msg(
                N_(
                    "Deactivated accounts can't change leaderbot settings. "
                    "Ask someone who can (`{slash} admins` lists them)."
                ),
                slash=SLASH,
            )
        )
    if user.is_bot:
        return _refuse(
            Msg(
                N_(
                    "Bots and apps can't change leaderbot settings. "
                    "Ask someone who can (`{slash} admins` lists them)."
                ),
                slash=SLASH,
            )
        )
    if user.is_guest:
        return _refuse(
            Msg(
                N_(
                    "Guests can't change leaderbot settings, even when listed as admins. "
                    "Ask someone who can (`{slash} admins` lists them)."
                ),
                slash=SLASH,
            )
        )
    if user.is_owner:
        return Decision(True, WORKSPACE_OWNER)
    if user.is_admin:
        return Decision(True, WORKSPACE_ADMIN)
    if user_id in allowlist:
        return Decision(True, ALLOW_LISTED)
    if user_id in bot_admins:
        return Decision(True, BOT_ADMIN)
    return _refuse(WHO_CAN_CHANGE_MSG)


def decide_command(
    command: CommandBase,
    user: UserInfo | None,
    *,
    user_id: str,
    allowlist: Set[str],
    bot_admins: Set[str],
    lookup_error: str | None,
    platform_label: str | None = None,
) -> Decision:
    """Reading commands are allowed for anyone (even when users.info is down); changes go
    through `decide_admin`."""
    if not is_change(command):
        return Decision(True, READING)
    return decide_admin(
        user,
        user_id=user_id,
        allowlist=allowlist,
        bot_admins=bot_admins,
        lookup_error=lookup_error,
        platform_label=platform_label,
    )
