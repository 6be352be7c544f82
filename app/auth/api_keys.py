"""API keys: ``rtn_sk_`` + 48 random hex + 8 hex CRC32 of those 48. Only the SHA-256 digest is stored;
a malformed key is refused before any database work; verified keys are cached (digest -> row) for at
most ``api_key_cache_ttl_s`` and evicted on revoke on this process."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import uuid
import zlib
from collections import OrderedDict
from typing import Any

__all__ = ("KEY_PREFIX", "ApiKeyCache", "digest", "generate", "is_well_formed")

KEY_PREFIX = "rtn_sk_"
_BODY = re.compile(r"^[0-9a-f]{56}$")
DISPLAY_PREFIX_LEN = 15


def _checksum(random_hex: str) -> str:
    return f"{zlib.crc32(random_hex.encode()) & 0xFFFFFFFF:08x}"


def generate() -> str:
    random_hex = secrets.token_hex(24)  # 192 bits
    return KEY_PREFIX + random_hex + _checksum(random_hex)


def is_well_formed(key: str) -> bool:
    """Prefix, length, charset and checksum: no database touched for a typo or a guess."""
    if len(key) != len(KEY_PREFIX) + 56 or not key.startswith(KEY_PREFIX):
        return False
    body = key[len(KEY_PREFIX) :]
    if not _BODY.match(body):
        return False
    return secrets.compare_digest(_checksum(body[:48]), body[48:])


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class ApiKeyCache:
    """Process-local cache of verified key rows, keyed by digest; and a short negative cache of refused
    digests, so a client repeating a well-formed but unknown (or refused) key is answered 401 without a
    database lookup each time (at most ``NEGATIVE_MAX`` kept, the least recently refused go first)."""

    NEGATIVE_MAX = 50_000

    def __init__(self, ttl_s: float, negative_ttl_s: float = 5.0) -> None:
        self.ttl_s = ttl_s
        self.negative_ttl_s = negative_ttl_s
        self._rows: dict[bytes, tuple[float, Any]] = {}
        self._by_id: dict[uuid.UUID, bytes] = {}
        self._refused: OrderedDict[bytes, float] = OrderedDict()

    def refused(self, key_digest: bytes) -> bool:
        """Was this digest refused less than ``negative_ttl_s`` ago?"""
        at = self._refused.get(key_digest)
        if at is None:
            return False
        if time.monotonic() - at > self.negative_ttl_s:
            del self._refused[key_digest]
            return False
        return True

    def refuse(self, key_digest: bytes) -> None:
        if self.negative_ttl_s <= 0:
            return
        self._refused[key_digest] = time.monotonic()
        self._refused.move_to_end(key_digest)
        while len(self._refused) > self.NEGATIVE_MAX:
            self._refused.popitem(last=False)

    def get(self, key_digest: bytes) -> Any | None:
        hit = self._rows.get(key_digest)
        if hit is None:
            return None
        stored_at, row = hit
        if time.monotonic() - stored_at > self.ttl_s:
            self._rows.pop(key_digest, None)
            return None
        return row

    def put(self, key_digest: bytes, key_id: uuid.UUID, row: Any) -> None:
        if self.ttl_s <= 0:
            return
        if len(self._rows) > 100_000:
            self._rows.clear()
            self._by_id.clear()
        self._rows[key_digest] = (time.monotonic(), row)
        self._by_id[key_id] = key_digest

    def clear(self) -> None:
        self._rows.clear()
        self._by_id.clear()
        self._refused.clear()

    def evict_where(self, tenant_id: uuid.UUID, user_id: uuid.UUID | None = None) -> None:
        """Drop every cached key of a tenant (or of one creator in it): the tenant was switched off, or
        the creator's roles there changed. A scan: these are rare administrative events. Refusals are
        forgotten too: a change may have made a refused key good again (a tenant switched back on)."""
        self._refused.clear()
        for key_digest, (_, row) in list(self._rows.items()):
            if row.tenant_id == tenant_id and (user_id is None or row.user_id == user_id):
                self._rows.pop(key_digest, None)
                self._by_id.pop(row.key_id, None)

    def evict(self, key_id: uuid.UUID) -> None:
        key_digest = self._by_id.pop(key_id, None)
        if key_digest is not None:
            self._rows.pop(key_digest, None)
