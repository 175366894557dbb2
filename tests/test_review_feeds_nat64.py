"""Review: the local-use NAT64 prefix 64:ff9b:1::/48 (RFC 8215) is decoded as if it were /96.

`embedded_ipv4` takes the last 32 bits for both 64:ff9b::/96 and 64:ff9b:1::/48, but with a
/48 prefix RFC 6052 puts the IPv4 address in bits 48-63 and 72-87 (the last bits are the
suffix). So 64:ff9b:1:7f00:0:100:808:808 is 127.0.0.1 behind a /48 translator, yet it is read
as 8.8.8.8 and allowed ("a public IPv4 reached through a translation prefix"). The /48 is
local-use by definition, never a public destination: refusing it outright is the simple fix.
"""

from __future__ import annotations

import ipaddress

import pytest

from bot.watch.netguard import address_refusal


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b:1:7f00:0:100:808:808",  # 127.0.0.1 in the RFC 6052 /48 layout
        "64:ff9b:1:a9fe:a9:fe00:808:808",  # 169.254.169.254 in the /48 layout
        "64:ff9b:1::808:808",
    ],
)
def test_local_use_nat64_addresses_are_refused(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is not None
