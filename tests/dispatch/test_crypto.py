"""Credentials encryption: AES-256-GCM, bound to tenant and row, a key ring that rotates."""

from __future__ import annotations

import uuid

import pytest

from app.dispatch.crypto import CredentialsError, KeyRing, credentials_aad, generate_key

T1, T2, C1, C2 = (uuid.uuid4() for _ in range(4))


def test_round_trip_and_no_plaintext_in_the_stored_value() -> None:
    ring = KeyRing.parse(generate_key("k1"))
    secret = b'{"apiKey": "yom-secret-123"}'
    value = ring.encrypt(secret, credentials_aad(T1, C1))
    assert b"yom-secret" not in value and ring.key_id(value) == "k1"
    assert ring.decrypt(value, credentials_aad(T1, C1)) == secret
    assert ring.encrypt(secret, credentials_aad(T1, C1)) != value  # a fresh nonce every time


@pytest.mark.parametrize("aad", [credentials_aad(T2, C1), credentials_aad(T1, C2), b""])
def test_a_value_copied_to_another_row_or_tenant_does_not_decrypt(aad: bytes) -> None:
    ring = KeyRing.parse(generate_key("k1"))
    value = ring.encrypt(b"s", credentials_aad(T1, C1))
    with pytest.raises(CredentialsError):
        ring.decrypt(value, aad)


def test_tampering_and_unknown_keys_fail_closed() -> None:
    ring = KeyRing.parse(generate_key("k1"))
    value = bytearray(ring.encrypt(b"secret", credentials_aad(T1, C1)))
    value[-1] ^= 1
    with pytest.raises(CredentialsError):
        ring.decrypt(bytes(value), credentials_aad(T1, C1))
    other = KeyRing.parse(generate_key("k9"))
    with pytest.raises(CredentialsError, match="not in the ring"):
        other.decrypt(ring.encrypt(b"s", credentials_aad(T1, C1)), credentials_aad(T1, C1))


def test_rotation_moves_values_to_the_primary_key() -> None:
    old = generate_key("k1")
    before = KeyRing.parse(old)
    value = before.encrypt(b"secret", credentials_aad(T1, C1))
    after = KeyRing.parse(generate_key("k2") + "," + old)
    assert after.primary == "k2"
    rotated = after.rotate(value, credentials_aad(T1, C1))
    assert rotated is not None and after.key_id(rotated) == "k2"
    assert after.decrypt(rotated, credentials_aad(T1, C1)) == b"secret"
    assert after.rotate(rotated, credentials_aad(T1, C1)) is None
    with pytest.raises(CredentialsError):  # the old ring alone cannot read it any more
        before.decrypt(rotated, credentials_aad(T1, C1))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "k1",
        "k1:notbase64!",
        "k1:" + "QUFB",
        "bad id:" + "A" * 44,
        generate_key("a") + "," + generate_key("a"),
    ],
)
def test_bad_rings_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        KeyRing.parse(text)
