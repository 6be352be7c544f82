"""Credentials encryption: AES-256-GCM, bound to tenant and row, a key ring that rotates."""

from __future__ import annotations

import uuid

import pytest

from app.crypto import (
    CredentialsError,
    KeyRing,
    credentials_aad,
    decrypt_credentials,
    generate_key,
    legacy_credentials_aad,
)

URL = "https://api.yom.example/v1"

T1, T2, C1, C2 = (uuid.uuid4() for _ in range(4))


def test_round_trip_and_no_plaintext_in_the_stored_value() -> None:
    ring = KeyRing.parse(generate_key("k1"))
    secret = b'{"apiKey": "yom-secret-123"}'
    value = ring.encrypt(secret, credentials_aad(T1, C1, URL))
    assert b"yom-secret" not in value and ring.key_id(value) == "k1"
    assert ring.decrypt(value, credentials_aad(T1, C1, URL)) == secret
    assert ring.encrypt(secret, credentials_aad(T1, C1, URL)) != value  # a fresh nonce every time


@pytest.mark.parametrize("aad", [credentials_aad(T2, C1, URL), credentials_aad(T1, C2, URL), b""])
def test_a_value_copied_to_another_row_or_tenant_does_not_decrypt(aad: bytes) -> None:
    ring = KeyRing.parse(generate_key("k1"))
    value = ring.encrypt(b"s", credentials_aad(T1, C1, URL))
    with pytest.raises(CredentialsError):
        ring.decrypt(value, aad)


def test_tampering_and_unknown_keys_fail_closed() -> None:
    ring = KeyRing.parse(generate_key("k1"))
    value = bytearray(ring.encrypt(b"secret", credentials_aad(T1, C1, URL)))
    value[-1] ^= 1
    with pytest.raises(CredentialsError):
        ring.decrypt(bytes(value), credentials_aad(T1, C1, URL))
    other = KeyRing.parse(generate_key("k9"))
    with pytest.raises(CredentialsError, match="not in the ring"):
        other.decrypt(ring.encrypt(b"s", credentials_aad(T1, C1, URL)), credentials_aad(T1, C1, URL))


def test_rotation_moves_values_to_the_primary_key() -> None:
    old = generate_key("k1")
    before = KeyRing.parse(old)
    value = before.encrypt(b"secret", credentials_aad(T1, C1, URL))
    after = KeyRing.parse(generate_key("k2") + "," + old)
    assert after.primary == "k2"
    rotated = after.rotate(value, credentials_aad(T1, C1, URL))
    assert rotated is not None and after.key_id(rotated) == "k2"
    assert after.decrypt(rotated, credentials_aad(T1, C1, URL)) == b"secret"
    assert after.rotate(rotated, credentials_aad(T1, C1, URL)) is None
    with pytest.raises(CredentialsError):  # the old ring alone cannot read it any more
        before.decrypt(rotated, credentials_aad(T1, C1, URL))


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


def test_a_value_is_bound_to_the_url_it_is_sent_to() -> None:
    """Regression (issue 16, item 1): the ciphertext did not name the URL, so a config whose base_url
    changed (a PATCH, or a bug) sent the decrypted key to the new host. It now decrypts for its URL only."""
    ring = KeyRing.parse(generate_key("k1"))
    value = ring.encrypt(b"s", credentials_aad(T1, C1, URL))
    assert decrypt_credentials(ring, value, T1, C1, URL) == (b"s", True)
    for elsewhere in ("https://attacker.example/v1", "https://api.yom.example/v2", None):
        with pytest.raises(CredentialsError):
            decrypt_credentials(ring, value, T1, C1, elsewhere)


def test_a_value_written_before_the_binding_still_reads_until_rotated() -> None:
    ring = KeyRing.parse(generate_key("k1"))
    legacy = ring.encrypt(b"s", legacy_credentials_aad(T1, C1))
    assert decrypt_credentials(ring, legacy, T1, C1, URL) == (b"s", False)
    with pytest.raises(CredentialsError):  # still bound to its tenant and row
        decrypt_credentials(ring, legacy, T2, C1, URL)
