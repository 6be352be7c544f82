"""Dispatch providers and the tenant's dispatch configs: validation against the provider's channel
definition, the baseUrl address rules, credentials and signing secrets encrypted before they reach the
database."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec

from app.crypto import CredentialsError, UnknownKey, credentials_aad, decrypt_credentials
from app.db import Connection, Tx
from app.dispatch import repo
from app.dispatch.schemas import (
    ChannelDefinition,
    ChannelDefinitionWrite,
    DispatchConfig,
    DispatchConfigCreated,
    DispatchConfigWrite,
    Provider,
    ProviderCreate,
    ProviderUpdate,
    SigningSecret,
)
from app.errors import BadRequest, NotFound, ServiceUnavailable
from app.outbound import signing
from app.state import Services
from app.structs import iso_ms

log = logging.getLogger("reten.dispatch")

__all__ = (
    "channel_definitions",
    "configs",
    "create_config",
    "create_provider",
    "deactivate_config",
    "providers",
    "rotate_signing_secret",
    "save_channel_definition",
    "update_config",
    "update_provider",
)


async def providers(conn: Connection) -> list[Provider]:
    return await repo.providers(conn)


async def channel_definitions(conn: Connection, provider_id: uuid.UUID) -> list[ChannelDefinition]:
    found = await repo.channel_definitions(conn, provider_id)
    if not found and not await repo.provider_exists(conn, provider_id):
        raise NotFound.of("Dispatch provider")
    return found


async def _provider(conn: Connection, provider_id: uuid.UUID) -> Provider:
    found = await repo.provider(conn, provider_id)
    assert found is not None  # written just now, in this transaction
    return found


async def create_provider(conn: Connection, data: ProviderCreate) -> Provider:
    provider_id = await repo.create_provider(
        conn, code=data.code, name=data.name, protocol_type=data.protocol_type
    )
    return await _provider(conn, provider_id)


async def update_provider(conn: Connection, provider_id: uuid.UUID, data: ProviderUpdate) -> Provider:
    await repo.update_provider(conn, provider_id, name=data.name, is_active=data.is_active)
    return await _provider(conn, provider_id)


async def save_channel_definition(
    conn: Connection, provider_id: uuid.UUID, channel: str, data: ChannelDefinitionWrite
) -> ChannelDefinition:
    """Define the channel, or replace its schemas (configs already saved are checked again when next
    changed, not now)."""
    if await repo.provider(conn, provider_id) is None:
        raise NotFound.of("Dispatch provider")
    for name, fields in (
        ("credentialSchema", data.credential_schema),
        ("settingsSchema", data.settings_schema),
    ):
        keys = [f.key for f in fields]
        if len(set(keys)) != len(keys):
            raise BadRequest.field(name, "keys must be unique")
    return await repo.save_channel_definition(
        conn,
        provider_id,
        channel,
        credential_schema=msgspec.to_builtins(data.credential_schema),
        settings_schema=msgspec.to_builtins(data.settings_schema),
    )


async def configs(tx: Tx) -> list[DispatchConfig]:
    return await repo.configs(tx)


def _fields(data: DispatchConfigWrite, *, create: bool) -> dict[str, Any]:
    try:
        return data.fields(create=create)
    except ValueError as exc:
        name, _, message = str(exc).partition(": ")
        raise BadRequest.field(name, message) from exc


def _missing(schema: list[dict[str, Any]], values: dict[str, Any]) -> list[str]:
    return [f["key"] for f in schema if f.get("required") and values.get(f["key"]) in (None, "")]


async def _checked(
    tx: Tx, services: Services, row: dict[str, Any], credentials: dict[str, str]
) -> dict[str, Any]:
    """``row`` checked against its provider's definition of its channel (400 naming the field), with
    ``base_url`` as it will be stored."""
    found = await repo.channel_definition(tx.conn, row["dispatch_provider_id"], row["channel"])
    if found is None or not found["is_active"]:
        raise BadRequest.field("dispatch_provider_id", "no such active dispatch provider")
    if found["definition_id"] is None:
        raise BadRequest.field(
            "channel", f"the provider {found['code']} does not define channel {row['channel']}"
        )
    # Keys beyond the provider's schema are kept (encrypted with the rest): the docs' own example sends
    # `apiKey` to any provider (CONTRACT.md §8). The schema's required keys must be there.
    schema = json.loads(found["credential_schema"])
    if missing := _missing(schema, credentials):
        raise BadRequest.field("credentials", f"required: {', '.join(missing)}")
    if missing := _missing(json.loads(found["settings_schema"]), row["settings"]):
        raise BadRequest.field("settings", f"required: {', '.join(missing)}")
    if row["base_url"] is None:
        if found["protocol_type"] == "REST":
            raise BadRequest.field("base_url", f"required for the {found['code']} provider")
        return row
    row["base_url"] = await services.outbound_url(row["base_url"], "base_url")
    return row


async def _save(
    tx: Tx,
    services: Services,
    row: dict[str, Any],
    credentials: dict[str, str] | None,
    signing_secret: bytes | None = None,
) -> DispatchConfig:
    """Write ``row`` (credentials encrypted when given, else the stored ciphertext kept) and return it.
    ``signing_secret``: a new config's (ciphertext); an existing config's secrets are kept as stored."""
    ring = services.key_ring
    if credentials is not None:
        if ring is None:
            raise ServiceUnavailable("Credentials cannot be stored: CREDENTIALS_KEYS is not configured")
        aad = credentials_aad(tx.tenant_id, row["id"], row["base_url"])
        row["credentials"] = ring.encrypt(msgspec.json.encode(credentials), aad) if credentials else None
    key_id = ring.key_id(row["credentials"]) if ring and row.get("credentials") else None
    await repo.save_config(
        tx,
        config_id=row["id"],
        dispatch_provider_id=row["dispatch_provider_id"],
        channel=row["channel"],
        base_url=row["base_url"],
        settings=row["settings"],
        credentials=row.get("credentials"),
        credentials_key_id=key_id,
        is_active=row["is_active"],
        signing_secret=signing_secret,
    )
    return await repo.config(tx, row["id"])


async def create_config(tx: Tx, services: Services, data: DispatchConfigWrite) -> DispatchConfigCreated:
    """A new config with its own signing secret, shown in this answer only."""
    sent = _fields(data, create=True)
    credentials = sent.pop("credentials", {})
    row = {"id": uuid.uuid4(), "base_url": None, "settings": {}, "is_active": True, **sent}
    row = await _checked(tx, services, row, credentials)
    secret = signing.new_secret()
    sealed = services.signing_ring().encrypt(
        secret, signing.secret_aad(signing.DISPATCH_CONFIG, tx.tenant_id, row["id"])
    )
    config = await _save(tx, services, row, credentials, sealed)
    return DispatchConfigCreated(**msgspec.structs.asdict(config), signing_secret=signing.shown(secret))


async def rotate_signing_secret(tx: Tx, services: Services, config_id: uuid.UUID) -> SigningSecret:
    """A new signing secret for the config, shown once; the current one signs beside it for the overlap
    (a config from before signing secrets gets its first one)."""
    stored = await repo.config_row(tx, config_id)
    rotation = signing.rotate(
        services.signing_ring(),
        signing.DISPATCH_CONFIG,
        tx.tenant_id,
        config_id,
        stored["signing_secret"],
        datetime.now(UTC),
    )
    await repo.rotate_signing_secret(
        tx,
        config_id,
        signing_secret=rotation.secret,
        signing_secret_previous=rotation.previous,
        signing_secret_previous_until=rotation.previous_until,
    )
    until = rotation.previous_until
    return SigningSecret(
        signing_secret=rotation.shown, previous_secret_expires_at=iso_ms(until) if until else None
    )


async def update_config(
    tx: Tx, services: Services, config_id: uuid.UUID, data: DispatchConfigWrite
) -> DispatchConfig:
    sent = _fields(data, create=False)
    stored = await repo.config_row(tx, config_id)
    credentials = sent.pop("credentials", None)
    row = {
        "id": config_id,
        "dispatch_provider_id": stored["dispatch_provider_id"],
        "channel": stored["channel"],
        "base_url": stored["base_url"],
        "settings": json.loads(stored["settings"]),
        "is_active": stored["is_active"],
        "credentials": stored["credentials"],
        **sent,
    }
    if sent == {"is_active": False}:  # switching a config off needs no checks (its provider may be gone)
        return await _save(tx, services, row, None)
    current = credentials
    if current is None:  # kept: checked against the (maybe new) channel definition as stored
        current = _decrypted(services, tx.tenant_id, config_id, stored["base_url"], stored["credentials"])
    row = await _checked(tx, services, row, current)
    if credentials is None and stored["credentials"] is not None and _moved(stored, row):
        # A stored secret is only ever sent where its owner sent it (CONTRACT.md §8): a PATCH that points
        # the config elsewhere must carry the credentials again.
        raise BadRequest.field(
            "credentials", "must be sent again when baseUrl, the provider or the channel changes"
        )
    return await _save(tx, services, row, credentials)


def _moved(stored: Any, row: dict[str, Any]) -> bool:
    """Whether the config now sends elsewhere: another URL (as normalised), provider or channel."""
    return any(row[k] != stored[k] for k in ("base_url", "dispatch_provider_id", "channel"))


def _decrypted(
    services: Services, tenant_id: uuid.UUID, config_id: uuid.UUID, base_url: str | None, value: bytes | None
) -> dict[str, str]:
    if value is None:
        return {}
    if services.key_ring is None:
        raise ServiceUnavailable("Credentials cannot be read: CREDENTIALS_KEYS is not configured")
    try:
        plaintext, _ = decrypt_credentials(services.key_ring, value, tenant_id, config_id, base_url)
    except UnknownKey as exc:
        log.error("dispatch_credentials_unreadable", extra={"config_id": str(config_id), "reason": str(exc)})
        raise ServiceUnavailable(
            "The stored credentials cannot be read: their key is not configured"
        ) from None
    except CredentialsError:
        raise BadRequest.field(
            "credentials", "the stored credentials cannot be read for this config; send new credentials"
        ) from None
    return dict(msgspec.json.decode(plaintext))


async def deactivate_config(tx: Tx, config_id: uuid.UUID) -> None:
    await repo.deactivate_config(tx, config_id)
