"""The App Home tab: what leaderbot does in each channel, and (for admins) buttons to change it.

Every change made here goes through the same service as `/leadership` (same permission check,
same audit log); modal input is checked with the same parsers, and anything wrong is shown
inline in the modal (response_action "errors") before it closes.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.command_grammar import SLASH, Command, Pause, Resume, SetDigest, SetSchedule
from bot.domain.parsing import (
    DAY_NAMES,
    ChannelId,
    ParseError,
    parse_date,
    parse_day,
    parse_time,
    parse_zone,
)
from bot.platforms.slack.blocks import context, escape_mrkdwn, header, section, truncate
from bot.platforms.slack.listeners.commands import PLATFORM_LABEL, SLACK_STYLE
from bot.platforms.slack.replays import first_time
from bot.port import ChatPlatform
from bot.services.admin import (
    Invocation,
    admin_decision,
    digest_line,
    execute,
    feeds_line,
    find_schedule,
    last_question_line,
    local_today,
    question_line,
    served_channels,
    summarise,
)
from bot.services.context import Context

log = logging.getLogger(__name__)

# Action ids (buttons) and callback ids (modals).
OPEN_SCHEDULE = "leadership.schedule"
OPEN_DIGEST = "leadership.digest"
OPEN_PAUSE = "leadership.pause"
RESUME = "leadership.resume"
ADD_CHANNEL = "leadership.add_channel"
SCHEDULE_MODAL = "leadership.schedule_modal"
DIGEST_MODAL = "leadership.digest_modal"
PAUSE_MODAL = "leadership.pause_modal"
VALUE = "value"  # the action id of every input element

MAX_CHANNELS = 25  # 3 blocks each; a view holds 100
SHORT_DAYS = [d[:3].lower() for d in DAY_NAMES]


# --- the Home tab -------------------------------------------------------------------------


ACCESSIBILITY_LABEL_LIMIT = 75  # Slack's cap on a button's accessibility_label


def _button(
    text: str, action_id: str, value: str, style: str | None = None, *, label: str
) -> dict[str, Any]:
    """A button; `label` is what a screen reader says for it (Slack's `accessibility_label`):
    the visible words and what they act on, since every channel's row has the same buttons."""
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
        "accessibility_label": truncate(label, ACCESSIBILITY_LABEL_LIMIT),
    }
    if style:
        button["style"] = style
    return button


async def _channel_blocks(ctx: Context, channel_id: str, admin: bool) -> list[dict[str, Any]]:
    s = SLACK_STYLE
    summary = await summarise(ctx, channel_id)
    lines = [s.bold(s.channel(channel_id)), question_line(summary, s)]
    if summary.question_next and summary.question_state != "off":
        lines.append(f"Next post: {summary.question_next}.")
    lines += [
        last_question_line(summary, s, ctx.questions),
        digest_line(summary, s),
        f"Alerts about new Socitm reports: {'on' if summary.alerts else 'off'}.",
        feeds_line(summary, s),
    ]
    blocks = [{"type": "divider"}, section("\n".join(lines))]
    if admin:
        # Plain text (no <#C…> mention syntax): the channel's name, else its id.
        where = f"#{summary.name}" if summary.name else channel_id
        buttons = [
            _button(
                "Change schedule",
                OPEN_SCHEDULE,
                channel_id,
                label=f"Change the weekly question schedule of {where}",
            ),
            _button(
                "Change digest", OPEN_DIGEST, channel_id, label=f"Change the digest of {where}"
            ),
        ]
        paused = summary.question is not None and summary.question_state != "active"
        if paused:
            buttons.append(
                _button(
                    "Resume",
                    RESUME,
                    channel_id,
                    "primary",
                    label=f"Resume the weekly question in {where}",
                )
            )
        elif summary.question is not None:
            buttons.append(
                _button(
                    "Pause", OPEN_PAUSE, channel_id, label=f"Pause the weekly question in {where}"
                )
            )
        blocks.append({"type": "actions", "block_id": f"channel:{channel_id}", "elements": buttons})
    return blocks


