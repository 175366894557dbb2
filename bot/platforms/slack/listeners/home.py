"""The App Home tab: what leaderbot does in each channel, and (for admins) buttons to change it.

Languages: each channel's part is written in that channel's language, and the rest of the tab
in the languages of the channels it lists (all in one language: that one; mixed: Welsh, then
English). A modal is written in its channel's language, which it carries in its
private_metadata, so its inline errors are in the same language.

Every change made here goes through the same service as `/leadership` (same permission check,
same audit log); modal input is checked with the same parsers, and anything wrong is shown
inline in the modal (response_action "errors") before it closes.
"""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.command_grammar import SLASH, Command, Pause, Resume, SetDigest, SetSchedule
from bot.domain.language import ENGLISH, N_, Language, Translator, coerce_language, translator
from bot.domain.parsing import (
    DAY_NAMES,
    ChannelId,
    ParseError,
    parse_date,
    parse_day,
    parse_time,
    parse_zone,
)
from bot.domain.permissions import ALLOW_LISTED, BOT_ADMIN, WORKSPACE_ADMIN, WORKSPACE_OWNER
from bot.platforms.slack.blocks import context, escape_mrkdwn, header, section, truncate
from bot.platforms.slack.listeners.commands import PLATFORM_LABEL, SLACK_STYLE
from bot.platforms.slack.replays import first_time
from bot.port import ChatPlatform
from bot.services import channels as channel_service
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
    when,
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
MODAL_TITLE_LIMIT = 24  # Slack's cap on a modal's title, submit and close texts
_A_MONDAY = date(2024, 1, 1)

# The role that allowed a change (as the audit log records it), as the Home tab names it.
_ROLE_NAMES = {
    WORKSPACE_OWNER: N_("workspace owner"),
    WORKSPACE_ADMIN: N_("workspace admin"),
    ALLOW_LISTED: N_("listed in LEADERBOT_ADMINS"),
    BOT_ADMIN: N_("added with {slash} admins add"),
}


def home_language(languages: list[Language]) -> Language:
    """The language of the Home tab's own words: the channels' one language, or both."""
    found = set(languages)
    if not found or found == {"en"}:
        return "en"
    return found.pop() if len(found) == 1 else "both"


def _fit(t: Translator, message: str, limit: int, **values: str) -> str:
    """A short text in `t`'s language; for `both`, the Welsh alone when the two would not fit
    in `limit` (button labels, modal titles)."""
    text = t.gettext(message).format(**values)
    if len(text) > limit and t.language == "both":
        return translator("cy").gettext(message).format(**values)
    return text


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


