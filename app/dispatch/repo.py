"""Typed access to dispatch providers (global), the tenant's dispatch configs, and the dispatch state of
activities (targets, leases, claims, payloads): the only module of the domain that names
``queries.dispatch``. Statements on a tenant's rows take its ``Tx``; the global ones (providers, the
dispatcher's cross-tenant read of due tenants, the key rotation's list of tenants) a bare connection."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from app.db import Connection, Tx, fetch_one, json_param, queries
from app.dispatch.schemas import ChannelDefinition, DispatchConfig, Provider, ProviderRef
from app.structs import from_row

__all__ = (
    "channel_definition",
    "channel_definitions",
    "claim",
    "config",
    "config_row",
    "configs",
    "configs_with_credentials",
    "configs_with_signing_secrets",
    "create_provider",
    "deactivate_config",
    "dispatch_state",
    "dispatch_target",
    "due_tenants",
    "payload",
    "provider",
    "provider_exists",
    "providers",
    "release_lease",
    "rotate_signing_secret",
    "save_channel_definition",
    "save_config",
    "set_credentials",
    "set_signing_secrets",
    "take_lease",
    "tenant_ids",
    "to_config",
    "to_definition",
    "to_provider",
    "update_provider",
)


# ---------------------------------------------------------------------------------------------------
# Mappers
# ---------------------------------------------------------------------------------------------------
def to_provider(row: asyncpg.Record) -> Provider:
    return from_row(Provider, row, channel_definitions=msgspec.Raw(row["channel_definitions"]))


def to_definition(row: asyncpg.Record) -> ChannelDefinition:
    return from_row(
        ChannelDefinition,
        row,
        credential_schema=msgspec.Raw(row["credential_schema"]),
        settings_schema=msgspec.Raw(row["settings_schema"]),
    )


def to_config(row: asyncpg.Record) -> DispatchConfig:
    return from_row(
        DispatchConfig,
        row,
        settings=msgspec.Raw(row["settings"]),
        dispatch_provider=ProviderRef(code=row["provider_code"], name=row["provider_name"]),
    )


# ---------------------------------------------------------------------------------------------------
# Providers and their channel definitions (global)
# ---------------------------------------------------------------------------------------------------
async def providers(conn: Connection) -> list[Provider]:
    return [to_provider(r) async for r in queries.dispatch.providers(conn)]


async def provider(conn: Connection, provider_id: uuid.UUID) -> Provider | None:
    row = await queries.dispatch.provider(conn, id=provider_id)
    return to_provider(row) if row is not None else None


async def provider_exists(conn: Connection, provider_id: uuid.UUID) -> bool:
    return bool(await queries.dispatch.provider_exists(conn, id=provider_id))


async def create_provider(conn: Connection, *, code: str, name: str, protocol_type: str) -> uuid.UUID:
    """The new provider's id (a taken code raises the unique violation: 409)."""
    created = await queries.dispatch.create_provider(conn, code=code, name=name, protocol_type=protocol_type)
    provider_id: uuid.UUID = created["id"]
    return provider_id


async def update_provider(
    conn: Connection, provider_id: uuid.UUID, *, name: str | None, is_active: bool | None
) -> None:
    """Rename or switch the provider (unsent fields kept); 404 when there is none."""
    await fetch_one(
        queries.dispatch.update_provider, "Dispatch provider", conn, id=provider_id, name=name,
        is_active=is_active,
    )  # fmt: skip


async def channel_definitions(conn: Connection, provider_id: uuid.UUID) -> list[ChannelDefinition]:
    rows = queries.dispatch.channel_definitions(conn, dispatch_provider_id=provider_id)
    return [to_definition(r) async for r in rows]


async def save_channel_definition(
    conn: Connection,
    provider_id: uuid.UUID,
    channel: str,
    *,
    credential_schema: list[dict[str, Any]],
    settings_schema: list[dict[str, Any]],
) -> ChannelDefinition:
    """Define the channel, or replace its schemas (the schemas as built-in values, sent as JSON)."""
    row = await queries.dispatch.save_channel_definition(
        conn,
        dispatch_provider_id=provider_id,
        channel=channel,
        credential_schema=json_param(credential_schema),
        settings_schema=json_param(settings_schema),
    )
    return to_definition(row)


async def channel_definition(conn: Connection, provider_id: uuid.UUID, channel: str) -> asyncpg.Record | None:
    """The provider (``is_active``, ``code``, ``protocol_type``) with its definition of ``channel``
    (``definition_id`` null when it has none); None when there is no such provider."""
    row: asyncpg.Record | None = await queries.dispatch.channel_definition(
        conn, dispatch_provider_id=provider_id, channel=channel
    )
    return row


# ---------------------------------------------------------------------------------------------------
# The tenant's dispatch configs
# ---------------------------------------------------------------------------------------------------
async def configs(tx: Tx) -> list[DispatchConfig]:
    return [to_config(r) async for r in queries.dispatch.configs(tx.conn, tenant_id=tx.tenant_id)]


async def config_row(tx: Tx, config_id: uuid.UUID) -> asyncpg.Record:
    """The config as stored (ciphertexts included); 404 when the tenant has none."""
    row: asyncpg.Record = await fetch_one(
        queries.dispatch.config, "Dispatch config", tx.conn, tenant_id=tx.tenant_id, id=config_id
    )
    return row


async def config(tx: Tx, config_id: uuid.UUID) -> DispatchConfig:
    """The config as answered; 404 when the tenant has none."""
    return to_config(await config_row(tx, config_id))


