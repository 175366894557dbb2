"""Admin commands (`/leadership` in Slack, `@leaderbot` in Teams, typed on the console),
platform-neutral. This package's public API is named here; the parts:

- commands: the entry point, `run` (words or text) and `execute` (a built command)
- command_parsing: the grammar with today's date and this question set
- replies: how a reply is written (`Style`), who asked (`Invocation`), the answer (`Outcome`)
- targets: which channel a command means, and joining it before posting there
- authorization: who the platform says someone is (cached briefly), and may they change things
- bot_admins: the people added with `admins add` (audited)
- channel_settings: the reads and writes the commands share (a channel's schedule, its row,
  a command's audit entry)
- summary: what a channel has set up, gathered (and which channels are served);
  summary_text: that written out (pure)
- formats / audit_text: times, schedules and audit entries as text (pure)
- reading_commands, ask_command, schedule_commands, digest_commands, feed_commands,
  admins_commands, quiet_commands, language_commands: carrying out each kind of command
"""

from __future__ import annotations

from bot.services.admin.audit_text import audit_line, describe_change
from bot.services.admin.authorization import ROLE_CACHE_TTL, admin_decision, authorize, who_is
from bot.services.admin.bot_admins import add_bot_admin, remove_bot_admin
from bot.services.admin.channel_settings import find_schedule
from bot.services.admin.command_parsing import local_today, parse
from bot.services.admin.commands import execute, run, went_wrong
from bot.services.admin.formats import rule_text, show_question, when
from bot.services.admin.replies import PLAIN, Invocation, Outcome, Style
from bot.services.admin.summary import ChannelSummary, feeds_of, served_channels, summarise
from bot.services.admin.summary_text import (
    digest_line,
    feeds_line,
    last_question_line,
    question_line,
)

__all__ = [
    "PLAIN",
    "ROLE_CACHE_TTL",
    "ChannelSummary",
    "Invocation",
    "Outcome",
    "Style",
    "add_bot_admin",
    "admin_decision",
    "audit_line",
    "authorize",
    "describe_change",
    "digest_line",
    "execute",
    "feeds_line",
    "feeds_of",
    "find_schedule",
    "last_question_line",
    "local_today",
    "parse",
    "question_line",
    "remove_bot_admin",
    "rule_text",
    "run",
    "served_channels",
    "show_question",
    "summarise",
    "went_wrong",
    "when",
    "who_is",
]
