"""What `feeds add` accepts: a web address on a public host, and a bounded set of keywords.

Every refusal is a FeedAdminError with one sentence that says what to do instead.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from bot.domain.feed_addresses import address_refusal
from bot.domain.feed_match import Keywords
from bot.domain.language import N_
from bot.domain.messages import MessageError, Msg

MAX_URL_CHARS = 2048
MAX_KEYWORDS = 20
MAX_KEYWORD_LENGTH = 100
# Looking the host up at `add` is a courtesy (the fetcher checks every address again at each
# poll): a slow or broken resolver must not hold the command up for long.
RESOLVE_TIMEOUT_S = 5.0
PRIVATE_HINT = "set LEADERBOT_ALLOW_PRIVATE_FEEDS=true to allow intranet feeds"


class FeedAdminError(MessageError):
    """A refused change; the message is for the person who asked (`str(exc)` in English; a
    chat answer writes it in the channel's language with `text(t)`)."""


def validate_url(url: str) -> str:
    url = url.strip()
    if len(url) > MAX_URL_CHARS:
        raise FeedAdminError(Msg(N_("That address is too long (2,048 characters at most).")))
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        raise FeedAdminError(Msg(N_("{url} is not a web address."), url=repr(url))) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise FeedAdminError(Msg(N_("A feed address starts with https:// (or http://).")))
    if parts.username is not None or parts.password is not None:
        raise FeedAdminError(
            Msg(N_("Feed addresses with a user name or password are not supported."))
        )
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise FeedAdminError(Msg(N_("A feed address has no spaces in it.")))
    return url


def validate_keywords(words: Iterable[str]) -> Keywords:
    cleaned = [" ".join(w.split()) for w in words]
    cleaned = [w for w in dict.fromkeys(cleaned) if w]
    if len(cleaned) > MAX_KEYWORDS:
        raise FeedAdminError(Msg(N_("Give {n} keywords at most."), n=MAX_KEYWORDS))
    for word in cleaned:
        if len(word) > MAX_KEYWORD_LENGTH:
            raise FeedAdminError(
                Msg(N_("Keywords can be {n} characters at most."), n=MAX_KEYWORD_LENGTH)
            )
    return Keywords.parse(cleaned)


async def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The host's addresses, or none when it cannot be looked up now (the poll says why)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S
        )
    except (OSError, TimeoutError, UnicodeError):
        return []
    found = []
    for info in infos:
        try:
            found.append(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        except ValueError:
            continue
    return found


async def check_public(url: str, *, allow_private: bool) -> None:
    """Refuse a feed on a private, loopback or otherwise non-public address now, at `add`,
    rather than let it fail at every poll. A host that cannot be looked up yet is accepted:
    it may be a new name, and the poll reports the failure with its reason."""
    if allow_private:
        return
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    for ip in await _addresses(host, port):
        why = address_refusal(ip)
        if why is not None:
            raise FeedAdminError(
                Msg(
                    N_(
                        "{host} is not a public address ({ip}: {why}): feeds must be on the "
                        "public internet ({hint})."
                    ),
                    host=host,
                    ip=str(ip),
                    why=why,
                    hint=PRIVATE_HINT,
                )
            )