async def _channel_blocks(
    ctx: Context, channel_id: str, admin: bool, t: Translator = ENGLISH
) -> list[dict[str, Any]]:
    """One channel's settings (and buttons), in `t`: the channel's language."""
    s = SLACK_STYLE
    summary = await summarise(ctx, channel_id)

    def lines(one: Translator) -> str:
        written = [s.bold(s.channel(channel_id)), question_line(summary, s, one)]
        if summary.question_due and summary.question and summary.question_state != "off":
            nxt = when(summary.question_due, summary.question.timezone, one)
            written.append(one.gettext("Next post: {when}.").format(when=nxt))
        written += [
            last_question_line(summary, s, ctx.questions, one),
            digest_line(summary, s, one),
            one.gettext("Alerts about new Socitm reports: on.")
            if summary.alerts
            else one.gettext("Alerts about new Socitm reports: off."),
            feeds_line(summary, s, one),
        ]
        return "\n".join(written)

    blocks = [{"type": "divider"}, section(t.each(lines, "\n\n"))]
    if admin:
        # Plain text (no <#C…> mention syntax): the channel's name, else its id.
        where = f"#{summary.name}" if summary.name else channel_id
        limit = ACCESSIBILITY_LABEL_LIMIT
        buttons = [
            _button(
                _fit(t, N_("Change schedule"), 75),
                OPEN_SCHEDULE,
                channel_id,
                label=_fit(
                    t, N_("Change the weekly question schedule of {where}"), limit, where=where
                ),
            ),
            _button(
                _fit(t, N_("Change digest"), 75),
                OPEN_DIGEST,
                channel_id,
                label=_fit(t, N_("Change the digest of {where}"), limit, where=where),
            ),
        ]
        paused = summary.question is not None and summary.question_state != "active"
        if paused:
            buttons.append(
                _button(
                    _fit(t, N_("Resume"), 75),
                    RESUME,
                    channel_id,
                    "primary",
                    label=_fit(t, N_("Resume the weekly question in {where}"), limit, where=where),
                )
            )
        elif summary.question is not None:
            buttons.append(
                _button(
                    _fit(t, N_("Pause"), 75),
                    OPEN_PAUSE,
                    channel_id,
                    label=_fit(t, N_("Pause the weekly question in {where}"), limit, where=where),
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
    channels = await served_channels(ctx, workspace_id)
    languages = await channel_service.languages(ctx, channels)
    shown = channels[:MAX_CHANNELS]
    t = translator(home_language([languages.get(c, "en") for c in channels]))
    blocks: list[dict[str, Any]] = [
        header("leaderbot"),
        section(
            t.each(
                lambda one: one.gettext(
                    "Each week I post one of Socitm's key questions for public-sector leaders, "
                    "collect the replies in its thread, and send a digest of them. "
                    "Type `{slash} help` in any channel for the commands."
                ).format(slash=SLASH),
                "\n\n",
            )
        ),
    ]
    if notice:
        blocks.append(section(notice))
    if admin:

        def can_change(one: Translator) -> str:
            role = _ROLE_NAMES.get(decision.reason)
            named = one.gettext(role).format(slash=SLASH) if role else decision.reason
            return one.gettext("You can change these settings ({role}).").format(
                role=escape_mrkdwn(named)
            )

        blocks.append(context(t.each(can_change, "\n")))
    else:
        blocks.append(context(escape_mrkdwn(decision.text(t))))
    for channel_id in shown:
        language = languages.get(channel_id, "en")
        blocks += await _channel_blocks(ctx, channel_id, admin, translator(language))
    if len(channels) > MAX_CHANNELS:
        more = len(channels) - MAX_CHANNELS
        blocks.append(
            context(
                t.each(
                    lambda one: one.gettext(
                        "And {more} more: type `{slash} status` in those channels."
                    ).format(more=more, slash=SLASH),
                    "\n",
                )
            )
        )
    if not channels:
        blocks.append(
            section(
                t.each(
                    lambda one: one.gettext(
                        "No channels yet. An admin can start with `{slash} schedule mon 09:00`."
                    ).format(slash=SLASH),
                    "\n\n",
                )
            )
        )
    if admin:
        blocks.append(
            {
                "type": "actions",
                "block_id": "setup",
                "elements": [
                    _button(
                        _fit(t, N_("Set up a channel"), 75),
                        ADD_CHANNEL,
                        "new",
                        "primary",
                        label=_fit(
                            t,
                            N_("Set up the weekly question in another channel"),
                            ACCESSIBILITY_LABEL_LIMIT,
                        ),
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


def _day_name(weekday: int, t: Translator) -> str:
    if t.language == "en":
        return DAY_NAMES[weekday]
    return t.format_date(_A_MONDAY + timedelta(days=weekday), "EEEE")


def _option(weekday: int, t: Translator = ENGLISH) -> dict[str, Any]:
    return {"text": _plain(_day_name(weekday, t)), "value": SHORT_DAYS[weekday]}


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


def _day_time_zone(
    weekday: int, at: str, zone: str, t: Translator = ENGLISH
) -> list[dict[str, Any]]:
    return [
        _input(
            "day",
            t.gettext("Day"),
            {
                "type": "static_select",
                "options": [_option(i, t) for i in range(7)],
                "initial_option": _option(weekday, t),
            },
        ),
        _input(
            "time",
            t.gettext("Time"),
            {"type": "plain_text_input", "initial_value": at},
            hint=t.gettext("24-hour or am/pm, e.g. 09:00, 9am or 17.30"),
        ),
        _input(
            "zone",
            t.gettext("Time zone"),
            {"type": "plain_text_input", "initial_value": zone},
            hint=t.gettext("A place, e.g. Europe/London"),
        ),
    ]


def _modal(
    callback_id: str, title: str, channel_id: str | None, blocks: list, t: Translator = ENGLISH
) -> dict[str, Any]:
    meta: dict[str, Any] = {"channel": channel_id}
    if t.language != "en":
        meta["language"] = t.language  # the inline errors are written in it
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": _plain(_fit(t, title, MODAL_TITLE_LIMIT)),
        "submit": _plain(_fit(t, N_("Save"), MODAL_TITLE_LIMIT)),
        "close": _plain(_fit(t, N_("Cancel"), MODAL_TITLE_LIMIT)),
        "private_metadata": json.dumps(meta),
        "blocks": blocks,
    }


async def modal_translator(
    ctx: Context, channel_id: str | None, workspace_id: str | None = None
) -> Translator:
    """A modal's language: its channel's; with no channel yet, the Home tab's."""
    if channel_id is not None:
        return translator(await channel_service.language_of(ctx, channel_id))
    served = await served_channels(ctx, workspace_id)
    languages = await channel_service.languages(ctx, served)
    return translator(home_language([languages.get(c, "en") for c in served]))


async def schedule_modal(
    ctx: Context, channel_id: str | None, workspace_id: str | None = None
) -> dict[str, Any]:
    t = await modal_translator(ctx, channel_id, workspace_id)
    current = await find_schedule(ctx, channel_id, "question") if channel_id else None
    blocks: list[dict[str, Any]] = []
    if channel_id is None:
        blocks.append(
            _input(
                "channel",
                t.gettext("Channel"),
                {
                    "type": "conversations_select",
                    "filter": {"include": ["public", "private"], "exclude_bot_users": True},
                },
                hint=t.gettext("For a private channel, invite the bot first: /invite @leaderbot"),
            )
        )
    else:
        blocks.append(
            section(
                t.each(
                    lambda one: one.gettext("The weekly question in {channel}.").format(
                        channel=f"<#{channel_id}>"
                    ),
                    "\n",
                )
            )
        )
    blocks += _day_time_zone(
        current.weekday if current else 0,
        current.time if current else "09:00",
        current.timezone if current else ctx.settings.timezone,
        t,
    )
    return _modal(SCHEDULE_MODAL, N_("Weekly question"), channel_id, blocks, t)


async def digest_modal(ctx: Context, channel_id: str) -> dict[str, Any]:
    t = await modal_translator(ctx, channel_id)
    current = await find_schedule(ctx, channel_id, "digest")
    question = await find_schedule(ctx, channel_id, "question")
    zone = (current or question).timezone if (current or question) else ctx.settings.timezone
    target = {"type": "conversations_select", "filter": {"include": ["public", "private"]}}
    if current is not None and current.target_channel_id:
        target["initial_conversation"] = current.target_channel_id
    blocks = [
        section(
            t.each(
                lambda one: one.gettext("The weekly digest of the replies in {channel}.").format(
                    channel=f"<#{channel_id}>"
                ),
                "\n",
            )
        ),
        *_day_time_zone(
            current.weekday if current else 4, current.time if current else "16:00", zone, t
        ),
        _input(
            "deliver",
            t.gettext("Post it in"),
            target,
            hint=t.gettext("Leave empty for the same channel"),
            optional=True,
        ),
    ]
    return _modal(DIGEST_MODAL, N_("Weekly digest"), channel_id, blocks, t)


async def pause_modal(ctx: Context, channel_id: str) -> dict[str, Any]:
    t = await modal_translator(ctx, channel_id)
    blocks = [
        section(
            t.each(
                lambda one: one.gettext("Pause the weekly question in {channel}.").format(
                    channel=f"<#{channel_id}>"
                ),
                "\n",
            )
        ),
        _input(
            "until",
            t.gettext("Until"),
            {"type": "datepicker"},
            hint=t.gettext("It posts again from this date. Leave empty to pause until you resume."),
            optional=True,
        ),
    ]
    return _modal(PAUSE_MODAL, N_("Pause"), channel_id, blocks, t)


# --- reading a submission -----------------------------------------------------------------


def _inline(error: ParseError, t: Translator = ENGLISH) -> str:
    # Modal errors are plain text: drop the backticks that mark code in mrkdwn.
    return error.text(t).replace("`", "")


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
        # The language the modal was written in (anything unknown: English).
        self.t = translator(coerce_language(self.meta.get("language")))

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
            self.errors[block_id] = _inline(exc, self.t)
            return None

    def channel(self) -> str | None:
        meta = self.meta.get("channel")
        channel = (meta if isinstance(meta, str) else None) or self.conversation("channel")
        if not channel:
            self.errors["channel"] = self.t.gettext("Pick a channel.")
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
        form.errors["until"] = form.t.gettext(
            "That is today: pick a later date, or leave it empty."
        )
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
        t = translator(await channel_service.language_of(ctx, channel)) if channel else ENGLISH
        notice = t.gettext(
            "Something went wrong on my side, so that may not have worked. Try again."
        )
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
        team = _invocation(body, "").workspace_id
        await open_modal(client, body, await schedule_modal(ctx, None, team))

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
            await open_modal(client, body, await pause_modal(ctx, channel))

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
