"""Token buckets: process-local ones (login failures per identifier and client IP, key lookups that
fail), buckets shared by every process through PostgreSQL (per API key, per tenant), and the one place
that decides a request's client address."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from app.db import rate_borrow, rate_forget
from app.outbound.addresses import Network

__all__ = ("SharedBuckets", "TokenBucket", "client_address", "shared_limits_lifespan")

log = logging.getLogger("reten.ratelimit")


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


CREDIT_SHARE = 0.25


class SharedBuckets:
    """Token buckets shared by every process of the service (issue 17, item 1), with ``TokenBucket``'s
    ``take``/``refund`` and no database round trip per request.

    Each process keeps a local stock of tokens per bucket, borrowed from the shared bucket in
    PostgreSQL (``app_runtime.rate_buckets``) by ``sync``, which a background task runs every ``interval_s``:
    it gives back the stock left, pays for what was admitted on credit, and borrows about twice what the
    bucket used in the last interval. A request takes from the stock; with none, it is admitted on
    credit (up to a quarter of the burst per interval) unless the shared bucket ran dry at the last sync,
    else 429. Credit is paid at the next sync, which can take the shared bucket below zero: it then
    grants nothing until it refills. So all processes together admit the bucket's burst plus its rate
    over time, give or take one interval's credit per process while the bucket still had tokens."""

    def __init__(self, prefix: str, rate_per_s: float, burst: int, interval_s: float = 0.1) -> None:
        self.prefix = prefix
        self.rate = rate_per_s
        self.burst = float(burst)
        self.interval_s = interval_s
        # Admitted per interval without a token while the shared bucket is not known to be dry: a key's
        # first burst is not refused while its process has not borrowed yet (paid at the next sync).
        self.credit = max(1.0, self.burst * CREDIT_SHARE)
        self._stock: dict[Hashable, float] = {}
        self._used: dict[Hashable, float] = {}  # admitted since the last sync (stock or credit)
        self._credit: dict[Hashable, float] = {}  # admitted without a token, to pay at the next sync
        self._denied: dict[Hashable, float] = {}
        self._dry: set[Hashable] = set()  # the shared bucket had less than wanted at the last sync

    def name(self, key: Hashable) -> str:
        """The shared bucket's name: a digest, so no identifier (a login's email) is stored."""
        return f"{self.prefix}:{hashlib.sha256(repr(key).encode()).hexdigest()[:32]}"

    def take(self, key: Hashable) -> float:
        """Spend one token: 0.0 when allowed, else the seconds to wait."""
        stock = self._stock.get(key, 0.0)
        if stock >= 1.0:
            self._stock[key] = stock - 1.0
        elif key not in self._dry and self._credit.get(key, 0.0) < self.credit:
            self._credit[key] = self._credit.get(key, 0.0) + 1.0
        else:
            self._denied[key] = self._denied.get(key, 0.0) + 1.0
            return max(self.interval_s, 1.0 / self.rate)
        self._used[key] = self._used.get(key, 0.0) + 1.0
        return 0.0

    def refund(self, key: Hashable) -> None:
        """Give back a token taken for a request that did not count."""
        self._stock[key] = self._stock.get(key, 0.0) + 1.0
        self._used[key] = max(0.0, self._used.get(key, 0.0) - 1.0)

    def reset(self, key: Hashable) -> None:
        """A full bucket again, for every process (a successful login clears its pair's failures): the
        next sync gives the shared bucket a whole burst back (it caps itself at the next refill)."""
        self._stock[key] = self._stock.get(key, 0.0) + self.burst
        self._dry.discard(key)

    @staticmethod
    def retry_after(wait_s: float) -> int:
        return max(1, math.ceil(wait_s))

    def pending(self) -> list[Hashable]:
        """The buckets this process must settle or borrow for (a dry one until it is known to refill)."""
        return [k for k in {*self._stock, *self._used, *self._credit, *self._denied, *self._dry}]

    async def sync(self, conn: Any) -> None:
        """Settle and borrow for every bucket in use, in one statement (``app.db.rate_borrow``). What
        requests did while it ran is kept; a sync that fails changes nothing, so a process that cannot
        reach the database admits no more than its stock and one interval's credit (it fails closed)."""
        keys = sorted(self.pending(), key=self.name)  # one lock order for every process
        if not keys:
            return
        tables: dict[str, dict[Hashable, float]] = {
            "stock": self._stock,
            "used": self._used,
            "credit": self._credit,
            "denied": self._denied,
        }
        sent = {name: {k: table.get(k, 0.0) for k in keys} for name, table in tables.items()}
        # About twice the last interval's demand. A bucket idle for a whole interval gives its stock back
        # and asks nothing, so it leaves this process's books (its next request goes on credit) - unless
        # it was dry: then it asks for one token, to learn whether it still is before credit is given.
        demand = {k: 2.0 * sent["used"][k] + sent["denied"][k] for k in keys}
        wants = [
            min(self.burst, max(1.0, demand[k])) if demand[k] else (1.0 if k in self._dry else 0.0)
            for k in keys
        ]
        rows = rate_borrow(
            conn,
            buckets=[self.name(k) for k in keys],
            rates=[self.rate] * len(keys),
            bursts=[self.burst] * len(keys),
            returned=[sent["stock"][k] for k in keys],
            debts=[sent["credit"][k] for k in keys],
            wants=wants,
        )
        granted = {r["bucket"]: float(r["granted"]) async for r in rows}
        self._dry.clear()
        for key, want in zip(keys, wants, strict=True):
            got = granted.get(self.name(key), 0.0)
            for name, table in (("used", self._used), ("credit", self._credit), ("denied", self._denied)):
                _keep(table, key, table.get(key, 0.0) - sent[name][key])
            # The stock sent back is the shared bucket's again: the grant replaces it, less what requests
            # took from it meanwhile (more than the grant is owed at the next sync).
            stock = self._stock.get(key, 0.0) - sent["stock"][key] + got
            _keep(self._stock, key, stock)
            if stock < 0:
                _keep(self._credit, key, self._credit.get(key, 0.0) - stock)
            if got < want:
                self._dry.add(key)


