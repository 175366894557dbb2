"""`/leadership` end to end: signed slash commands over HTTP to the running app, against the
fake Slack Web API; replies caught where Slack's response_url would be."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from bot.platforms.slack.listeners import commands
from bot.platforms.slack.membership import MEMBERSHIP_TTL_S
from bot.platforms.slack.platform import SlackPlatform
from bot.services.context import Context, Platforms
from bot.store.models import AuditEntry, Schedule
from tests.fakes import eventually
from tests.fakes.slack_api import HttpError, Latency
from tests.slack_harness import (
    ADDED,
    ADMIN,
    ALLOWED,
    DELETED,
    GUEST,
    LISTED_GUEST,
    MEMBER,
    OWNER,
    ROBOT,
    SCGUEST,
    UNKNOWN,
    Slack,
)
from tests.slack_harness import slack as slack  # the running app: a shared fixture
from tests.slack_harness import slack_any_db as slack_any_db  # the same, on any database


async def question_schedule(ctx: Context, channel: str = "C1") -> Schedule | None:
    async with ctx.db.read() as session:
        return await session.scalar(
            select(Schedule).where(Schedule.channel_id == channel, Schedule.kind == "question")
        )


async def audit_count(ctx: Context) -> int:
    async with ctx.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def says_what_to_type(text: str) -> bool:
    """Every refusal and error names a command to type (in backticks), or the invite."""
    return bool(re.search(r"`/leadership[^`]*`", text)) or "/invite @leaderbot" in text


# ----------------------------------------------------------------------------- the basics


async def test_status_acks_empty_then_replies_only_to_the_sender(slack: Slack) -> None:
    text = await slack.say("status", user=MEMBER)
    assert "Weekly question: not set" in text
    assert "`/leadership schedule mon 09:00`" in text
    assert not slack.fake.calls("chat.postMessage")  # nothing public


async def test_the_ack_comes_before_the_work(slack: Slack) -> None:
    slack.fake.inject("users.info", Latency(2.5))  # the permission check is slow today
    n, took = await slack.command("schedule mon 09:00")
    assert took < 1.0  # Slack needs the ack within 3 s: it does not wait for users.info
    reply = await slack.catcher.reply(n, within=10)
    assert reply["text"].startswith("Done: the weekly question in <#C1>")


async def test_reply_falls_back_to_chat_post_ephemeral(slack: Slack) -> None:
    closed = "http://127.0.0.1:9/nobody-listens"  # the discard port: refused
    await slack.command("help", user=MEMBER, response_url=closed)

    async def posted() -> bool:
        return bool(slack.fake.ephemerals)

    await eventually(posted)
    ephemeral = slack.fake.ephemerals[0]
    assert (ephemeral["channel"], ephemeral["user"]) == ("C1", MEMBER)
    assert "/leadership: the weekly leadership question" in ephemeral["text"]


async def test_typed_text_is_escaped_in_the_reply(slack: Slack) -> None:
    text = await slack.say("frobnicate <!channel> &", user=MEMBER)
    assert "<!channel>" not in text
    assert "I don't know `frobnicate`" in text


# ----------------------------------------------------------------------------- permissions


@pytest.mark.parametrize(
    ("user", "refusal"),
    [
        (ADMIN, None),
        (OWNER, None),
        (ALLOWED, None),
        (ADDED, None),
        (MEMBER, "Only workspace admins and owners"),
        (GUEST, "Guests can't change"),
        (SCGUEST, "Guests can't change"),
        (LISTED_GUEST, "even when listed as admins"),
        (DELETED, "Deactivated accounts can't"),
        (ROBOT, "Bots and apps can't"),
        (UNKNOWN, "couldn't check your Slack role"),
    ],
)
async def test_permission_matrix(slack: Slack, user: str, refusal: str | None) -> None:
    text = await slack.say("schedule tue 10:00", user=user)
    schedule = await question_schedule(slack.ctx)
    if refusal is None:
        assert text.startswith("Done: the weekly question in <#C1> is Tuesdays at 10:00")
        assert schedule is not None
        async with slack.ctx.db.read() as session:
            actors = (await session.scalars(select(AuditEntry.actor))).all()
        assert user in actors  # who made the change is recorded
    else:
        assert refusal in text
        assert schedule is None
        assert says_what_to_type(text)


async def test_users_info_failing_refuses_changes_but_not_reading(slack: Slack) -> None:
    slack.fake.inject("users.info", HttpError(500))
    text = await slack.say("schedule mon 09:00")
    assert "couldn't check your Slack role" in text and "Try again in a minute" in text
    assert await question_schedule(slack.ctx) is None
    slack.fake.inject("users.info", HttpError(500))
    assert "Weekly question: not set" in await slack.say("status")
    assert slack.fake.pending_faults("users.info") == 1  # reading never asked who you are


async def test_a_member_cannot_change_anything_and_is_told_why(slack: Slack) -> None:
    before = await audit_count(slack.ctx)
    for text in (
        "ask Q3",
        "schedule mon 09:00",
        "schedule off",
        "pause",
        "resume",
        "digest fri 16:00",
        "digest now",
        "digest off",
        "alerts on",
        "admins add <@U0MEMBER|member>",
        "admins remove <@U0ADDED|added>",
    ):
        reply = await slack.say(text, user=MEMBER)
        assert "Only workspace admins and owners" in reply, text
        assert "`/leadership admins`" in reply
    assert await audit_count(slack.ctx) == before
    assert not slack.fake.calls("chat.postMessage")
    assert not slack.fake.calls("conversations.join")


# ----------------------------------------------------------------------------- acceptance


async def test_an_admin_sets_pauses_resumes_and_views_a_schedule(slack_any_db: Slack) -> None:
    slack = slack_any_db
    done = await slack.say("schedule monday 9:30am London")
    assert "Mondays at 09:30 (Europe/London)" in done and "Next: Mon 19 Jan 2026, 09:30 GMT" in done

    status = await slack.say("status", user=MEMBER)
    assert "Weekly question: Mondays at 09:30 (Europe/London)." in status
    assert "Next post: Mon 19 Jan 2026, 09:30 GMT." in status
    assert "Digest: Fridays at 16:00 (Europe/London)" in status

    paused = await slack.say("pause until 2026-02-01")
    assert "Paused" in paused and "Mon 2 Feb 2026, 09:30 GMT" in paused
    assert "paused until 2026-02-01" in await slack.say("status")

    resumed = await slack.say("resume")
    assert resumed.startswith("Resumed") and "Mon 19 Jan 2026" in resumed

    status = await slack.say("status")
    changes = status.split("Recent changes:")[1]
    assert changes.index("question.resume") < changes.index("question.pause")
    assert "paused_until 2026-02-01 → none" in changes  # before → after
    assert f"<@{ADMIN}>" in changes


async def test_an_admin_asks_a_question_which_is_posted_exactly_once(slack_any_db: Slack) -> None:
    slack = slack_any_db
    reply = await slack.say("ask Q3")
    assert reply.startswith("Posted Q3 in <#C1>")
    posts = slack.fake.calls("chat.postMessage")
    assert len(posts) == 1
    assert posts[0].body["channel"] == "C1"
    messages = slack.fake.messages("C1")
    assert len(messages) == 1 and "Q3" in messages[0].text
    assert "hiring and keeping staff" in json.dumps(messages[0].blocks)
    assert "Last question: <https://fake.slack.com/archives/C1/" in await slack.say("status")


async def test_the_bot_joins_a_public_channel_it_is_asked_to_post_in(slack: Slack) -> None:
    reply = await slack.say("schedule wed 14:00 in <#C2|leaders>")
    assert reply.startswith("Done: the weekly question in <#C2>")
    assert [c.body["channel"] for c in slack.fake.calls("conversations.join")] == ["C2"]
    assert await question_schedule(slack.ctx, "C2") is not None
    assert await question_schedule(slack.ctx, "C1") is None


def joins(slack: Slack) -> list[str]:
    return [c.body["channel"] for c in slack.fake.calls("conversations.join")]


async def test_a_second_schedule_in_a_channel_does_not_join_it_again(slack: Slack) -> None:
    assert (await slack.say("schedule wed 14:00 in <#C2|leaders>")).startswith("Done")
    assert (await slack.say("schedule thu 10:00 in <#C2|leaders>")).startswith("Done")
    assert (await slack.say("pause until 2099-01-01 in <#C2|leaders>")).startswith("Paused")
    assert (await slack.say("resume in <#C2|leaders>")).startswith("Resumed")
    assert joins(slack) == ["C2"]  # the first join is remembered


async def test_after_the_bot_is_removed_the_next_schedule_joins_again(slack: Slack) -> None:
    await slack.say("schedule wed 14:00 in <#C2|leaders>")
    slack.fake.channels["C2"].is_member = False  # someone removed the bot from #leaders
    failed = await slack.say("ask Q1 in <#C2|leaders>")  # the memo skips the join: not_in_channel
    assert "Q1 was not posted" in failed and "/invite @leaderbot" in failed
    assert (await slack.say("schedule thu 10:00 in <#C2|leaders>")).startswith("Done")
    assert joins(slack) == ["C2", "C2"]  # the failed post made it forget the channel
    assert (await slack.say("ask Q1 in <#C2|leaders>")).startswith("Posted Q1 in <#C2>")


async def test_a_channel_is_joined_again_once_the_memo_expires(slack: Slack) -> None:
    now = [1000.0]
    platform = SlackPlatform.from_settings(slack.ctx.settings, clock=lambda: now[0])
    slack.ctx.platforms = Platforms([platform])
    await slack.say("schedule wed 14:00 in <#C2|leaders>")
    now[0] += MEMBERSHIP_TTL_S - 1
    await slack.say("schedule thu 10:00 in <#C2|leaders>")
    assert joins(slack) == ["C2"]
    now[0] += 2  # past MEMBERSHIP_TTL_S since the join
    await slack.say("schedule fri 11:00 in <#C2|leaders>")
    assert joins(slack) == ["C2", "C2"]


async def test_a_private_channel_needs_an_invitation_first(slack: Slack) -> None:
    reply = await slack.say("ask <#G1|secret>")
    assert "private channel" in reply and "/invite @leaderbot" in reply
    assert not slack.fake.calls("chat.postMessage")
    slack.fake.channels["G1"].is_member = True  # someone typed /invite @leaderbot
    assert (await slack.say("ask <#G1|secret>")).startswith("Posted Q1 in <#G1>")


async def test_a_channel_slack_did_not_recognise(slack: Slack) -> None:
    reply = await slack.say("status #nosuchchannel")
    assert "I can't find `#nosuchchannel`" in reply and says_what_to_type(reply)


# ----------------------------------------------------------------------------- every command

HAPPY = [
    ("help", "Anyone can use:"),
    ("help schedule", "/leadership schedule:"),
    ("questions", "*Q10* · "),
    ("status", "Alerts about new Socitm reports: off."),
    ("ask", "Posted Q1 in <#C1>"),
    ("schedule fri 8am", "Fridays at 08:00 (Europe/London)"),
    ("digest thu 17:00 <#C2|leaders>", "goes out Thursdays at 17:00 (Europe/London) in <#C2>"),
    ("digest now", "Posted the digest of the last 7 days of <#C1>"),
    ("feeds", "No news feeds for <#C1> yet"),
    ("feeds add https://www.socitm.net/feed/ digital", "Watching feed 1 (Socitm) for <#C1>"),
    ("alerts on", "Alerts on: <#C1>"),
    ("admins", "Listed in LEADERBOT_ADMINS"),
    ("admins add <@U0MEMBER|member>", "<@U0MEMBER> can now change"),
]


@pytest.mark.parametrize(("text", "expected"), HAPPY)
async def test_happy_paths(slack: Slack, text: str, expected: str) -> None:
    assert expected in await slack.say(text)


async def test_feeds_and_alerts(slack: Slack) -> None:
    added = await slack.say("feeds add <https://www.socitm.net/feed/> digital")
    assert added.startswith("Watching feed 1 (Socitm) for <#C1>")
    assert "Alerts are now on here: `/leadership alerts off` stops them" in added
    again = await slack.say("feeds add https://www.socitm.net/feed/")
    assert "already watched, as feed 1" in again and "`/leadership feeds`" in again
    listing = await slack.say("feeds", user=MEMBER)
    assert "• 1: Socitm, <https://www.socitm.net/feed/|https://www.socitm.net/feed/>" in listing
    assert "keywords digital" in listing
    assert "already on in <#C1>" in await slack.say("alerts on")
    assert "Feeds: 1 Socitm" in await slack.say("status")
    assert "Stopped watching feed 1 (Socitm)" in await slack.say("feeds remove 1")
    async with slack.ctx.db.read() as session:
        actions = (await session.scalars(select(AuditEntry.action))).all()
    assert {"feeds.add", "alerts", "feeds.remove"} <= set(actions)


async def test_happy_paths_that_need_a_schedule(slack: Slack) -> None:
    await slack.say("schedule mon 09:00")
    assert "`/leadership resume` ends the pause" in await slack.say("pause until 2026-03-02")
    assert "until you type `/leadership resume`" in await slack.say("pause")
    assert (await slack.say("resume")).startswith("Resumed")
    assert "is off" in await slack.say("schedule off")
    assert "weekly digest of <#C1> is off" in await slack.say("digest off")
    assert "already off" in await slack.say("alerts off")
    assert "Alerts on" in await slack.say("alerts on")
    assert "Alerts off" in await slack.say("alerts off")
    assert "no longer a leaderbot admin" in await slack.say("admins remove <@U0ADDED|added>")


ERRORS = [
    ("help frob", "There is no `frob` command"),
    ("statsu", "Did you mean `status`?"),
    ("status now", "I didn't expect `now` there"),
    ("questions all", "I didn't expect `all` there"),
    ("ask Q99", "There is no Q99"),
    ("schedule mon 25:00", "`/leadership schedule mon 09:00`"),
    ("schedule mon 09:00 Londn", "Europe/London"),
    ("schedule", "Give a day and a time"),
    ("schedule off", "has no weekly question yet"),
    ("pause", "has no weekly question yet"),
    ("pause until 2020-01-01", "has already passed"),
    ("pause until 14/02/2026", "did you mean `2026-02-14`"),
    ("resume", "has no weekly question yet"),
    ("digest fri 99:00", "`/leadership digest fri 09:00`"),
    ("digest noww", "`/leadership digest now`"),
    ("digest off", "has no weekly digest on"),
    ("feeds add notaurl", "`/leadership feeds add https://www.socitm.net/feed/"),
    ("feeds remove x", "`/leadership feeds remove 3`"),
    ("feeds remove 9", "There is no feed 9: `/leadership feeds` lists them"),
    ("alerts maybe", "`/leadership alerts on`"),
    ("admins add jane", "is not a person"),
    ("admins add @jane", "pick them from the list"),
    ("admins add <@U0GUEST|guest>", "guests never can"),
    ("admins add <@U0ROBOT|robot>", "it is a bot"),
    ("admins add <@U0NOBODY|x>", "couldn't check who"),
    ("admins remove <@U0MEMBER|member>", "nothing to remove"),
    ("admins remove <@U0ALLOWED|allowed>", "LEADERBOT_ADMINS"),
]


@pytest.mark.parametrize(("text", "expected"), ERRORS)
async def test_error_paths_say_what_to_type_instead(slack: Slack, text: str, expected: str) -> None:
    reply = await slack.say(text)
    assert expected in reply
    assert says_what_to_type(reply) or "LEADERBOT_ADMINS" in reply or "Try again" in reply
    assert "\n" not in reply  # one line


# ----------------------------------------------------------------------------- the manifest

MANIFEST = Path(__file__).resolve().parent.parent / "deploy" / "slack-manifest.yaml"


def test_the_manifest_has_what_the_bot_needs() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    features, settings = manifest["features"], manifest["settings"]
    (command,) = features["slash_commands"]
    assert command["command"] == "/leadership" and command["should_escape"] is True
    assert features["app_home"]["home_tab_enabled"] is True
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    assert set(settings["event_subscriptions"]["bot_events"]) >= {
        "message.channels",
        "message.groups",
        "app_home_opened",
        "app_uninstalled",
        "tokens_revoked",
    }
    # One scope for each Web API method the bot calls.
    assert set(manifest["oauth_config"]["scopes"]["bot"]) >= {
        "commands",  # /leadership
        "chat:write",  # chat.postMessage, chat.update, chat.postEphemeral
        "channels:join",  # conversations.join
        "channels:history",  # conversations.history / replies, message.channels
        "groups:history",  # the same in private channels, message.groups
        "channels:read",  # conversations.info
        "groups:read",
        "users:read",  # users.info (who is an admin)
        "files:write",  # the digest's chart
    }
    text = MANIFEST.read_text()
    assert "https://YOUR-HOST/slack/events" in text  # the HTTP variant, documented


async def test_response_url_answers_share_one_http_session() -> None:
    """One pool of kept-alive connections for every answer, not a new connection each."""
    urls = commands.ResponseUrls()
    first = urls.webhook("http://127.0.0.1:1/a")
    second = urls.webhook("http://127.0.0.1:1/b")
    assert first.session is not None and first.session is second.session
    await urls.close()
    assert first.session.closed
    await urls.close()  # twice is fine
