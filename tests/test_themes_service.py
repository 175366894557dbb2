"""The digest service's themes on the console (default make_context platform): the settings
that turn them off or raise the thresholds, read from the environment's names."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from bot.domain.digest import DigestWindow
from bot.platforms.console.platform import CONSOLE_CHANNEL, ConsolePlatform
from bot.services.ask import ask_and_deliver
from bot.services.context import Context
from bot.services.digest import build_channel_digest
from tests.conftest import make_settings
from tests.contract.test_digest_themes import REPLIES


async def digest_themes(ctx: Context, replies=REPLIES) -> tuple[str, ...]:
    result = await ask_and_deliver(ctx, CONSOLE_CHANNEL)
    assert result.delivered and result.post.message_id
    [console] = list(ctx.platforms)
    assert isinstance(console, ConsolePlatform)
    for who, text in replies:
        await console.add_reply(CONSOLE_CHANNEL, result.post.message_id, f"person{who}", text)
    window = DigestWindow(ctx.clock() - timedelta(days=1), ctx.clock() + timedelta(hours=1))
    digest = await build_channel_digest(ctx, CONSOLE_CHANNEL, window)
    [question] = digest.questions
    assert question.reply_count == len(replies)
    return tuple(t.phrase for t in question.themes)


async def test_by_default_a_digest_has_themes(make_context, sqlite_url) -> None:
    ctx = await make_context(sqlite_url)
    assert await digest_themes(ctx) == ("shared platforms", "data quality")


async def test_leaderbot_themes_false_turns_them_off(make_context, sqlite_url) -> None:
    ctx = await make_context(sqlite_url, LEADERBOT_THEMES="false")
    assert await digest_themes(ctx) == ()


async def test_the_minimum_replies_and_repliers_come_from_the_settings(
    make_context, sqlite_url, tmp_path
) -> None:
    ctx = await make_context(sqlite_url, LEADERBOT_THEMES_MIN_REPLIES="7")
    assert await digest_themes(ctx) == ()  # 6 replies
    other = f"sqlite+aiosqlite:///{tmp_path}/other.db"
    ctx = await make_context(other, LEADERBOT_THEMES_MIN_REPLIERS="5")
    assert await digest_themes(ctx) == ()  # 4 people


def test_the_theme_settings_default_to_5_replies_and_3_people_and_refuse_less_than_2() -> None:
    settings = make_settings()
    assert (settings.themes, settings.themes_min_replies, settings.themes_min_repliers) == (
        True,
        5,
        3,
    )
    with pytest.raises(ValidationError):
        make_settings(LEADERBOT_THEMES_MIN_REPLIERS="1")


async def test_a_failure_in_finding_themes_leaves_the_digest_without_them(
    make_context, sqlite_url, monkeypatch, caplog
) -> None:
    import bot.services.digest as service

    def broken(*_args, **_kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(service, "find_themes_batch", broken)
    ctx = await make_context(sqlite_url)
    assert await digest_themes(ctx) == ()  # the digest itself is built, with every reply
    assert "themes not found (ValueError: a bug)" in caplog.text


async def test_a_welsh_thread_gets_welsh_themes_in_the_digest(make_context, sqlite_url) -> None:
    from tests.test_themes import WELSH

    ctx = await make_context(sqlite_url)
    people = {"ann": 0, "bob": 1, "cat": 2, "dan": 3}
    phrases = await digest_themes(ctx, [(people[who], text) for who, text in WELSH])
    assert sorted(phrases) == ["ansawdd data", "rhannu platfformau"]
