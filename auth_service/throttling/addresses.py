"""The address a per-address limit counts under: IPv4 as it is, IPv6 grouped by its /64.

One IPv6 subscriber, host or cloud instance routinely holds a whole /64 (RFC 6177, RFC 7421), so
counting single IPv6 addresses would hand every attacker 2**64 fresh counters (OWASP Credential
Stuffing Prevention cheat sheet, "IP address-based" throttling).
"""

from __future__ import annotations

import ipaddress

UNKNOWN = "-"  # no peer address (a test transport, a Unix socket): one shared bucket
# What a proxy wrote that is no address: all of it in one bucket, so varying it (a port, a name)
# gives no fresh counters.
UNPARSEABLE = "?"


def address_group(ip: str | None) -> str:
    """`ip` for IPv4, its /64 network for IPv6 (an IPv4-mapped address counts as its IPv4).
    "[v6]" and "[v6]:port" lose the brackets and port, "v4:port" its port."""
    if not ip:
        return UNKNOWN
    text = ip.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return UNPARSEABLE
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
