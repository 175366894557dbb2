"""Msg: a msgid with its values, written in the language of whoever reads it."""

from __future__ import annotations

from bot.domain.command_grammar import parse_command
from bot.domain.language import translator
from bot.domain.messages import Msg
from bot.domain.parsing import ParseError
from bot.domain.permissions import WHO_CAN_CHANGE, decide_admin


def test_a_nested_message_is_written_whole_in_each_language() -> None:
    inner = Msg(
        "{text} is not a time: {example}.",
        text="`25:00`",
        example=Msg("use e.g. `09:00`, `17.30` or `9:30am`"),
    )
    outer = Msg(
        "{message} Try `{slash} {example}`.", message=inner, slash="/leadership", example="help"
    )

    assert (
        str(outer)
        == "`25:00` is not a time: use e.g. `09:00`, `17.30` or `9:30am`. Try `/leadership help`."
    )
    assert outer.render(translator("cy")) == (
        "Nid yw `25:00` yn amser: defnyddiwch e.e. `09:00`, `17.30` neu `9:30am`. "
        "Rhowch gynnig ar `/leadership help`."
    )
    welsh, english = outer.render(translator("both")).split(" / ")
    assert welsh.startswith("Nid yw") and english == str(outer)


def test_a_parse_error_keeps_its_english_message_and_writes_welsh_on_request() -> None:
    try:
        parse_command("schedule mon 25:00")
    except ParseError as error:
        assert error.message == str(error.msg)
        assert error.message.startswith("`25:00` is past 23:59")
        assert error.text(translator("cy")).startswith("Mae `25:00` ar ôl 23:59")
    else:
        raise AssertionError("25:00 parsed")


def test_a_refusal_keeps_its_english_reason_for_the_audit_and_tests() -> None:
    decision = decide_admin(
        None, user_id="U1", allowlist=set(), bot_admins=set(), lookup_error="ratelimited"
    )
    assert decision.reason.startswith("I couldn't check your role in the workspace (ratelimited)")
    assert decision.text(translator("cy")).startswith(
        "Ni allwn wirio eich rôl yn y gweithle (ratelimited)"
    )
    assert WHO_CAN_CHANGE.startswith("Only workspace admins and owners")
