"""Which network addresses an outbound call may reach (CONTRACT.md §8; research/reliability-security.md
§3.5): global unicast only. ``ipaddress.is_global`` alone is not enough on Python 3.11 (it calls
multicast global, and NAT64/6to4 forms of 127.0.0.1 global), so embedded IPv4 addresses are unwrapped
and checked too. ``check_base_url`` is the save-time check of a provider URL: its form and, for a literal
address or a local name, the address. Names are not resolved then: whether an internal name resolves
would be an answer a tenant could read (issue 16). The check that counts is the call-time one, on the
connected socket (``app.outbound.http``)."""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse
from collections.abc import Iterable

__all__ = (
    "Network",
    "UnsafeUrl",
    "address_allowed",
    "allowed_ports",
    "check_base_url",
    "literal_address",
    "parse_networks",
    "port_allowed",
)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
NAT64 = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # local-use NAT64 (RFC 8215)


class UnsafeUrl(ValueError):
    """A URL an outbound call must not go to; the message says why (no secret in it)."""


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())


def _embedded(address: Address) -> list[Address]:
    """The address and every IPv4 address carried inside it (mapped, 6to4, Teredo, NAT64)."""
    found: list[Address] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            found.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            found.append(address.sixtofour)
        if address.teredo is not None:
            found += list(address.teredo)
        if address in NAT64 or address in NAT64_LOCAL:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def address_allowed(address: Address, allowlist: tuple[Network, ...] = ()) -> bool:
    """Global unicast, and so is every IPv4 address carried inside it; or inside the test-only
    allowlist."""
    for a in _embedded(address):
        if any(a in net for net in allowlist if net.version == a.version):
            continue
        if not a.is_global or a.is_multicast or a.is_reserved or a.is_unspecified or a.is_link_local:
            return False
        if isinstance(a, ipaddress.IPv6Address) and a.is_site_local:  # fec0::/10: is_global says yes
            return False
    return True


def literal_address(host: str) -> Address | None:
    """``host`` as an IP address when it is one, in any notation the resolver would accept (dotted,
    decimal ``2130706433``, hex ``0x7f.1``, octal ``0177.0.0.1``, bracketed IPv6), else None."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    bare = bare[:-1] if bare.endswith(".") else bare  # "10.0.0.1." is that address to a resolver
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(bare))  # the legacy forms getaddrinfo also takes
    except OSError:
        return None


def _local_name(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name in ("localhost", "localhost.localdomain") or name.endswith(".localhost")


def allowed_ports(extra: Iterable[int] = (), *, allow_http: bool = False) -> frozenset[int]:
    """The ports outbound calls may use: 443, 80 where plain http is allowed, and ``extra``
    (``DISPATCH_ALLOWED_PORTS``). A port-scan of internal services through our calls needs other ports."""
    return frozenset({443, *((80,) if allow_http else ()), *extra})


def port_allowed(
    port: int, address: Address | None, ports: frozenset[int], allowlist: tuple[Network, ...]
) -> bool:
    """``port`` is one of ``ports``, or the address is inside the test-only allowlist (a loopback receiver
    listens on any port)."""
    if port in ports:
        return True
    return address is not None and any(address in net for net in allowlist if net.version == address.version)


async def check_base_url(
    url: str,
    *,
    allow_http: bool = False,
    allowlist: tuple[Network, ...] = (),
    ports: frozenset[int] | None = None,
) -> str:
    """The provider URL as it will be used, or UnsafeUrl: https (http only when ``allow_http``), a host,
    no userinfo, no query or fragment, an allowed port (``allowed_ports``), and, for a literal IP (in
    every notation) or a local name, an address that is allowed. Other names are not resolved here (see
    the module docstring). The messages are generic: they never say what a name resolves to."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl("not a valid URL") from exc
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme.lower() not in schemes:
        raise UnsafeUrl("must be an https URL" if not allow_http else "must be an http(s) URL")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeUrl("must not carry credentials (user@host)")
    host = parts.hostname or ""
    if not host:
        raise UnsafeUrl("must name a host")
    if parts.query or parts.fragment:
        raise UnsafeUrl("must not carry a query or a fragment")
    if port == 0:
        raise UnsafeUrl("port 0 is not a port")
    literal, local = literal_address(host), _local_name(host)
    effective = port or (443 if parts.scheme.lower() == "https" else 80)
    usable = ports if ports is not None else allowed_ports(allow_http=allow_http)
    if not (local and allowlist) and not port_allowed(effective, literal, usable, allowlist):
        raise UnsafeUrl(f"must use port {', '.join(str(p) for p in sorted(usable))}")
    if (literal is not None and not address_allowed(literal, allowlist)) or (local and not allowlist):
        raise UnsafeUrl("points at a private, loopback, link-local or otherwise non-public address")
    return urllib.parse.urlunsplit((parts.scheme.lower(), parts.netloc, parts.path.rstrip("/"), "", ""))
