"""The App Home tab and its modals: signed events and interactivity payloads over HTTP to the
running app, against the fake Slack Web API."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from sqlalchemy import select

from bot.platforms.slack.listeners.home import (
    ADD_CHANNEL,
    DIGEST_MODAL,
    OPEN_PAUSE,
    OPEN_SCHEDULE,
    PAUSE_MODAL,
    RESUME,
    SCHEDULE_MODAL,
)
from bot.services import schedules
from bot.store.models import AuditEntry, Schedule
from tests.fakes import eventually
from tests.fakes.signing import event_body, interactivity_body, signed_headers
from tests.fakes.slack_api import HttpError
from tests.slack_harness import ADMIN, MEMBER, SECRET, Slack
from tests.slack_harness import slack as slack  # the running app: a shared fixture

FORM = "application/x-www-form-urlencoded"


async def post_json(slack: Slack, body: str, content_type: str) -> tuple[int, str]:
    headers = signed_headers(body, SECRET, content_type=content_type)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{slack.server.port}/slack/events", data=body, headers=headers
        ) as response,
    ):
        return response.status, await response.text()


async def open_home(slack: Slack, user: str, event_id: str = "EvHome1") -> dict[str, Any]:
    """Send app_home_opened; returns the view then published for that user."""
    published = len(slack.fake.views)
    body = event_body(
        {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"},
        event_id=event_id,
    )
    status, _ = await post_json(slack, body, "application/json")
    assert status == 200
    return await next_view(slack, published)


async def next_view(slack: Slack, seen: int, action: str = "publish") -> dict[str, Any]:
    async def arrived() -> bool:
        return any(v["action"] == action for v in slack.fake.views[seen:])

    await eventually(arrived)
    return next(v for v in slack.fake.views[seen:] if v["action"] == action)


def buttons(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        element
        for block in view["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def text_of(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


async def click(slack: Slack, user: str, action_id: str, value: str) -> tuple[int, str]:
    payload = {
        "type": "block_actions",
        "team": {"id": "T0FAKE"},
        "user": {"id": user, "team_id": "T0FAKE"},
        "api_app_id": "AFAKE",
        "trigger_id": f"trigger.{action_id}",
        "container": {"type": "view", "view_id": "VHOME"},
        "view": {"id": "VHOME", "type": "home"},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": f"channel:{value}",
                "value": value,
                "action_ts": "1.0",
            }
        ],
    }
    return await post_json(slack, interactivity_body(payload), FORM)


def typed(value: str) -> dict[str, Any]:
    return {"value": {"type": "plain_text_input", "value": value}}


def picked(value: str) -> dict[str, Any]:
    return {"value": {"type": "static_select", "selected_option": {"value": value}}}


async def submit(
    slack: Slack, user: str, callback_id: str, channel: str | None, values: dict[str, Any]
) -> tuple[int, dict[str, Any] | None]:
    payload = {
        "type": "view_submission",
        "team": {"id": "T0FAKE"},
        "user": {"id": user, "team_id": "T0FAKE"},
        "api_app_id": "AFAKE",
        "trigger_id": "trigger.submit",
        "view": {
            "id": "VMODAL",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": json.dumps({"channel": channel}),
            "state": {"values": values},
        },
    }
    status, text = await post_json(slack, interactivity_body(payload), FORM)
    return status, (json.loads(text) if text else None)


async def schedule_of(slack: Slack, kind: str = "question", channel: str = "C1") -> Schedule | None:
    async with slack.ctx.db.read() as session:
        return await session.scalar(
            select(Schedule).where(Schedule.channel_id == channel, Schedule.kind == kind)
        )


# ----------------------------------------------------------------------------- the tab


async def test_admins_see_each_channel_and_buttons(slack: Slack) -> None:
    await schedules.set_schedule(slack.ctx, "C1", weekday=0, time="09:00")
    view = await open_home(slack, ADMIN)
    published = slack.fake.views[-1]
    assert published["user_id"] == ADMIN and view["view"]["type"] == "home"
    text = text_of(view["view"])
    assert "<#C1>" in text and "Mondays at 09:00 (Europe/London)" in text
    assert "Next post: Mon 19 Jan 2026, 09:00 GMT" in text
    assert "Last question: none yet" in text and "Digest: Fridays at 16:00" in text
    assert "Feeds: none. Add one with `/leadership feeds add" in text
    actions = {b["action_id"]: b["value"] for b in buttons(view["view"])}
    assert actions[OPEN_SCHEDULE] == "C1" and actions[OPEN_PAUSE] == "C1"
    assert ADD_CHANNEL in actions


async def test_members_see_settings_without_buttons_and_why(slack: Slack) -> None:
    await schedules.set_schedule(slack.ctx, "C1", weekday=0, time="09:00")
    view = (await open_home(slack, MEMBER))["view"]
    assert buttons(view) == []
    assert "Mondays at 09:00" in text_of(view)
    assert "Only workspace admins and owners" in text_of(view)


async def test_users_info_failing_shows_a_read_only_tab(slack: Slack) -> None:
    slack.fake.inject("users.info", HttpError(500))
    view = (await open_home(slack, ADMIN))["view"]
    assert buttons(view) == []
    assert "couldn't check your Slack role" in text_of(view)


async def test_a_button_opens_its_modal(slack: Slack) -> None:
    await schedules.set_schedule(slack.ctx, "C1", weekday=2, time="11:15")
    seen = len(slack.fake.views)
    status, _ = await click(slack, ADMIN, OPEN_SCHEDULE, "C1")
    assert status == 200
    opened = await next_view(slack, seen, "open")
    assert opened["trigger_id"] == f"trigger.{OPEN_SCHEDULE}"
    modal = opened["view"]
    assert modal["callback_id"] == SCHEDULE_MODAL
    assert json.loads(modal["private_metadata"]) == {"channel": "C1"}
    fields = {b["block_id"]: b["element"] for b in modal["blocks"] if b["type"] == "input"}
    assert fields["day"]["initial_option"]["value"] == "wed"
    assert fields["time"]["initial_value"] == "11:15"


# ----------------------------------------------------------------------------- submissions


async def test_a_bad_time_is_shown_inline_and_nothing_changes(slack: Slack) -> None:
    status, answer = await submit(
        slack,
        ADMIN,
        SCHEDULE_MODAL,
        "C1",
        {"day": picked("tue"), "time": typed("25:00"), "zone": typed("Londn")},
    )
    assert status == 200 and answer is not None
    assert answer["response_action"] == "errors"
    assert "25:00 is past 23:59" in answer["errors"]["time"]
    assert "`" not in answer["errors"]["time"]  # plain text in a modal
    assert "Europe/London" in answer["errors"]["zone"]
    assert await schedule_of(slack) is None


async def test_a_good_submission_saves_audits_and_refreshes_the_tab(slack: Slack) -> None:
    seen = len(slack.fake.views)
    status, answer = await submit(
        slack,
        ADMIN,
        SCHEDULE_MODAL,
        "C1",
        {"day": picked("tue"), "time": typed("2:30pm"), "zone": typed("London")},
    )
    assert (status, answer) == (200, None)  # an empty ack closes the modal
    refreshed = await next_view(slack, seen)
    assert refreshed["user_id"] == ADMIN
    assert "Done: the weekly question in <#C1> is Tuesdays at 14:30" in text_of(refreshed["view"])
    schedule = await schedule_of(slack)
    assert schedule is not None and (schedule.weekday, schedule.time) == (1, "14:30")
    async with slack.ctx.db.read() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.actor == ADMIN))
    assert entry is not None and entry.action == "question.schedule"


async def test_setting_up_a_new_channel_needs_a_channel(slack: Slack) -> None:
    values = {"day": picked("mon"), "time": typed("09:00"), "zone": typed("Europe/London")}
    _, answer = await submit(slack, ADMIN, SCHEDULE_MODAL, None, values)
    assert answer == {"response_action": "errors", "errors": {"channel": "Pick a channel."}}
    values["channel"] = {"value": {"type": "conversations_select", "selected_conversation": "C2"}}
    seen = len(slack.fake.views)
    status, answer = await submit(slack, ADMIN, SCHEDULE_MODAL, None, values)
    assert (status, answer) == (200, None)
    await next_view(slack, seen)
    assert await schedule_of(slack, channel="C2") is not None
    assert [c.body["channel"] for c in slack.fake.calls("conversations.join")] == ["C2"]


async def test_a_member_cannot_submit_a_change(slack: Slack) -> None:
    seen = len(slack.fake.views)
    values = {"day": picked("tue"), "time": typed("10:00"), "zone": typed("Europe/London")}
    status, answer = await submit(slack, MEMBER, SCHEDULE_MODAL, "C1", values)
    assert (status, answer) == (200, None)
    refreshed = await next_view(slack, seen)
    assert "Only workspace admins and owners" in text_of(refreshed["view"])
    assert await schedule_of(slack) is None


async def test_digest_modal_sends_the_digest_elsewhere(slack: Slack) -> None:
    await schedules.set_schedule(slack.ctx, "C1", weekday=0, time="09:00")
    seen = len(slack.fake.views)
    values = {
        "day": picked("thu"),
        "time": typed("17:00"),
        "zone": typed("Europe/London"),
        "deliver": {"value": {"type": "conversations_select", "selected_conversation": "C2"}},
    }
    assert (await submit(slack, ADMIN, DIGEST_MODAL, "C1", values))[1] is None
    await next_view(slack, seen)
    digest = await schedule_of(slack, "digest")
    assert digest is not None and (digest.weekday, digest.target_channel_id) == (3, "C2")


async def test_pause_modal_and_resume_button(slack: Slack) -> None:
    await schedules.set_schedule(slack.ctx, "C1", weekday=0, time="09:00")
    past = {"until": {"value": {"type": "datepicker", "selected_date": "2025-12-01"}}}
    _, answer = await submit(slack, ADMIN, PAUSE_MODAL, "C1", past)
    assert answer is not None and "has already passed" in answer["errors"]["until"]

    seen = len(slack.fake.views)
    later = {"until": {"value": {"type": "datepicker", "selected_date": "2026-02-01"}}}
    assert (await submit(slack, ADMIN, PAUSE_MODAL, "C1", later))[1] is None
    paused_view = (await next_view(slack, seen))["view"]
    assert "paused until 2026-02-01" in text_of(paused_view)
    assert RESUME in {b["action_id"] for b in buttons(paused_view)}

    seen = len(slack.fake.views)
    status, _ = await click(slack, ADMIN, RESUME, "C1")
    assert status == 200
    resumed = (await next_view(slack, seen))["view"]
    assert "Resumed: the weekly question in <#C1>" in text_of(resumed)
    schedule = await schedule_of(slack)
    assert schedule is not None and schedule.paused_until is None and schedule.enabled
