"""Provider credentials at rest (CONTRACT.md §8; research/reliability-security.md §4.3): AES-256-GCM with
a versioned key ring from settings. A stored value is ``0x01 | len(key id) | key id | nonce(12) |
ciphertext+tag``; the associated data binds it to its tenant, its row and the URL it is sent to, so a
ciphertext copied to another row or tenant, or left on a row whose URL changed, does not decrypt: a
stored secret cannot reach another host, even by a bug (issue 16). New values use the primary key (the
first of the ring) and the URL-bound data; older keys, and values written before the URL was bound, only
decrypt until ``reten keys rotate`` has re-encrypted their rows."""

from __future__ import annotations

import base64
import os
import re
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = (
    "CredentialsError",
    "KeyRing",
    "UnknownKey",
    "credentials_aad",
    "decrypt_credentials",
    "generate_key",
    "legacy_credentials_aad",
)

VERSION = 1
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class CredentialsError(Exception):
    """A value that cannot be decrypted (another row's value, tampering): fail closed."""


class UnknownKey(CredentialsError):
    """The value was encrypted with a key the ring no longer holds (an operations problem)."""


def credentials_aad(tenant_id: uuid.UUID, config_id: uuid.UUID, base_url: str | None) -> bytes:
    return f"rtn:dispatch_config:credentials:v2:{tenant_id}:{config_id}:{base_url or ''}".encode()


def legacy_credentials_aad(tenant_id: uuid.UUID, config_id: uuid.UUID) -> bytes:
    """The associated data of values written before the URL was bound (read only; rotation rewrites)."""
    return f"rtn:dispatch_config:credentials:v1:{tenant_id}:{config_id}".encode()


def decrypt_credentials(
    ring: KeyRing, value: bytes, tenant_id: uuid.UUID, config_id: uuid.UUID, base_url: str | None
) -> tuple[bytes, bool]:
    """(plaintext, whether the value is URL-bound). A value written with the URL-bound data decrypts only
    for that URL; one written before reads as it did, until rotation rewrites it."""
    try:
        return ring.decrypt(value, credentials_aad(tenant_id, config_id, base_url)), True
    except UnknownKey:
        raise
    except CredentialsError:
        return ring.decrypt(value, legacy_credentials_aad(tenant_id, config_id)), False


def generate_key(key_id: str) -> str:
    """A new ring entry, ``key_id:base64(32 random bytes)``."""
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


class KeyRing:
    def __init__(self, keys: dict[str, bytes], primary: str) -> None:
        if primary not in keys:
            raise ValueError("the primary key is not in the ring")
        self._keys = {kid: AESGCM(key) for kid, key in keys.items()}
        self.primary = primary

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """``id:base64key[,id:base64key...]``, the first being the primary (CREDENTIALS_KEYS)."""
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for entry in (e.strip() for e in text.split(",") if e.strip()):
            kid, sep, encoded = entry.partition(":")
            if not sep or not _KEY_ID.match(kid):
                raise ValueError("CREDENTIALS_KEYS entries are id:base64key (id: letters, digits, _.-)")
            try:
                key = base64.b64decode(encoded, validate=True)
            except ValueError as exc:
                raise ValueError(f"CREDENTIALS_KEYS key {kid!r} is not base64") from exc
            if len(key) != 32:
                raise ValueError(f"CREDENTIALS_KEYS key {kid!r} must be 32 bytes (AES-256)")
            if kid in keys:
                raise ValueError(f"CREDENTIALS_KEYS repeats key id {kid!r}")
            keys[kid] = key
            order.append(kid)
        if not order:
            raise ValueError("CREDENTIALS_KEYS is empty")
        return cls(keys, order[0])

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        kid = self.primary.encode()
        nonce = os.urandom(12)
        return (
            bytes([VERSION, len(kid)]) + kid + nonce + self._keys[self.primary].encrypt(nonce, plaintext, aad)
        )

    @staticmethod
    def key_id(value: bytes) -> str:
        if len(value) < 2 or value[0] != VERSION:
            raise CredentialsError("unknown credentials format")
        return value[2 : 2 + value[1]].decode("ascii", "replace")

    def decrypt(self, value: bytes, aad: bytes) -> bytes:
        kid = self.key_id(value)
        cipher = self._keys.get(kid)
        if cipher is None:
            raise UnknownKey(f"credentials were encrypted with key {kid!r}, which is not in the ring")
        start = 2 + value[1]
        nonce, body = value[start : start + 12], value[start + 12 :]
        try:
            return cipher.decrypt(nonce, body, aad)
        except InvalidTag:
            raise CredentialsError("credentials do not decrypt for this row") from None

    def rotate(self, value: bytes, aad: bytes) -> bytes | None:
        """The value re-encrypted with the primary key, or None when it already is."""
        if self.key_id(value) == self.primary:
            return None
        return self.encrypt(self.decrypt(value, aad), aad)