async def home_view(
    ctx: Context, user_id: str, *, notice: str | None = None, workspace_id: str | None = None
) -> dict[str, Any]:
    """The Home tab for one person, in their workspace: its channels only. `notice`: the
    result of what they just did (mrkdwn)."""
    decision = await admin_decision(
        ctx, user_id, _slack(ctx), platform_label=PLATFORM_LABEL, workspace_id=workspace_id
    )
    admin = decision.allowed
    blocks: list[dict[str, Any]] = [
        header("leaderbot"),
        section(
            "Each week I post one of Socitm's key questions for public-sector leaders, collect "
            "the replies in its thread, and send a digest of them. "
            f"Type `{SLASH} help` in any channel for the commands."
        ),
    ]
    if notice:
        blocks.append(section(notice))
    if admin:
        blocks.append(context(f"You can change these settings ({escape_mrkdwn(decision.reason)})."))
    else:
        blocks.append(context(escape_mrkdwn(decision.reason)))
    channels = await served_channels(ctx, workspace_id)
    for channel_id in channels[:MAX_CHANNELS]:
        blocks += await _channel_blocks(ctx, channel_id, admin)
    if len(channels) > MAX_CHANNELS:
        more = len(channels) - MAX_CHANNELS
        blocks.append(context(f"And {more} more: type `{SLASH} status` in those channels."))
    if not channels:
        blocks.append(
            section(f"No channels yet. An admin can start with `{SLASH} schedule mon 09:00`.")
        )
    if admin:
        blocks.append(
            {
                "type": "actions",
                "block_id": "setup",
                "elements": [
                    _button(
                        "Set up a channel",
                        ADD_CHANNEL,
                        "new",
                        "primary",
                        label="Set up the weekly question in another channel",
                    )
                ],
            }
        )
    return {"type": "home", "blocks": blocks}


async def publish(
    ctx: Context,
    client: AsyncWebClient,
    user_id: str,
    *,
    notice: str | None = None,
    workspace_id: str | None = None,
) -> None:
    try:
        view = await home_view(ctx, user_id, notice=notice, workspace_id=workspace_id)
        await client.views_publish(user_id=user_id, view=view)
    except SlackClientError as exc:
        log.warning("could not publish the Home tab: %s", exc)


# --- modals -------------------------------------------------------------------------------


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _option(weekday: int) -> dict[str, Any]:
    return {"text": _plain(DAY_NAMES[weekday]), "value": SHORT_DAYS[weekday]}


def _input(
    block_id: str, label: str, element: dict[str, Any], *, hint: str = "", optional: bool = False
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": _plain(label),
        "element": {"action_id": VALUE, **element},
        "optional": optional,
    }
    if hint:
        block["hint"] = _plain(hint)
    return block


def _day_time_zone(weekday: int, at: str, zone: str) -> list[dict[str, Any]]:
    return [
        _input(
            "day",
            "Day",
            {
                "type": "static_select",
                "options": [_option(i) for i in range(7)],
                "initial_option": _option(weekday),
            },
        ),
        _input(
            "time",
            "Time",
            {"type": "plain_text_input", "initial_value": at},
            hint="24-hour or am/pm, e.g. 09:00, 9am or 17.30",
        ),
        _input(
            "zone",
            "Time zone",
            {"type": "plain_text_input", "initial_value": zone},
            hint="A place, e.g. Europe/London",
        ),
    ]


def _modal(callback_id: str, title: str, channel_id: str | None, blocks: list) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": _plain(title),
        "submit": _plain("Save"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps({"channel": channel_id}),
        "blocks": blocks,
    }


async def schedule_modal(ctx: Context, channel_id: str | None) -> dict[str, Any]:
    current = await find_schedule(ctx, channel_id, "question") if channel_id else None
    blocks: list[dict[str, Any]] = []
    if channel_id is None:
        blocks.append(
            _input(
                "channel",
                "Channel",
                {
                    "type": "conversations_select",
                    "filter": {"include": ["public", "private"], "exclude_bot_users": True},
                },
                hint="For a private channel, invite the bot first: /invite @leaderbot",
            )
        )
    else:
        blocks.append(section(f"The weekly question in <#{channel_id}>."))
    blocks += _day_time_zone(
        current.weekday if current else 0,
        current.time if current else "09:00",
        current.timezone if current else ctx.settings.timezone,
    )
    return _modal(SCHEDULE_MODAL, "Weekly question", channel_id, blocks)


async def digest_modal(ctx: Context, channel_id: str) -> dict[str, Any]:
    current = await find_schedule(ctx, channel_id, "digest")
    question = await find_schedule(ctx, channel_id, "question")
    zone = (current or question).timezone if (current or question) else ctx.settings.timezone
    target = {"type": "conversations_select", "filter": {"include": ["public", "private"]}}
    if current is not None and current.target_channel_id:
        target["initial_conversation"] = current.target_channel_id
    blocks = [
        section(f"The weekly digest of the replies in <#{channel_id}>."),
        *_day_time_zone(
            current.weekday if current else 4, current.time if current else "16:00", zone
        ),
        _input(
            "deliver", "Post it in", target, hint="Leave empty for the same channel", optional=True
        ),
    ]
    return _modal(DIGEST_MODAL, "Weekly digest", channel_id, blocks)


