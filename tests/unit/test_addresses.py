"""The save-time check of a provider baseUrl (CONTRACT.md §8): an SSRF corpus that must all be refused,
public URLs that must pass, and names whose DNS answer is private."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from app.outbound.addresses import (
    UnsafeUrl,
    address_allowed,
    allowed_ports,
    check_base_url,
    literal_address,
    parse_networks,
)

REFUSED = [
    # loopback, unspecified, private, link-local, metadata, CGNAT
    "https://127.0.0.1/",
    "https://127.0.0.53:8443/x",
    "https://[::1]/",
    "https://0.0.0.0/",
    "https://[::]/",
    "https://10.0.0.1/",
    "https://172.16.5.4/",
    "https://192.168.1.1/",
    "https://169.254.169.254/latest/meta-data",
    "https://100.64.0.1/",
    "https://[fe80::1]/",
    "https://[fc00::1]/",
    "https://[fd12:3456::1]/",
    # the same addresses in other notations
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:7f00:1]/",
    "https://[::ffff:169.254.169.254]/",
    "https://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "https://[2002:a9fe:a9fe::]/",  # 6to4 of 169.254.169.254
    "https://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
    "https://[64:ff9b::a9fe:a9fe]/",  # NAT64 of the metadata address
    "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",  # Teredo carrying 127.0.0.1
    "https://2130706433/",  # decimal
    "https://0x7f000001/",  # hex
    "https://0x7f.1/",
    "https://0177.0.0.1/",  # octal
    "https://127.1/",
    "https://017700000001/",
    "https://0xa9.0xfe.0xa9.0xfe/",
    # multicast, broadcast, reserved, documentation, benchmarking
    "https://224.0.0.1/",
    "https://[ff02::1]/",
    "https://255.255.255.255/",
    "https://240.0.0.1/",
    "https://198.18.0.1/",
    "https://192.0.2.1/",
    "https://[2001:db8::1]/",
    # names, userinfo tricks, schemes, shapes
    "https://localhost/",
    "https://LOCALHOST./",
    "https://api.localhost/",
    "https://user:pw@example.com/",
    "https://example.com@127.0.0.1/",
    "https://example.com:443@169.254.169.254/",
    "http://example.com/",
    "ftp://example.com/",
    "file:///etc/passwd",
    "gopher://127.0.0.1/",
    "javascript:alert(1)",
    "https:///path",
    "https://example.com/?next=http://127.0.0.1",
    "https://example.com:0/",
    "not a url",
    "https://[fec0::1]/",  # site-local (deprecated, but routable inside some networks): is_global says yes
    "https://[fec0:0:0:1::5]:443/",
]


@pytest.mark.parametrize("url", REFUSED)
async def test_the_ssrf_corpus_is_refused(url: str) -> None:
    assert len(REFUSED) >= 30
    with pytest.raises(UnsafeUrl):
        await check_base_url(url)


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("https://93.184.216.34/api/", "https://93.184.216.34/api"),
        ("https://[2606:4700::1111]/v1", "https://[2606:4700::1111]/v1"),
        ("HTTPS://api.yom.example:443/v1/", "https://api.yom.example:443/v1"),
    ],
)
async def test_public_urls_pass(url: str, stored: str) -> None:
    assert await check_base_url(url) == stored


async def test_only_allowed_ports() -> None:
    """Regression (issue 16, item 7): any port was accepted, so calls could probe internal services on
    public addresses. 443 (80 with plain http allowed) unless DISPATCH_ALLOWED_PORTS adds one."""
    with pytest.raises(UnsafeUrl, match="must use port 443"):
        await check_base_url("https://api.yom.example:8443/v1")
    with pytest.raises(UnsafeUrl, match="must use port 443"):
        await check_base_url("https://93.184.216.34:22/")
    with pytest.raises(UnsafeUrl, match="must use port 80, 443"):
        await check_base_url("http://api.yom.example:6379/", allow_http=True)
    assert await check_base_url("http://api.yom.example/", allow_http=True) == "http://api.yom.example"
    wider = allowed_ports([8443])
    assert (
        await check_base_url("https://api.yom.example:8443/v1", ports=wider)
        == "https://api.yom.example:8443/v1"
    )
    # The test-only allowlist admits its own addresses on any port (a loopback receiver).
    loopback = parse_networks(["127.0.0.0/8"])
    assert await check_base_url("http://127.0.0.1:9/x", allow_http=True, allowlist=loopback)


async def test_names_are_not_resolved_at_save_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (issue 16, item 7): the save-time DNS check told a tenant whether an internal name
    exists (refused when it resolved to a private address, accepted when it did not resolve). A name is
    now never resolved at save time: every name gets the same answer, and the connected socket is what
    is checked at every call (tests/dispatch/test_http.py)."""

    def no_dns(*args: object, **kwargs: object) -> None:
        raise AssertionError("check_base_url resolved a name")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    for name in ("intranet.corp.example", "does-not-exist.example", "metadata.internal"):
        assert await check_base_url(f"https://{name}/hook") == f"https://{name}/hook"


def test_site_local_ipv6_is_not_an_allowed_address() -> None:
    assert not address_allowed(ipaddress.ip_address("fec0::1"))
    assert not address_allowed(ipaddress.ip_address("feff:ffff::1"))
    assert address_allowed(ipaddress.ip_address("2606:4700::1111"))


async def test_http_only_when_allowed_and_loopback_only_when_allowlisted() -> None:
    loopback = parse_networks(["127.0.0.0/8"])
    assert (
        await check_base_url("http://127.0.0.1:9/x", allow_http=True, allowlist=loopback)
        == "http://127.0.0.1:9/x"
    )
    with pytest.raises(UnsafeUrl):
        await check_base_url("http://127.0.0.1:9/x", allowlist=loopback)
    with pytest.raises(UnsafeUrl):
        await check_base_url("https://169.254.169.254/", allowlist=loopback)


def test_every_notation_is_read_as_its_address() -> None:
    for text in ("2130706433", "0x7f000001", "0x7f.1", "0177.0.0.1", "127.1", "[::ffff:127.0.0.1]"):
        address = literal_address(text)
        assert address is not None and not address_allowed(address), text
    assert literal_address("example.com") is None
