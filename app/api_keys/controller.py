from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, post
from litestar.params import Parameter

from app.api_keys import service
from app.api_keys.schemas import ApiKey, ApiKeyCreate, ApiKeyCreated
from app.auth.guards import access
from app.auth.principal import Principal
from app.db import Tx
from app.state import Services
from app.structs import Message

__all__ = ("ApiKeyController",)

AllKeys = Annotated[bool, Parameter(query="all", required=False)]


class ApiKeyController(Controller):
    path = "/api/api-keys"
    tags = ["API Keys"]

    @post(
        "/",
        operation_id="CreateApiKey",
        summary="Create an API key for yourself in the active tenant",
        **access(
            "MANAGE_API_KEYS",
            auth="tenant_jwt",
            doc="`permissions` (any case, stored upper case) must be a subset of your own (else 403). "
            "The key is shown once, as `plaintextKey` (and `key`); only its SHA-256 digest is stored.",
            statuses=(409,),
        ),
    )
    async def create_api_key(self, tx: Tx, principal: Principal, data: ApiKeyCreate) -> ApiKeyCreated:
        return await service.create(tx, principal, data)

    @get(
        "/",
        operation_id="ListApiKeys",
        summary="Your API keys in the active tenant, newest first (revoked included)",
        **access(
            "MANAGE_API_KEYS",
            auth="tenant_jwt",
            doc="`all=true` (addition): every key of the tenant, whoever created it (`userId`); ADMIN of "
            "the tenant or SUPER_ADMIN only (else 403).",
        ),
    )
    async def list_api_keys(self, tx: Tx, principal: Principal, all_keys: AllKeys = False) -> list[ApiKey]:
        return await service.list_keys(tx, principal, every=all_keys)

    @post(
        "/{key_id:uuid}/revoke",
        status_code=200,
        operation_id="RevokeApiKey",
        summary="Revoke an API key",
        **access(
            "MANAGE_API_KEYS",
            auth="tenant_jwt",
            doc="Your own key, or (ADMIN of the tenant, SUPER_ADMIN) any key of the tenant. The key is "
            "refused at once on the process that served this call; other processes drop their cached "
            "copy within `API_KEY_CACHE_TTL_S` (default 30 s). Already revoked -> 400; another user's "
            "key without ADMIN -> 403. Keys also die when their creator leaves the tenant (revoked) or "
            "no longer holds any of their permissions there.",
        ),
    )
    async def revoke_api_key(
        self, tx: Tx, services: Services, principal: Principal, key_id: uuid.UUID
    ) -> Message:
        await service.revoke(tx, services, principal, key_id)
        return Message(message="API key revoked successfully")