def pause_modal(ctx: Context, channel_id: str) -> dict[str, Any]:
    blocks = [
        section(f"Pause the weekly question in <#{channel_id}>."),
        _input(
            "until",
            "Until",
            {"type": "datepicker"},
            hint="It posts again from this date. Leave empty to pause until you resume.",
            optional=True,
        ),
    ]
    return _modal(PAUSE_MODAL, "Pause", channel_id, blocks)


# --- reading a submission -----------------------------------------------------------------


def _inline(error: ParseError) -> str:
    # Modal errors are plain text: drop the backticks that mark code in mrkdwn.
    return error.message.replace("`", "")


def _object(value: Any) -> dict[str, Any]:
    """A JSON object from outside, or an empty one if it is anything else."""
    return value if isinstance(value, dict) else {}


def _metadata(raw: Any) -> dict[str, Any]:
    """A modal's private_metadata: the JSON object this module wrote, or empty (and a
    warning) if what came back is not that."""
    if raw is None or raw == "":
        return {}
    try:
        meta = json.loads(raw) if isinstance(raw, str) else None
    except (ValueError, RecursionError):
        meta = None
    if not isinstance(meta, dict):
        log.warning("modal private_metadata is not the expected JSON object: ignored")
        return {}
    return meta


class _Form:
    """The submitted values, and an error per field (inline in the modal)."""

    def __init__(self, view: dict[str, Any]) -> None:
        state = _object(_object(view).get("state"))
        self.values: dict[str, Any] = _object(state.get("values"))
        self.meta: dict[str, Any] = _metadata(_object(view).get("private_metadata"))
        self.errors: dict[str, str] = {}

    def field(self, block_id: str) -> dict[str, Any]:
        return _object(_object(self.values.get(block_id)).get(VALUE))

    def _string(self, value: Any) -> str:
        return value if isinstance(value, str) else ""

    def text(self, block_id: str) -> str:
        return self._string(self.field(block_id).get("value")).strip()

    def selected(self, block_id: str) -> str:
        return self._string(_object(self.field(block_id).get("selected_option")).get("value"))

    def conversation(self, block_id: str) -> str | None:
        return self._string(self.field(block_id).get("selected_conversation")) or None

    def date(self, block_id: str) -> str:
        return self._string(self.field(block_id).get("selected_date"))

    def parse(self, block_id: str, parser: Any, raw: str) -> Any:
        try:
            return parser(raw)
        except ParseError as exc:
            self.errors[block_id] = _inline(exc)
            return None

    def channel(self) -> str | None:
        meta = self.meta.get("channel")
        channel = (meta if isinstance(meta, str) else None) or self.conversation("channel")
        if not channel:
            self.errors["channel"] = "Pick a channel."
        return channel

    def day_time_zone(self) -> tuple[int, str, str]:
        weekday = self.parse("day", parse_day, self.selected("day") or "?")
        at = self.parse("time", parse_time, self.text("time"))
        zone = self.parse("zone", parse_zone, self.text("zone"))
        return weekday, at, zone


def schedule_command(view: dict[str, Any]) -> tuple[Command | None, dict[str, str]]:
    """The command a schedule modal asks for, or the errors to show in it."""
    form = _Form(view)
    channel = form.channel()
    weekday, at, zone = form.day_time_zone()
    if form.errors or channel is None:
        return None, form.errors
    return SetSchedule(weekday=weekday, time=at, timezone=zone, channel=ChannelId(channel)), {}


def digest_command(view: dict[str, Any]) -> tuple[Command | None, dict[str, str]]:
    form = _Form(view)
    channel = form.channel()
    weekday, at, zone = form.day_time_zone()
    if form.errors or channel is None:
        return None, form.errors
    deliver = form.conversation("deliver")
    return (
        SetDigest(
            weekday=weekday,
            time=at,
            timezone=zone,
            deliver_to=ChannelId(deliver) if deliver else None,
            channel=ChannelId(channel),
        ),
        {},
    )


def pause_command(view: dict[str, Any], today: date) -> tuple[Command | None, dict[str, str]]:
    form = _Form(view)
    channel = form.channel()
    raw = form.date("until")
    until = form.parse("until", lambda text: parse_date(text, today=today), raw) if raw else None
    if until is not None and until == today:
        form.errors["until"] = "That is today: pick a later date, or leave it empty."
    if form.errors or channel is None:
        return None, form.errors
    return Pause(until=until, channel=ChannelId(channel)), {}


