"""The permission matrix: who may change settings, and what everyone else is told."""

from __future__ import annotations

import re

import pytest

from bot.domain.command_grammar import SLASH, Ask, ListAdmins, SetSchedule, Status, parse_command
from bot.domain.content import UserInfo
from bot.domain.permissions import (
    ALLOW_LISTED,
    BOT_ADMIN,
    READING,
    WORKSPACE_ADMIN,
    WORKSPACE_OWNER,
    Decision,
    decide_admin,
    decide_command,
)

ALLOWLIST = frozenset({"U0ALLOWED"})
BOT_ADMINS = {"U0BOTADMIN"}


def user(user_id: str, **flags: bool) -> UserInfo:
    return UserInfo(id=user_id, display_name=user_id.lower(), **flags)


def decide(info: UserInfo | None, user_id: str, lookup_error: str | None = None) -> Decision:
    return decide_admin(
        info,
        user_id=user_id,
        allowlist=ALLOWLIST,
        bot_admins=BOT_ADMINS,
        lookup_error=lookup_error,
    )


# (who, the user's details, allowed, role or a phrase of the refusal)
MATRIX: list[tuple[str, UserInfo, bool, str]] = [
    ("admin", user("U0ADMIN", is_admin=True), True, WORKSPACE_ADMIN),
    ("owner", user("U0OWNER", is_owner=True), True, WORKSPACE_OWNER),
    ("owner and admin", user("U0OWNER", is_owner=True, is_admin=True), True, WORKSPACE_OWNER),
    ("allow-listed", user("U0ALLOWED"), True, ALLOW_LISTED),
    ("bot admin", user("U0BOTADMIN"), True, BOT_ADMIN),
    ("member", user("U0MEMBER"), False, "Only workspace admins and owners"),
    ("guest", user("U0GUEST", is_guest=True), False, "Guests can't"),
    ("allow-listed guest", user("U0ALLOWED", is_guest=True), False, "Guests can't"),
    ("bot-admin guest", user("U0BOTADMIN", is_guest=True), False, "Guests can't"),
    ("guest flagged admin", user("U0GUEST", is_guest=True, is_admin=True), False, "Guests"),
    ("deleted", user("U0GONE", deleted=True), False, "Deactivated accounts"),
    ("deleted admin", user("U0GONE", deleted=True, is_admin=True), False, "Deactivated"),
    ("deleted allow-listed", user("U0ALLOWED", deleted=True), False, "Deactivated"),
    ("bot", user("U0BOT", is_bot=True), False, "Bots and apps can't"),
    ("allow-listed bot", user("U0ALLOWED", is_bot=True), False, "Bots and apps"),
    ("bot flagged owner", user("U0BOT", is_bot=True, is_owner=True), False, "Bots and apps"),
]


@pytest.mark.parametrize(("who", "info", "allowed", "reason"), MATRIX, ids=[m[0] for m in MATRIX])
def test_matrix(who: str, info: UserInfo, allowed: bool, reason: str) -> None:
    decision = decide(info, info.id)
    assert decision.allowed is allowed
    assert reason in decision.reason
    if not allowed:
        assert_tells_what_to_do(decision)


@pytest.mark.parametrize(
    "info",
    [user("U0ADMIN", is_admin=True), user("U0ALLOWED"), user("U0MEMBER"), None],
    ids=["admin", "allow-listed", "member", "no details"],
)
def test_lookup_failing_fails_closed(info: UserInfo | None) -> None:
    decision = decide(info, "U0ADMIN" if info is None else info.id, lookup_error="ratelimited")
    assert decision == Decision(
        False,
        "I couldn't check your role in the workspace (ratelimited), so I can't make changes "
        f"right now. Try again in a minute. (Reading still works, e.g. `{SLASH} status`.)",
    )
    assert_tells_what_to_do(decision)


def test_the_platform_may_name_itself_in_a_refusal() -> None:
    decision = decide_admin(
        None,
        user_id="U0X",
        allowlist=set(),
        bot_admins=set(),
        lookup_error="ratelimited",
        platform_label="Slack",
    )
    assert decision.reason.startswith("I couldn't check your Slack role (ratelimited)")


def test_no_details_without_an_error_still_refuses() -> None:
    decision = decide(None, "U0ALLOWED")
    assert not decision.allowed
    assert "couldn't check your role in the workspace" in decision.reason


def test_details_about_someone_else_are_not_trusted() -> None:
    decision = decide(user("U0ADMIN", is_admin=True), "U0MEMBER")
    assert not decision.allowed
    assert "couldn't check your role in the workspace" in decision.reason


def test_lookup_error_text_is_kept_short_and_on_one_line() -> None:
    decision = decide(None, "U0X", lookup_error="boom\n" + "x" * 500 + "`<!channel>`")
    assert "\n" not in decision.reason
    assert "xxxxx…" in decision.reason
    assert len(decision.reason) < 250


def test_member_is_told_who_can() -> None:
    decision = decide(user("U0MEMBER"), "U0MEMBER")
    assert "admins and owners" in decision.reason
    assert f"`{SLASH} admins`" in decision.reason


def test_lists_may_be_any_kind_of_set() -> None:
    decision = decide_admin(
        user("U0A"), user_id="U0A", allowlist=frozenset(), bot_admins={"U0A"}, lookup_error=None
    )
    assert decision == Decision(True, BOT_ADMIN)


def assert_tells_what_to_do(decision: Decision) -> None:
    assert "\n" not in decision.reason
    commands = re.findall(rf"`({re.escape(SLASH)}[^`]*)`", decision.reason)
    assert commands, decision.reason
    for command in commands:
        parse_command(command)


# --- commands: reading is open, changing is not -------------------------------------------


@pytest.mark.parametrize("command", [Status(), ListAdmins()])
def test_reading_is_open_even_when_lookup_fails(command: Status | ListAdmins) -> None:
    for info in (user("U0GUEST", is_guest=True), None):
        decision = decide_command(
            command,
            info,
            user_id="U0GUEST",
            allowlist=ALLOWLIST,
            bot_admins=BOT_ADMINS,
            lookup_error="timeout" if info is None else None,
        )
        assert decision == Decision(True, READING)


@pytest.mark.parametrize("command", [Ask(), SetSchedule(weekday=0, time="09:00")])
def test_changing_goes_through_decide_admin(command: Ask | SetSchedule) -> None:
    member = decide_command(
        command,
        user("U0MEMBER"),
        user_id="U0MEMBER",
        allowlist=ALLOWLIST,
        bot_admins=BOT_ADMINS,
        lookup_error=None,
    )
    admin = decide_command(
        command,
        user("U0ADMIN", is_admin=True),
        user_id="U0ADMIN",
        allowlist=ALLOWLIST,
        bot_admins=BOT_ADMINS,
        lookup_error=None,
    )
    assert not member.allowed
    assert admin == Decision(True, WORKSPACE_ADMIN)
