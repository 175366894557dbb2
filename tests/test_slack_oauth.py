"""Many Slack workspaces on one deployment: installing through OAuth (the real HTTP flow
against the fake Slack), tokens encrypted at rest, the install flow's failures as clear
pages, token rotation, and start-up without a key."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import event, select, text

from bot.domain.content import Notice
from bot.platforms.slack.oauth import BOT_SCOPES
from bot.platforms.slack.platform import SlackPlatform
from bot.services import outbox
from bot.services.channels import ensure_channel
from bot.store.models import Channel
from bot.store.models_slack import SlackInstallation
from bot.store.token_cipher import SecretKeyError, TokenCipher, new_key
from tests.oauth_harness import A_ADMIN, B_ADMIN, CA, CB, TA, TB, add_workspace, deployment

ROOT = Path(__file__).resolve().parent.parent
START_AGAIN = "Start the install again"


async def test_two_workspaces_install_through_the_oauth_flow(make_context, database_url) -> None:
    async with deployment(make_context, database_url) as bot:
        page = await bot.install(TA, A_ADMIN)
        assert page.status == 200, page.text
        assert "installed in Council A" in page.text
        page = await bot.install(TB, B_ADMIN)
        assert page.status == 200 and "installed in Council B" in page.text

        async with bot.ctx.db.read() as session:
            rows = {r.team_id: r for r in (await session.scalars(select(SlackInstallation)))}
        assert set(rows) == {TA, TB}
        assert rows[TA].installer_user_id == A_ADMIN and rows[TA].team_name == "Council A"

        # Each workspace's posts go out with its own token.
        slack = bot.ctx.platform_for(CA)
        await slack.post(CA, Notice("hello A"), key="hello-a")
        await slack.post(CB, Notice("hello B"), key="hello-b")
        by_channel = {
            c.body["channel"]: c.headers["Authorization"].removeprefix("Bearer ")
            for c in bot.fake.calls("chat.postMessage")
        }
        assert by_channel[CA] in bot.fake.bot_tokens(TA)
        assert by_channel[CB] in bot.fake.bot_tokens(TB)


async def test_a_channel_set_up_from_the_cli_is_found_in_its_workspace(
    make_context, database_url
) -> None:
    async with deployment(make_context, database_url) as bot:
        for team, admin in ((TA, A_ADMIN), (TB, B_ADMIN)):
            assert (await bot.install(team, admin)).status == 200
        # `leaderbot schedule --channel CB…` records the channel with no workspace.
        async with bot.ctx.db.write() as session:
            await ensure_channel(session, bot.ctx, CB)
        await bot.ctx.platform_for(CB).post(CB, Notice("from the CLI"), key="cli-1")
        post = bot.fake.calls("chat.postMessage")[-1]
        assert post.status == 200
        assert post.headers["Authorization"].removeprefix("Bearer ") in bot.fake.bot_tokens(TB)
        async with bot.ctx.db.read() as session:
            channel = await session.get(Channel, CB)
        assert channel is not None and channel.workspace_id == TB


async def test_a_fan_out_reads_the_channels_workspaces_once_and_finds_one_recorded_later(
    make_context, database_url
) -> None:
    """Thousands of channels due at once: which workspace each is in comes from one read, not
    one a channel; a channel recorded after that read is still found (a read of its own)."""
    async with deployment(make_context, database_url) as bot:
        for team, admin in ((TA, A_ADMIN), (TB, B_ADMIN)):
            assert (await bot.install(team, admin)).status == 200
        channels = {f"C{team[-1]}FAN{i:02d}": team for team in (TA, TB) for i in range(10)}
        for cid, team in [*channels.items(), ("CALATER01", TA)]:
            bot.fake.add_channel(cid, cid.lower(), team_id=team)
        async with bot.ctx.db.write() as session:
            session.add_all(
                Channel(id=cid, platform="slack", workspace_id=team, name=cid.lower())
                for cid, team in channels.items()
            )
        lookups: list[str] = []

        def seen(conn, cursor, statement: str, *args: object) -> None:
            sql = " ".join(statement.split()).lower()
            if sql.startswith("select channels.id, channels.workspace_id from"):
                lookups.append("all")
            elif sql.startswith("select channels.workspace_id from"):
                lookups.append("one")

        event.listen(bot.ctx.db.engine.sync_engine, "before_cursor_execute", seen)
        slack = bot.ctx.platform_for(CA)
        await asyncio.gather(
            *(slack.post(cid, Notice("hello"), key=f"fan-{cid}") for cid in channels)
        )
        sent = {
            c.body["channel"]: c.headers["Authorization"].removeprefix("Bearer ")
            for c in bot.fake.calls("chat.postMessage")
        }
        assert set(sent) == set(channels)
        assert all(sent[cid] in bot.fake.bot_tokens(team) for cid, team in channels.items())
        assert lookups == ["all"]

        async with bot.ctx.db.write() as session:
            session.add(Channel(id="CALATER01", platform="slack", workspace_id=TA, name="later"))
        await slack.post("CALATER01", Notice("later"), key="later")
        post = bot.fake.calls("chat.postMessage")[-1]
        assert post.status == 200
        assert post.headers["Authorization"].removeprefix("Bearer ") in bot.fake.bot_tokens(TA)
        assert lookups == ["all", "one"]


def installation_reads(bot) -> Counter:
    """SELECTs of installations from now on: "bulk" (IN ...) or "one" (a workspace's own)."""
    reads: Counter = Counter()

    def seen(conn, cursor, statement: str, *args: object) -> None:
        sql = " ".join(statement.split()).lower()
        if sql.startswith("select") and "from slack_installations" in sql:
            reads["bulk" if "slack_installations.team_id in (" in sql else "one"] += 1

    event.listen(bot.ctx.db.engine.sync_engine, "before_cursor_execute", seen)
    return reads


def notices(bot, channels: list[str], prefix: str) -> list[dict]:
    due = bot.ctx.clock() - timedelta(seconds=1)
    return [
        {
            "key": f"{prefix}:{cid}",
            "kind": "notice",
            "channel_id": cid,
            "due_at": due,
            "payload": {"text": f"hello {cid}"},
        }
        for cid in channels
    ]


async def test_a_fan_out_across_workspaces_reads_their_installations_in_one_query(
    make_context, database_url
) -> None:
    """A delivery batch reads the installation of every workspace it posts to in one query
    (not one a workspace); each post still goes out with its own workspace's token, and a
    workspace not installed still gets its clear failure."""
    async with deployment(make_context, database_url) as bot:
        admins = {TA: A_ADMIN, TB: B_ADMIN}
        channels = {CA: TA, CB: TB}
        for n in range(6):
            team, admin, channel = f"TCOUNCIL{n}", f"UADMIN{n}", f"CX{n}000001"
            add_workspace(bot.fake, team, f"Council {n}", admin, f"UMEMBER{n}", channel)
            admins[team], channels[channel] = admin, team
        for team, admin in admins.items():
            assert (await bot.install(team, admin)).status == 200
        add_workspace(bot.fake, "TNOTTHERE", "Council X", "UADMINX", "UMEMBERX", "CXNOTTHR1")
        channels["CXNOTTHR1"] = "TNOTTHERE"  # recorded, never installed
        async with bot.ctx.db.write() as session:
            for cid, team in channels.items():
                await session.merge(
                    Channel(id=cid, platform="slack", workspace_id=team, name=cid.lower())
                )
        slack = bot.ctx.platform_for(CA)
        assert isinstance(slack, SlackPlatform) and slack.tokens is not None
        for team in admins:
            slack.tokens.forget(team)  # as in a fresh process
        keys = await outbox.enqueue_many(bot.ctx, notices(bot, list(channels), "fan"))
        reads = installation_reads(bot)

        report = await outbox.deliver_due(bot.ctx, only_keys=keys)

        assert sorted(report.sent) == sorted(k for k in keys if k != "fan:CXNOTTHR1")
        assert report.failed == ["fan:CXNOTTHR1"]
        posts = [c for c in bot.fake.calls("chat.postMessage") if c.status == 200]
        used = {
            c.body["channel"]: c.headers["Authorization"].removeprefix("Bearer ") for c in posts
        }
        assert set(used) == set(channels) - {"CXNOTTHR1"}
        assert all(used[cid] in bot.fake.bot_tokens(channels[cid]) for cid in used)
        # One read for the eight installed workspaces; the one not installed is asked for on
        # its own (to say so), as before.
        assert reads == Counter({"bulk": 1, "one": 1}), reads

        # The next batch finds every token cached: no read at all.
        again = await outbox.enqueue_many(bot.ctx, notices(bot, [CA, CB], "again"))
        reads.clear()
        assert sorted((await outbox.deliver_due(bot.ctx, only_keys=again)).sent) == sorted(again)
        assert reads == Counter(), reads


async def test_a_fan_out_still_renews_a_token_due_for_renewal(make_context, database_url) -> None:
    """The bulk read caches only tokens far from expiry: one due for renewal is renewed
    (under the workspace's lock) before the batch posts with it."""
    async with deployment(make_context, database_url, token_lifetime_s=60) as bot:
        assert (await bot.install(TA, A_ADMIN)).status == 200
        [first] = bot.fake.bot_tokens(TA)
        bot.fake.expire(first)
        async with bot.ctx.db.write() as session:
            await session.merge(Channel(id=CA, platform="slack", workspace_id=TA, name="ca"))
        slack = bot.ctx.platform_for(CA)
        assert isinstance(slack, SlackPlatform) and slack.tokens is not None
        slack.tokens.forget(TA)
        keys = await outbox.enqueue_many(bot.ctx, notices(bot, [CA], "renew"))

        report = await outbox.deliver_due(bot.ctx, only_keys=keys)

        assert report.sent == keys
        post = bot.fake.calls("chat.postMessage")[-1]
        used = post.headers["Authorization"].removeprefix("Bearer ")
        assert post.status == 200 and used != first and used in bot.fake.bot_tokens(TA)


async def test_tokens_are_unreadable_in_the_database_without_the_key(
    make_context, database_url
) -> None:
    async with deployment(make_context, database_url, token_lifetime_s=43_200) as bot:
        assert (await bot.install(TA, A_ADMIN)).status == 200
        [token] = bot.fake.bot_tokens(TA)
        [refresh] = bot.fake._refresh_tokens
        async with bot.ctx.db.read() as session:
            raw = (await session.execute(text("SELECT * FROM slack_installations"))).one()
        stored = " ".join(str(value) for value in raw)
        for secret in (token, refresh):
            assert secret not in stored
            # Not even a recognisable piece of it.
            assert secret[-12:] not in stored
        row = dict(raw._mapping)
        with pytest.raises(SecretKeyError):
            TokenCipher(new_key()).decrypt(row["bot_token_enc"])
        assert TokenCipher(bot.key).decrypt(row["bot_token_enc"]) == token
        assert TokenCipher(bot.key).decrypt(row["bot_refresh_token_enc"]) == refresh


async def test_a_cancelled_install_gets_a_clear_page(make_context, sqlite_url) -> None:
    async with deployment(make_context, sqlite_url) as bot:
        bot.fake.deny_next_install()
        authorize_url, cookie = await bot.start_install()
        page = await bot.get(await bot.authorize(authorize_url), cookie=cookie)
        assert page.status == 200
        assert "cancelled in Slack" in page.text and START_AGAIN in page.text
        assert not bot.fake.calls("oauth.v2.access")

        # Another error from Slack is named, escaped: nothing from the URL becomes markup.
        page = await bot.get(bot.base + "/slack/oauth_redirect?error=%3Cscript%3Ex%3C/script%3E")
        assert page.status == 400 and "&lt;script&gt;" in page.text and "<script>" not in page.text


async def test_a_replayed_expired_forged_or_foreign_state_gets_a_clear_page(
    make_context, sqlite_url, clock
) -> None:
    async with deployment(make_context, sqlite_url) as bot:
        # Replayed: the same redirect a second time, after it installed.
        bot.fake.approve_next_install(TA, A_ADMIN)
        authorize_url, cookie = await bot.start_install()
        back = await bot.authorize(authorize_url)
        assert (await bot.get(back, cookie=cookie)).status == 200
        again = await bot.get(back, cookie=cookie)
        assert again.status == 400 and "already been used" in again.text

        # Expired: Slack sends the browser back eleven minutes later.
        bot.fake.approve_next_install(TB, B_ADMIN)
        authorize_url, cookie = await bot.start_install()
        back = await bot.authorize(authorize_url)
        clock.advance(minutes=11)
        late = await bot.get(back, cookie=cookie)
        assert late.status == 400 and "expired" in late.text and START_AGAIN in late.text

        # Forged: a state this deployment never signed (the cookie set to match it).
        bot.fake.approve_next_install(TB, B_ADMIN)
        authorize_url, cookie = await bot.start_install()
        back = await bot.authorize(authorize_url)
        forged_state = cookie[:-4] + ("AAAA" if not cookie.endswith("AAAA") else "BBBB")
        forged = back.replace(cookie, forged_state)
        page = await bot.get(forged, cookie=forged_state)
        assert page.status == 400 and START_AGAIN in page.text

        # Another browser (no state cookie), and no state at all.
        page = await bot.get(back)
        assert page.status == 400 and "another browser" in page.text
        page = await bot.get(bot.base + "/slack/oauth_redirect?code=x")
        assert page.status == 400 and START_AGAIN in page.text

        # Only the first install went through; none of the rest reached Slack's token API.
        assert len(bot.fake.calls("oauth.v2.access")) == 1
        async with bot.ctx.db.read() as session:
            teams = list(await session.scalars(select(SlackInstallation.team_id)))
        assert teams == [TA]


async def test_an_expired_token_is_renewed_before_posting_and_answering(
    make_context, database_url
) -> None:
    # Tokens live a minute: less than the two hours before expiry at which they are renewed.
    async with deployment(make_context, database_url, token_lifetime_s=60) as bot:
        assert (await bot.install(TA, A_ADMIN)).status == 200
        [first] = bot.fake.bot_tokens(TA)
        bot.fake.expire(first)  # Slack refuses it from now on

        slack = bot.ctx.platform_for(CA)
        sent = await slack.post(CA, Notice("after expiry"), key="renewed-1")
        assert sent.message_id
        refreshes = [
            c
            for c in bot.fake.calls("oauth.v2.access")
            if c.body.get("grant_type") == "refresh_token"
        ]
        assert refreshes, "the token was not renewed"
        post = bot.fake.calls("chat.postMessage")[-1]
        used = post.headers["Authorization"].removeprefix("Bearer ")
        assert used != first and used in bot.fake.bot_tokens(TA) and post.status == 200
        # The newest token is what is stored (encrypted) for every process. (A token that
        # lives a minute is within the renewal margin at once: each use renews it.)
        async with bot.ctx.db.read() as session:
            row = await session.get(SlackInstallation, TA)
        assert row is not None
        assert TokenCipher(bot.key).decrypt(row.bot_token_enc) == bot.fake.bot_tokens(TA)[-1]

        # Inbound too: Bolt renews before answering a command (its auth.test would fail).
        for token in bot.fake.bot_tokens(TA):
            bot.fake.expire(token)
        answer = await bot.say("status", team=TA, user=A_ADMIN, channel=CA)
        assert CA in answer, answer
        assert len(bot.fake.bot_tokens(TA)) >= 3


def test_the_install_asks_for_the_manifest_s_bot_scopes() -> None:
    manifest = yaml.safe_load((ROOT / "deploy" / "slack-manifest.yaml").read_text())
    assert sorted(BOT_SCOPES) == sorted(manifest["oauth_config"]["scopes"]["bot"])


# --- start-up -------------------------------------------------------------------------------


def _leaderbot(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LEADERBOT_"))}
    clean["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=clean | env,
        cwd=tmp_path,
        timeout=60,
    )


OAUTH_ENV = {
    "SLACK_CLIENT_ID": "1111.2222",
    "SLACK_CLIENT_SECRET": "client-secret",
    "SLACK_STATE_SECRET": "state-secret-0123456789",
    "SLACK_SIGNING_SECRET": "signing-secret",
    "SLACK_API_URL": "http://127.0.0.1:9/api/",
    "LEADERBOT_PORT": "0",
}


@pytest.mark.parametrize(
    ("key", "needle"),
    [(None, "LEADERBOT_SECRET_KEY is not set"), ("not-a-key", "not a valid key")],
)
def test_oauth_mode_refuses_to_start_without_a_valid_key(
    tmp_path: Path, key: str | None, needle: str
) -> None:
    env = OAUTH_ENV | ({"LEADERBOT_SECRET_KEY": key} if key else {})
    out = _leaderbot(tmp_path, "run", **env)
    assert out.returncode == 1
    lines = [line for line in out.stderr.splitlines() if line.strip() and " INFO " not in line]
    assert len(lines) == 1, out.stderr
    assert needle in lines[0] and "Traceback" not in out.stderr


def test_half_the_oauth_settings_are_refused_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in OAUTH_ENV.items() if k != "SLACK_STATE_SECRET"}
    out = _leaderbot(tmp_path, "questions", **env)
    assert out.returncode == 2
    assert "missing: SLACK_STATE_SECRET" in out.stderr and "Traceback" not in out.stderr


def test_secret_key_prints_a_key_the_bot_accepts(tmp_path: Path) -> None:
    out = _leaderbot(tmp_path, "secret-key")
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip()
    cipher = TokenCipher(key)  # raises if it is not a key
    assert cipher.decrypt(cipher.encrypt("xoxb-1")) == "xoxb-1"


async def test_each_workspace_joins_its_channel_once(make_context, database_url) -> None:
    """The channels the bot is known to be in are remembered per workspace: a second
    `ensure_channel` in either makes no call, and each join went out with its own token."""
    async with deployment(make_context, database_url) as bot:
        for team, admin in ((TA, A_ADMIN), (TB, B_ADMIN)):
            assert (await bot.install(team, admin)).status == 200
        slack = bot.ctx.platform_for(CA)
        for channel in (CA, CB, CA, CB):
            await slack.ensure_channel(channel)
        joins = {
            c.body["channel"]: c.headers["Authorization"].removeprefix("Bearer ")
            for c in bot.fake.calls("conversations.join")
        }
        assert len(bot.fake.calls("conversations.join")) == 2
        assert joins[CA] in bot.fake.bot_tokens(TA) and joins[CB] in bot.fake.bot_tokens(TB)