# --- wiring -------------------------------------------------------------------------------


def _invocation(body: dict[str, Any], channel_id: str) -> Invocation:
    user = _object(body.get("user"))
    team = _object(body.get("team")).get("id") or user.get("team_id")
    return Invocation(
        user_id=str(user.get("id") or ""),
        channel_id=channel_id,
        workspace_id=team,
        style=SLACK_STYLE,
        platform_label=PLATFORM_LABEL,
    )


async def _carry_out(
    ctx: Context, client: AsyncWebClient, body: dict[str, Any], command: Command
) -> None:
    """Execute through the admin service (permissions, audit), then refresh the Home tab."""
    channel = command.channel.id if isinstance(command.channel, ChannelId) else ""
    inv = _invocation(body, channel)
    try:
        outcome = await execute(ctx, command, inv)
        notice = outcome.text
    except Exception:
        log.exception("App Home %s failed", command.action)
        notice = "Something went wrong on my side, so that may not have worked. Try again."
    await publish(ctx, client, inv.user_id, notice=notice, workspace_id=inv.workspace_id)


def _clicked(body: dict[str, Any]) -> str:
    actions = body.get("actions")
    first = _object(actions[0]) if isinstance(actions, list) and actions else {}
    value = first.get("value")
    return value if isinstance(value, str) else ""


def _slack(ctx: Context) -> ChatPlatform:
    slack = ctx.platforms.named("slack")
    if slack is None:
        raise RuntimeError("the App Home runs only with the Slack platform")
    return slack


def register(app: AsyncApp, ctx: Context) -> None:
    @app.event("app_home_opened")
    async def home_opened(
        event: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        user = event.get("user")
        if event.get("tab", "home") != "home" or not isinstance(user, str) or not user:
            return
        team = context.get("team_id")
        await publish(ctx, client, user, workspace_id=team if isinstance(team, str) else None)

    async def open_modal(client: AsyncWebClient, body: dict[str, Any], view: dict) -> None:
        try:
            await client.views_open(trigger_id=body.get("trigger_id"), view=view)
        except SlackClientError as exc:
            log.warning("could not open a modal: %s", exc)

    def clicked_channel(body: dict[str, Any]) -> str | None:
        channel = _clicked(body)
        if not channel:
            log.warning("App Home button without a channel ignored")
            return None
        return channel

    @app.action(OPEN_SCHEDULE)
    async def open_schedule(
        ack: Any, body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        await ack()
        if not await first_time(context):
            return
        if channel := clicked_channel(body):
            await open_modal(client, body, await schedule_modal(ctx, channel))

    @app.action(ADD_CHANNEL)
    async def add_channel(
        ack: Any, body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        await ack()
        if not await first_time(context):
            return
        await open_modal(client, body, await schedule_modal(ctx, None))

    @app.action(OPEN_DIGEST)
    async def open_digest(
        ack: Any, body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        await ack()
        if not await first_time(context):
            return
        if channel := clicked_channel(body):
            await open_modal(client, body, await digest_modal(ctx, channel))

    @app.action(OPEN_PAUSE)
    async def open_pause(
        ack: Any, body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        await ack()
        if not await first_time(context):
            return
        if channel := clicked_channel(body):
            await open_modal(client, body, pause_modal(ctx, channel))

    @app.action(RESUME)
    async def resume(
        ack: Any, body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        await ack()
        if not await first_time(context):
            return
        if channel := clicked_channel(body):
            await _carry_out(ctx, client, body, Resume(channel=ChannelId(channel)))

    async def submitted(
        ack: Any, body: dict[str, Any], client: AsyncWebClient, context: dict, parsed: tuple
    ) -> None:
        command, errors = parsed
        if errors:
            await ack(response_action="errors", errors=errors)  # the modal stays open
            return
        await ack()  # closes the modal
        if await first_time(context):
            await _carry_out(ctx, client, body, command)

    @app.view(SCHEDULE_MODAL)
    async def schedule_saved(
        ack: Any, body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        await submitted(ack, body, client, context, schedule_command(_object(body.get("view"))))

    @app.view(DIGEST_MODAL)
    async def digest_saved(
        ack: Any, body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        await submitted(ack, body, client, context, digest_command(_object(body.get("view"))))

    @app.view(PAUSE_MODAL)
    async def pause_saved(
        ack: Any, body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        await submitted(
            ack, body, client, context, pause_command(_object(body.get("view")), local_today(ctx))
        )
