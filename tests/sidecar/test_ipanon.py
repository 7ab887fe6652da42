"""IP validation, X-Forwarded-For handling and /24 + /48 anonymisation (sidecar.minimisation.ip)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.minimisation import ip as ipanon

IP_VECTORS = json.loads(
    (Path(__file__).parent.parent / "vectors" / "ip.json").read_text(encoding="utf-8")
)
IP_CASES = IP_VECTORS["cases"]
FORWARDED_CASES = IP_VECTORS["forwarded_cases"]


@pytest.mark.parametrize("case", IP_CASES, ids=[c["id"] for c in IP_CASES])
def test_ip_vector(case: dict) -> None:
    result = ipanon.anonymize_ip(case["input"])
    if case.get("error"):
        assert isinstance(result, ipanon.IpError)
        assert ipanon.is_valid_ip(case["input"]) is False
    else:
        assert result == case["anonymized"]


@pytest.mark.parametrize("case", FORWARDED_CASES, ids=[c["id"] for c in FORWARDED_CASES])
def test_forwarded_vector(case: dict) -> None:
    first = ipanon.forwarded_ip(case["header"])
    result = first if isinstance(first, ipanon.IpError) else ipanon.anonymize_ip(first)
    if case.get("error"):
        assert isinstance(result, ipanon.IpError)
    else:
        assert result == case["anonymized"]


def test_6to4_keeps_no_more_of_its_ipv4_than_the_ipv4_rule() -> None:
    address = ipaddress.IPv6Address(ipanon.anonymize_ip("2002:c633:6407::1"))
    assert address.sixtofour == ipaddress.IPv4Address(ipanon.anonymize_ip("198.51.100.7"))


def test_errors_never_repeat_the_address() -> None:
    result = ipanon.anonymize_ip("203.0.113.999")
    assert isinstance(result, ipanon.IpError)
    assert "203.0.113" not in result.message


def test_non_string_is_an_error_value() -> None:
    assert isinstance(ipanon.parse_ip(None), ipanon.IpError)
    assert isinstance(ipanon.anonymize_ip(12345), ipanon.IpError)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("header", "trusted", "expected"),
    [
        ("203.0.113.7", 0, "203.0.113.7"),
        ("203.0.113.7, 10.0.0.1, 10.0.0.2", 0, "203.0.113.7"),
        ("[2001:DB8::7]:443,10.0.0.1", 0, "2001:db8::7"),
        ("198.51.100.9, 203.0.113.7", 1, "203.0.113.7"),
        ("198.51.100.9, 203.0.113.7, 10.0.0.1", 2, "203.0.113.7"),
    ],
)
def test_forwarded_ip_picks_the_client(header: str, trusted: int, expected: str) -> None:
    assert ipanon.forwarded_ip(header, trusted) == expected


def test_forwarded_ip_errors_name_the_position() -> None:
    bad_first = ipanon.forwarded_ip("unknown, 203.0.113.7")
    assert bad_first == ipanon.IpError("forwarded address 1 of 2: not an IPv4 or IPv6 address", 0)
    too_few = ipanon.forwarded_ip("203.0.113.7", trusted_proxies=2)
    assert isinstance(too_few, ipanon.IpError)
    assert "fewer than the 2 trusted proxies" in too_few.message
    assert isinstance(ipanon.forwarded_ip(None), ipanon.IpError)
    assert isinstance(ipanon.forwarded_ip("  "), ipanon.IpError)
    assert isinstance(ipanon.forwarded_ip(",203.0.113.7"), ipanon.IpError)


@settings(deadline=None)
@given(st.ip_addresses(v=4))
def test_ipv4_keeps_its_24_and_is_idempotent(address: ipaddress.IPv4Address) -> None:
    anonymized = ipanon.anonymize_ip(str(address))
    assert isinstance(anonymized, str)
    assert address in ipaddress.ip_network(f"{anonymized}/24")
    assert anonymized.endswith(".0")
    assert ipanon.anonymize_ip(anonymized) == anonymized


@settings(deadline=None)
@given(st.ip_addresses(v=6))
def test_ipv6_keeps_its_48_and_is_idempotent(address: ipaddress.IPv6Address) -> None:
    anonymized = ipanon.anonymize_ip(str(address))
    assert isinstance(anonymized, str)
    if address.ipv4_mapped is not None:
        assert anonymized == ipanon.anonymize_ip(str(address.ipv4_mapped))
        return
    if address.sixtofour is not None:
        # 6to4 keeps /40: the /24 of the IPv4 it carries, never the whole of it.
        assert address in ipaddress.ip_network(f"{anonymized}/40")
        assert int(ipaddress.ip_address(anonymized)) & ((1 << 88) - 1) == 0
        assert ipanon.anonymize_ip(anonymized) == anonymized
        return
    network = ipaddress.ip_network(f"{anonymized}/48")
    assert address in network
    assert int(ipaddress.ip_address(anonymized)) & ((1 << 80) - 1) == 0
    assert ipanon.anonymize_ip(anonymized) == anonymized