async def save_config(
    tx: Tx,
    *,
    config_id: uuid.UUID,
    dispatch_provider_id: uuid.UUID,
    channel: str,
    base_url: str | None,
    settings: dict[str, Any],
    credentials: bytes | None,
    credentials_key_id: str | None,
    is_active: bool,
    signing_secret: bytes | None,
) -> None:
    """Insert or update the config (``signing_secret``: a new config's; an existing one keeps its own)."""
    await queries.dispatch.save_config(
        tx.conn,
        tenant_id=tx.tenant_id,
        id=config_id,
        dispatch_provider_id=dispatch_provider_id,
        channel=channel,
        base_url=base_url,
        settings=json_param(settings),
        credentials=credentials,
        credentials_key_id=credentials_key_id,
        is_active=is_active,
        signing_secret=signing_secret,
    )


async def deactivate_config(tx: Tx, config_id: uuid.UUID) -> None:
    """``is_active`` false; 404 when the tenant has no such config."""
    await fetch_one(
        queries.dispatch.deactivate_config, "Dispatch config", tx.conn, tenant_id=tx.tenant_id, id=config_id
    )


async def rotate_signing_secret(
    tx: Tx,
    config_id: uuid.UUID,
    *,
    signing_secret: bytes,
    signing_secret_previous: bytes | None,
    signing_secret_previous_until: datetime | None,
) -> None:
    await queries.dispatch.rotate_signing_secret(
        tx.conn,
        tenant_id=tx.tenant_id,
        id=config_id,
        signing_secret=signing_secret,
        signing_secret_previous=signing_secret_previous,
        signing_secret_previous_until=signing_secret_previous_until,
    )


# Key rotation (``reten keys rotate``): run as the owner, in each tenant's context.
async def tenant_ids(conn: Connection) -> list[uuid.UUID]:
    return [r["id"] async for r in queries.dispatch.tenant_ids(conn)]


async def configs_with_credentials(tx: Tx) -> list[asyncpg.Record]:
    return [r async for r in queries.dispatch.configs_with_credentials(tx.conn, tenant_id=tx.tenant_id)]


async def set_credentials(
    tx: Tx, config_id: uuid.UUID, *, credentials: bytes, credentials_key_id: str
) -> None:
    await queries.dispatch.set_credentials(
        tx.conn,
        tenant_id=tx.tenant_id,
        id=config_id,
        credentials=credentials,
        credentials_key_id=credentials_key_id,
    )


async def configs_with_signing_secrets(tx: Tx) -> list[asyncpg.Record]:
    rows = queries.dispatch.configs_with_signing_secrets(tx.conn, tenant_id=tx.tenant_id)
    return [r async for r in rows]


async def set_signing_secrets(
    tx: Tx, config_id: uuid.UUID, *, signing_secret: bytes | None, signing_secret_previous: bytes | None
) -> None:
    await queries.dispatch.set_signing_secrets(
        tx.conn,
        tenant_id=tx.tenant_id,
        id=config_id,
        signing_secret=signing_secret,
        signing_secret_previous=signing_secret_previous,
    )


# ---------------------------------------------------------------------------------------------------
# Delivery state of activities
# ---------------------------------------------------------------------------------------------------
async def dispatch_target(tx: Tx, activity_id: uuid.UUID) -> asyncpg.Record | None:
    """The activity about to be dispatched, row-locked, with the active config of its channel (config
    columns null when there is none) and whether a delivery of it is in flight (``leased``)."""
    row: asyncpg.Record | None = await queries.dispatch.dispatch_target(
        tx.conn, tenant_id=tx.tenant_id, id=activity_id
    )
    return row


async def take_lease(tx: Tx, activity_id: uuid.UUID, *, lease_s: float, token: uuid.UUID) -> None:
    await queries.dispatch.take_lease(
        tx.conn, tenant_id=tx.tenant_id, id=activity_id, lease_s=lease_s, token=token
    )


async def release_lease(tx: Tx, activity_id: uuid.UUID, *, token: uuid.UUID) -> None:
    await queries.dispatch.release_lease(tx.conn, tenant_id=tx.tenant_id, id=activity_id, token=token)


async def payload(tx: Tx, activity_id: uuid.UUID) -> bytes:
    """What the provider receives (CONTRACT.md §8): the activity as the integration item, with its target
    user and attributes, as JSON."""
    row = await queries.dispatch.payload(tx.conn, tenant_id=tx.tenant_id, id=activity_id)
    body: dict[str, Any] = msgspec.json.decode(row["item"])
    body["targetUser"] = msgspec.json.decode(row["target_user"]) if row["target_user"] else None
    body["attributes"] = msgspec.json.decode(row["attributes"])
    return msgspec.json.encode(body)


async def dispatch_state(tx: Tx, activity_id: uuid.UUID) -> asyncpg.Record | None:
    """The activity's status, attempt count, last error and whether it is leased (not locked)."""
    row: asyncpg.Record | None = await queries.dispatch.dispatch_state(
        tx.conn, tenant_id=tx.tenant_id, id=activity_id
    )
    return row


async def due_tenants(conn: Connection, *, limit: int) -> list[uuid.UUID]:
    """The tenants with due work: the dispatcher's one cross-tenant read."""
    return [r["tenant_id"] async for r in queries.dispatch.due_tenants(conn, limit=limit)]


async def claim(tx: Tx, *, limit: int, lease_s: float, token: uuid.UUID) -> list[uuid.UUID]:
    """Up to ``limit`` of the tenant's due activities, leased under ``token``: their ids."""
    rows = queries.dispatch.claim(tx.conn, tenant_id=tx.tenant_id, limit=limit, lease_s=lease_s, token=token)
    return [r["id"] async for r in rows]
