"""Which addresses feeds may be fetched from (pure)."""

from __future__ import annotations

import ipaddress

import pytest

from bot.domain.feed_addresses import AddressPolicy, address_refusal

REFUSED = {
    "127.0.0.1": "loopback",
    "127.8.9.10": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "100.64.0.1": "carrier-grade NAT",
    "169.254.169.254": "link-local",
    "0.0.0.0": "this network",
    "224.0.0.1": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "broadcast",
    "192.0.2.10": "documentation",
    "198.18.0.1": "benchmarking",
    "::1": "loopback",
    "::": "unspecified",
    "fe80::1": "link-local",
    "fc00::1": "unique local",
    "fd12:3456::1": "unique local",
    "fec0::1": "site-local",
    "ff02::1": "multicast",
    "2001:db8::1": "documentation",
    "::ffff:127.0.0.1": "IPv4-mapped IPv6 address for 127.0.0.1 (loopback)",
    "::ffff:169.254.169.254": "IPv4-mapped",
    "64:ff9b::a9fe:a9fe": "NAT64 IPv6 address for 169.254.169.254",
    "64:ff9b::7f00:1": "NAT64",
    "64:ff9b:1::808:808": "local-use NAT64",  # RFC 8215: refused whatever it embeds
    "2002:7f00:1::1": "6to4 IPv6 address for 127.0.0.1",
    "2002:a00:1::1": "6to4",
    "::7f00:1": "IPv4-compatible IPv6 address for 127.0.0.1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2": "Teredo",
}

ALLOWED = [
    "93.184.216.34",
    "8.8.8.8",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "2002:808:808::1",
    "64:ff9b::808:808",  # 8.8.8.8 through the well-known NAT64 prefix
]


@pytest.mark.parametrize(("address", "why"), sorted(REFUSED.items()))
def test_private_and_reserved_addresses_are_refused(address: str, why: str) -> None:
    reason = address_refusal(ipaddress.ip_address(address))
    assert reason is not None and why in reason


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_allow_private_lifts_everything_and_exempt_lifts_one_server() -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    assert AddressPolicy().refusal(loopback, 80) is not None
    assert AddressPolicy(allow_private=True).refusal(loopback, 80) is None
    narrow = AddressPolicy.build(exempt=[("127.0.0.1/32", 8080)])
    assert narrow.refusal(loopback, 8080) is None
    assert narrow.refusal(loopback, 8081) is not None
    assert narrow.refusal(ipaddress.ip_address("169.254.169.254"), 8080) is not None


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b:1:7f00:0:100:808:808",  # 127.0.0.1 in the RFC 6052 /48 layout
        "64:ff9b:1:a9fe:a9:fe00:808:808",  # 169.254.169.254 in the /48 layout
        "64:ff9b:1::808:808",
    ],
)
def test_local_use_nat64_addresses_are_refused_whatever_they_embed(address: str) -> None:
    # Where a /48 translator puts the IPv4 address cannot be known from here (RFC 6052): read
    # as the well-known /96, 127.0.0.1 would pass as 8.8.8.8. The /48 is never public.
    assert address_refusal(ipaddress.ip_address(address)) is not None
