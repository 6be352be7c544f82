"""The guarded outbound HTTP client (CONTRACT.md §8; research/reliability-security.md §3.5): every
connection's address is checked where the socket is made (aiohttp's ``socket_factory`` sees the final
address of every connection, literal or resolved, so neither another notation nor DNS rebinding gets
past it), redirects are never followed, proxies from the environment are ignored, the whole call has a
15 s budget, and at most 64 KiB of a response is read. Errors come back as ``DeliveryError`` with a short
message fit for a status event: never the response body, never a credential."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from typing import Any

import aiohttp
import msgspec

from app.outbound.addresses import Network, address_allowed, port_allowed

__all__ = ("MAX_BODY", "DeliveryError", "GuardedClient", "Response")

MAX_BODY = 64 * 1024
TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5, sock_read=15)


class DeliveryError(Exception):
    """A call that did not get a 2xx answer. ``code`` is short and stable (for the event's errorCode);
    the message is safe to store and show."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class Response(msgspec.Struct, frozen=True):
    status: int
    body: bytes  # at most MAX_BODY bytes

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON a caller can use: malformed, or nested deeper
        than msgspec decodes (RecursionError; a provider's ``"[" * 2000`` must not end an attempt)."""
        try:
            return msgspec.json.decode(self.body)
        except (msgspec.DecodeError, RecursionError):
            return None


async def _read_capped(content: aiohttp.StreamReader) -> bytes:
    """The body up to its end or MAX_BODY bytes, whichever comes first. One ``read(n)`` returns only
    what is buffered so far, so a reply sent in several packets would be cut at random."""
    data = bytearray()
    while len(data) < MAX_BODY:
        chunk = await content.read(MAX_BODY - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


class BlockedAddress(OSError):
    """Raised from the socket factory: the connection is never opened."""


class GuardedClient:
    """One aiohttp session whose every connection goes through the address guard. ``allowlist`` is the
    test-only exception (Settings refuses it in production)."""

    def __init__(
        self,
        allowlist: tuple[Network, ...] = (),
        timeout: aiohttp.ClientTimeout = TIMEOUT,
        ports: frozenset[int] | None = None,
    ) -> None:
        self.allowlist = allowlist
        # None: any port (unit tests of the client alone); the service always passes its allowed ports.
        self.ports = ports
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _socket(self, addr_info: Any) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if self.ports is not None and not port_allowed(int(sockaddr[1]), address, self.ports, self.allowlist):
            raise BlockedAddress("refused to connect to a port outside the allowed ones")
        if not address_allowed(address, self.allowlist):
            # Generic: the message is stored as the attempt's error, which the tenant reads; what its
            # provider's name resolved to inside our network is not for it to learn.
            raise BlockedAddress("refused to connect to a non-public address")
        return socket.socket(family=family, type=type_, proto=proto)

    async def __aenter__(self) -> GuardedClient:
        connector = aiohttp.TCPConnector(socket_factory=self._socket, limit=100, ttl_dns_cache=30)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout, trust_env=False)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post_json(self, url: str, body: bytes, headers: Mapping[str, str]) -> Response:
        """POST ``body`` (JSON bytes) to ``url``; the answer if it is a 2xx, else DeliveryError."""
        assert self._session is not None, "use GuardedClient as an async context manager"
        try:
            async with self._session.post(
                url,
                data=body,
                headers={**headers, "content-type": "application/json"},
                allow_redirects=False,
            ) as r:
                data = await _read_capped(r.content)
                status = r.status
        except BlockedAddress as exc:
            raise DeliveryError("BLOCKED_ADDRESS", str(exc)) from None
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, BlockedAddress):
                raise DeliveryError("BLOCKED_ADDRESS", str(exc.os_error)) from None
            raise DeliveryError("CONNECT_FAILED", "could not connect to the provider") from None
        except TimeoutError:
            raise DeliveryError("TIMEOUT", f"no answer within {self.timeout.total:.0f} s") from None
        except aiohttp.ClientError as exc:
            raise DeliveryError("TRANSPORT", f"transport error ({type(exc).__name__})") from None
        if 300 <= status < 400:
            raise DeliveryError(
                "REDIRECT", f"the provider answered {status} (redirects are not followed)", status
            )
        if not 200 <= status < 300:
            raise DeliveryError("HTTP_STATUS", f"the provider answered {status}", status)
        return Response(status=status, body=data)