def _keep(table: dict[Hashable, float], key: Hashable, value: float) -> None:
    """``table[key] = value`` when positive; else the key goes."""
    if value > 0:
        table[key] = value
    else:
        table.pop(key, None)


SYNC_TIMEOUT_S = 1.0
SYNC_CONNECTION_NAME = "reten-ratelimit"
# A bucket nobody used for an hour is full again (every limit refills its burst within an hour): its row
# goes, so names that are never seen again (random keys, one-off logins) do not pile up.
IDLE_BUCKET_S = 3600.0


@asynccontextmanager
async def shared_limits_lifespan(app: Any) -> AsyncIterator[None]:
    """Settle and borrow the shared buckets in the background (never on a request's path), on a
    connection of its own: taking one from the request pool would fail exactly when the pool is busiest,
    which is when limits matter."""
    import asyncpg

    services = app.state.services
    settings = app.state.settings
    conn: asyncpg.Connection | None = None

    def shared() -> list[SharedBuckets]:
        # Read each time: a test may swap a limiter for a local one.
        found = (services.key_limiter, services.tenant_limiter, services.login_failures, services.login_by_ip)
        return [b for b in found if isinstance(b, SharedBuckets)]

    async def run() -> None:
        nonlocal conn
        forget_at = time.monotonic()
        while True:
            buckets = shared()
            await asyncio.sleep(min((b.interval_s for b in buckets), default=0.1))
            if not any(b.pending() for b in buckets):
                continue
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(
                        settings.database_url,
                        timeout=SYNC_TIMEOUT_S,
                        command_timeout=SYNC_TIMEOUT_S,
                        server_settings={"application_name": SYNC_CONNECTION_NAME},
                    )
                for b in buckets:
                    await b.sync(conn)
                if time.monotonic() >= forget_at:  # buckets idle this long are full again: drop them
                    await rate_forget(conn, IDLE_BUCKET_S)
                    forget_at = time.monotonic() + IDLE_BUCKET_S / 10
            except Exception as exc:  # the database is away: stock and one interval's credit only
                log.warning("rate_limit_sync_failed", extra={"exc_type": type(exc).__name__})
                if conn is not None:
                    conn.terminate()
                    conn = None

    task = asyncio.create_task(run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
