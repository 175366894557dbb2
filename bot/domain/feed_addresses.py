"""Which addresses a feed may be fetched from. Pure: no DNS, no sockets.

In the domain layer (not bot.watch) because two layers need it: the fetcher checks every
address it connects to, and the feed admin service refuses a private address at `feeds add`.

A feed URL is untrusted (any admin can add one, and any feed can redirect), so the fetcher
checks every address it is about to connect to: private, loopback, link-local (cloud metadata
at 169.254.169.254), CGNAT, multicast, reserved and documentation ranges are refused, and so
is an IPv6 address that embeds a refused IPv4 one (IPv4-mapped, IPv4-compatible, NAT64, 6to4,
Teredo), and the local-use NAT64 prefix 64:ff9b:1::/48 whatever it embeds.
`LEADERBOT_ALLOW_PRIVATE_FEEDS=true` lifts all of it, for intranet feeds and tests.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _nets(*pairs: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(net), why) for net, why in pairs)


# Listed explicitly (Miniflux style) rather than trusting `is_global` alone, whose meaning has
# shifted between Python versions; `is_global` is still consulted as a final catch-all.
BLOCKED_V4 = _nets(
    ("0.0.0.0/8", "'this network'"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (cloud metadata)"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),  # before 240/4, which contains it
    ("240.0.0.0/4", "reserved"),
)
BLOCKED_V6 = _nets(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("100::/64", "discard-only"),
    ("2001::/23", "IETF protocol assignments"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    # Local-use NAT64 (RFC 8215): never a public destination. Refused outright rather than
    # decoded: its IPv4 address sits where the operator's prefix length puts it (RFC 6052),
    # which cannot be known from here.
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("5f00::/16", "segment routing"),
    ("fc00::/7", "unique local (private)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known prefix: the IPv4 is the last 32 bits
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 address carries, and how."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    if ip.teredo is not None:
        return ip.teredo[1], "Teredo"
    if ip in IPV4_COMPATIBLE and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "IPv4-compatible"
    return None


def _v4_refusal(ip: ipaddress.IPv4Address) -> str | None:
    for net, why in BLOCKED_V4:
        if ip in net:
            return why
    if not ip.is_global:
        return "not globally routable"
    return None


def address_refusal(ip: IPAddress) -> str | None:
    """Why this address must not be fetched from, or None if it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        embedded = embedded_ipv4(ip)
        if embedded is not None:
            inner, how = embedded
            inner_why = _v4_refusal(inner)
            if inner_why is not None:
                return f"{how} IPv6 address for {inner} ({inner_why})"
            if how in ("IPv4-mapped", "NAT64", "6to4"):
                return None  # a public IPv4 reached through a translation prefix
            return f"{how} tunnelling"
        for net, why in BLOCKED_V6:
            if ip in net:
                return why
        if not ip.is_global:
            return "not globally routable"
        return None
    return _v4_refusal(ip)


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """`allow_private` lifts every refusal. `exempt` lifts it for given networks (and, when
    given, one port): a narrower opening than `allow_private`, for one intranet server or the
    fake feed server of a test."""

    allow_private: bool = False
    exempt: tuple[tuple[IPNetwork, int | None], ...] = ()

    @classmethod
    def build(
        cls, *, allow_private: bool = False, exempt: Iterable[tuple[str, int | None]] = ()
    ) -> AddressPolicy:
        return cls(
            allow_private=allow_private,
            exempt=tuple((ipaddress.ip_network(net, strict=False), port) for net, port in exempt),
        )

    def refusal(self, ip: IPAddress, port: int) -> str | None:
        if self.allow_private:
            return None
        why = address_refusal(ip)
        if why is None:
            return None
        for net, only_port in self.exempt:
            if ip.version == net.version and ip in net and only_port in (None, port):
                return None
        return why
