"""Standard Webhooks 1.0 signatures on every outbound call (research/reliability-security.md §3.2), so a
provider or a tenant's hook can tell our calls from anyone's: ``webhook-id``, ``webhook-timestamp``
(integer Unix seconds, taken per attempt) and ``webhook-signature``, a space-separated list of
``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{exact body bytes}">``, one per secret that signs.

Each dispatch config and each CLIENT_HOOK attribute policy has its own secret: 32 random bytes, shown
once as ``whsec_<base64>`` (what the spec's reference library takes). At rest a secret is AES-256-GCM
ciphertext made with the credentials key ring (``app.crypto``), whose associated data names
the purpose, the tenant and the row: a value copied to another row, another tenant, or used as
credentials, does not decrypt. After a rotation the previous secret keeps signing beside the new one
for ``ROTATION_OVERLAP``, so a receiver can switch without losing a call."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.crypto import CredentialsError, KeyRing
from app.outbound.http import DeliveryError

__all__ = (
    "DISPATCH_CONFIG",
    "HOOK_POLICY",
    "ROTATION_OVERLAP",
    "Rotation",
    "Sealed",
    "SigningError",
    "SigningKey",
    "active",
    "config_keys",
    "hook_message_id",
    "new_secret",
    "rotate",
    "secret_aad",
    "shown",
    "sign_headers",
)

PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec asks for 24-64 random bytes
ROTATION_OVERLAP = timedelta(hours=24)
# What a secret is for, in its associated data (never the same as the credentials' "credentials").
DISPATCH_CONFIG = "dispatch_config:signing_secret"
HOOK_POLICY = "attribute_policy:hook_secret"


class SigningError(Exception):
    """A stored secret that cannot be read (no key ring, another row's value, tampering): the call is
    not made unsigned, it fails."""


def new_secret() -> bytes:
    return os.urandom(SECRET_BYTES)


def shown(secret: bytes) -> str:
    """The secret as its owner sees it, once: ``whsec_`` + base64."""
    return PREFIX + base64.b64encode(secret).decode()


def hook_message_id() -> str:
    """A hook call's ``webhook-id``: unique per call (a hook is a query, never retried as an event)."""
    return "msg_" + uuid.uuid4().hex


def sign_headers(secrets: bytes | Sequence[bytes], msg_id: str, body: bytes, now: float) -> dict[str, str]:
    """The three headers for ``body`` (the exact bytes sent) at ``now`` (Unix seconds), one ``v1``
    signature per secret, newest first."""
    if isinstance(secrets, bytes):
        secrets = [secrets]
    if not secrets:
        raise ValueError("at least one secret signs")
    if "." in msg_id:
        raise ValueError("a webhook id contains no '.'")  # it is a field separator of the signed content
    timestamp = str(int(now))
    content = f"{msg_id}.{timestamp}.".encode() + body
    signatures = " ".join(
        "v1," + base64.b64encode(hmac.new(s, content, hashlib.sha256).digest()).decode() for s in secrets
    )
    return {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": signatures}


def secret_aad(purpose: str, tenant_id: uuid.UUID, owner_id: uuid.UUID) -> bytes:
    return f"rtn:{purpose}:v1:{tenant_id}:{owner_id}".encode()


@dataclass(frozen=True)
class SigningKey:
    """A secret that signs; ``until`` (Unix seconds): a rotated-out one, which signs only before then."""

    secret: bytes = field(repr=False)
    until: float | None = None


def active(keys: Iterable[SigningKey], now: float) -> list[bytes]:
    """The secrets that sign at ``now``."""
    return [k.secret for k in keys if k.until is None or now < k.until]


def _seconds(value: datetime | float | None) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else value


@dataclass(frozen=True)
class Sealed:
    """A row's secrets as stored (ciphertexts), opened only where the call is made."""

    purpose: str
    tenant_id: uuid.UUID
    owner_id: uuid.UUID
    current: bytes = field(repr=False)
    previous: bytes | None = field(default=None, repr=False)
    previous_until: float | None = None  # Unix seconds

    @classmethod
    def of(
        cls,
        purpose: str,
        tenant_id: uuid.UUID,
        owner_id: uuid.UUID,
        current: bytes | None,
        previous: bytes | None = None,
        previous_until: datetime | float | None = None,
    ) -> Sealed | None:
        """None for a row without a secret (written before secrets existed: its calls go unsigned)."""
        if current is None:
            return None
        kept = bytes(previous) if previous is not None else None
        return cls(purpose, tenant_id, owner_id, bytes(current), kept, _seconds(previous_until))

    def open(self, ring: KeyRing | None) -> tuple[SigningKey, ...]:
        """The secrets, newest first; SigningError when they cannot be read."""
        if ring is None:
            raise SigningError("the signing secret cannot be read: CREDENTIALS_KEYS is not configured")
        aad = secret_aad(self.purpose, self.tenant_id, self.owner_id)
        try:
            keys = [SigningKey(ring.decrypt(self.current, aad))]
        except CredentialsError:
            raise SigningError("the signing secret cannot be read; rotate it") from None
        if self.previous is not None and self.previous_until is not None:
            # A rotated-out secret that cannot be read is left out: the new one signs alone (a rotation is
            # what fixes an unreadable secret, so it must not keep failing for the overlap).
            with contextlib.suppress(CredentialsError):
                keys.append(SigningKey(ring.decrypt(self.previous, aad), self.previous_until))
        return tuple(keys)


def config_keys(
    ring: KeyRing | None, tenant_id: uuid.UUID, row: Any
) -> tuple[tuple[SigningKey, ...], DeliveryError | None]:
    """The signing keys of an activity's dispatch config, from the row ``delivery.prepare`` reads
    (``app.dispatch.repo.dispatch_target``), or the error that fails the attempt (never sent unsigned
    when the config has a secret)."""
    sealed = Sealed.of(
        DISPATCH_CONFIG,
        tenant_id,
        row["config_id"],
        row["signing_secret"],
        row["signing_secret_previous"],
        row["signing_secret_previous_until"],
    )
    if sealed is None:
        return (), None
    try:
        return sealed.open(ring), None
    except SigningError as exc:
        return (), DeliveryError("SIGNING_SECRET", str(exc))


@dataclass(frozen=True)
class Rotation:
    """The columns a rotation writes, and the new secret to show once."""

    secret: bytes  # ciphertext of the new secret
    previous: bytes | None  # the replaced one's ciphertext, as stored (same row, same associated data)
    previous_until: datetime | None
    shown: str = field(repr=False)


def rotate(
    ring: KeyRing,
    purpose: str,
    tenant_id: uuid.UUID,
    owner_id: uuid.UUID,
    current: bytes | None,
    now: datetime,
) -> Rotation:
    """A new secret for the row; the current one (if any) signs beside it until ``now`` + the overlap.
    A secret replaced earlier and still in its overlap stops at once: two secrets sign at most."""
    secret = new_secret()
    sealed = ring.encrypt(secret, secret_aad(purpose, tenant_id, owner_id))
    if current is None:
        return Rotation(sealed, None, None, shown(secret))
    return Rotation(sealed, bytes(current), now + ROTATION_OVERLAP, shown(secret))
