"""Process-local token buckets (per API key; login failures per identifier and client IP) and the one
place that decides a request's client address."""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Hashable, Sequence

from app.dispatch.addresses import Network

__all__ = ("TokenBucket", "client_address")


class TokenBucket:
    """``burst`` tokens per key, refilled at ``rate_per_s``. At most ``max_keys`` keys are kept: the least
    recently used goes first (clearing the whole table would reset every throttle at once)."""

    def __init__(self, rate_per_s: float, burst: int, max_keys: int = 50_000) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self._max_keys = max_keys
        self._state: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()

    def _tokens(self, key: Hashable, now: float) -> float:
        tokens, last = self._state.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - last) * self.rate)

    def _store(self, key: Hashable, tokens: float, now: float) -> None:
        self._state[key] = (tokens, now)
        self._state.move_to_end(key)
        while len(self._state) > self._max_keys:
            self._state.popitem(last=False)

    def take(self, key: Hashable) -> float:
        """Spend one token: 0.0 when allowed, else the seconds until one is available."""
        now = time.monotonic()
        tokens = self._tokens(key, now)
        if tokens >= 1.0:
            self._store(key, tokens - 1.0, now)
            return 0.0
        self._store(key, tokens, now)
        return (1.0 - tokens) / self.rate

    def refund(self, key: Hashable) -> None:
        """Give back a token taken for something that turned out not to count (a successful login)."""
        now = time.monotonic()
        if key in self._state:
            self._store(key, min(self.burst, self._tokens(key, now) + 1.0), now)

    def reset(self, key: Hashable) -> None:
        """Forget the key: a full bucket again."""
        self._state.pop(key, None)

    def __len__(self) -> int:
        return len(self._state)

    @staticmethod
    def retry_after(wait_s: float) -> int:
        return max(1, math.ceil(wait_s))


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The client's address: the connecting peer, unless the peer is a configured trusted proxy, in which
    case the right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy (entries to its left
    are whatever the client wrote, and cannot be believed). Without trusted proxies the header is ignored,
    so nobody can pick the address a throttle counts against."""
    if peer is None:
        return "-"
    if not trusted or not forwarded_for or not _trusted(peer, trusted):
        return peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if not _trusted(hop, trusted):
            return hop if _is_ip(hop) else peer
    return peer


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
