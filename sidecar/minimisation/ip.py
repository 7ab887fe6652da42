"""Validate, pick and anonymise client IP addresses (protocols.md §6.1).

Anonymisation keeps the network part the way Universal Analytics' anonymizeIp did: IPv4 keeps
its /24 (last octet zeroed), IPv6 its /48 (last 80 bits zeroed). Addresses that carry an IPv4
address keep no more of it than the IPv4 rule would: IPv4-mapped IPv6 is anonymised as the IPv4
it carries, and 6to4 (`2002:AABB:CCDD::/48` is the whole IPv4 `AA.BB.CC.DD`) keeps only /40.
Teredo, NAT64 and ISATAP carry the client's IPv4 below bit 48, which /48 already removes.
Errors never repeat the input: an IP address is personal data.

The generated tags carry the same rules in sandboxed JS (`anonymizeIp` in
templates/tpl/_ip.js.jinja); both are held to tests/vectors/ip.json.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

IPV4_PREFIX = 24
IPV6_PREFIX = 48
SIXTOFOUR_PREFIX = 40  # 16 bits of 2002::/16 + the first 24 bits of the embedded IPv4
_SIXTOFOUR = ipaddress.IPv6Network("2002::/16")
# Only the ASCII whitespace proxies write: str.strip() would also take Unicode spaces, which the
# JS twin's trim() treats differently.
_SPACE = " \t\r\n"

# ASCII digits only: \d would take any script's digits, and int() would read them as a port.
_IPV4_WITH_PORT = re.compile(r"([0-9]{1,3}(?:\.[0-9]{1,3}){3}):([0-9]{1,5})")
_BRACKETED_V6 = re.compile(r"\[([0-9A-Fa-f:.]+)\](?::([0-9]{1,5}))?")

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class IpError:
    """Why a string is not a usable IP; `index` is the position in a forwarded list."""

    message: str
    index: int | None = None


def parse_ip(text: str | None) -> IpAddress | IpError:
    """Parse one address as proxies write it: `a.b.c.d`, `a.b.c.d:port`, IPv6, `[IPv6]:port`.

    IPv4-mapped IPv6 (`::ffff:a.b.c.d`) comes back as the IPv4 address it carries, so it is
    anonymised by the IPv4 rule. Zone ids (`fe80::1%eth0`) are refused: they only mean
    something on the host that wrote them.
    """
    if not isinstance(text, str):
        return IpError("expected an IP address string")
    candidate = text.strip(_SPACE)
    if candidate == "":
        return IpError("empty IP address")
    if "%" in candidate:
        return IpError("IPv6 zone ids are not accepted")
    port: str | None = None
    match = _IPV4_WITH_PORT.fullmatch(candidate) or _BRACKETED_V6.fullmatch(candidate)
    if match:
        candidate, port = match.group(1), match.group(2)
    if port is not None and not 0 < int(port) < 65536:
        return IpError("port out of range")
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return IpError("not an IPv4 or IPv6 address")
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_valid_ip(text: str | None) -> bool:
    return not isinstance(parse_ip(text), IpError)


def anonymize_ip(text: str | None) -> str | IpError:
    """`203.0.113.42` -> `203.0.113.0`; `2001:db8:85a3:8d3::7348` -> `2001:db8:85a3::`;
    6to4 `2002:c633:6407::1` (198.51.100.7) -> `2002:c633:6400::` (198.51.100.0)."""
    address = parse_ip(text)
    if isinstance(address, IpError):
        return address
    if address.version == 4:
        prefix = IPV4_PREFIX
    elif address in _SIXTOFOUR:
        prefix = SIXTOFOUR_PREFIX
    else:
        prefix = IPV6_PREFIX
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    return str(network.network_address)


def forwarded_ip(header: str | None, trusted_proxies: int = 0) -> str | IpError:
    """The client address from an X-Forwarded-For list, normalised (no port, compressed IPv6).

    With `trusted_proxies=0` it is the first entry, as the Event API contract says. Every proxy
    appends the address it saw, so the first entry is whatever the client claimed; when N
    proxies you run sit in front (a load balancer: N=1), pass N to take the entry N from the
    right instead, which the client cannot forge.
    """
    if header is None or header.strip() == "":
        return IpError("no forwarded address")
    entries = [entry.strip() for entry in header.split(",")]
    if trusted_proxies < 0:
        raise ValueError("trusted_proxies must be 0 or more")
    if trusted_proxies == 0:
        index = 0
    else:
        index = len(entries) - trusted_proxies
        if index < 0:
            return IpError(
                f"{len(entries)} forwarded addresses, fewer than the {trusted_proxies} "
                "trusted proxies configured"
            )
    address = parse_ip(entries[index])
    if isinstance(address, IpError):
        return IpError(f"forwarded address {index + 1} of {len(entries)}: {address.message}", index)
    return str(address)
