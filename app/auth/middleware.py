"""Authentication: one ASGI middleware that turns credentials into a Principal on ``scope["user"]``.

Each route declares how it may be called in ``opt["auth"]`` (set by ``app.auth.guards.access``):

    public      no credentials (login, refresh, logout)
    user        JWT; no tenant (me, reset-my-password, tenant administration)
    tenant      JWT + x-tenant-id (membership checked on every request) or an API key
    tenant_jwt  JWT + x-tenant-id only (API-key management, user administration)
    api_key     API key only (integration routes); a Bearer token there is a 401

Routes under /api without the option are treated as ``tenant`` (fail closed). Errors are
answered here, through the
one error table, so the request-log middleware outside still sees them.

Roles are held per tenant membership (CONTRACT.md §2): a principal's roles are those of the membership the
request acts in (the x-tenant-id tenant, or the key's tenant for a key's creator), plus SUPER_ADMIN for a
platform admin, read in the same lookup that checks the membership; a route that acts in no tenant gets
the union over the user's active tenants.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from app.auth import api_keys, repo
from app.auth.permissions import permissions_for, tenant_roles
from app.auth.principal import Principal
from app.db import acquire_by, acquire_deadline
from app.errors import (
    BadRequest,
    Forbidden,
    TooManyRequests,
    Unauthorized,
    send_error,
)
from app.policy import RoutePolicy
from app.ratelimit import TokenBucket, client_address

__all__ = ("AuthMiddleware", "KeyRow")

INVALID_KEY = "API key missing or invalid"
INVALID_TOKEN = "Missing or invalid authentication token"


class KeyRow(msgspec.Struct, frozen=True):
    """What the cache keeps for a verified key (never the key itself)."""

    tenant_id: uuid.UUID
    key_id: uuid.UUID
    user_id: uuid.UUID
    permissions: frozenset[str]
    roles: tuple[str, ...]
    expires_at: datetime | None


class AuthMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        # Routes under /api without a declared policy are tenant routes (fail closed); the rest (schema,
        # health, metrics) are public.
        mode = RoutePolicy.of(scope["route_handler"], scope["path"]).auth
        try:
            scope["user"] = None if mode == "public" else await self._authenticate(scope, mode)
        except Exception as exc:
            await send_error(scope, receive, send, exc)
            return
        await next_app(scope, receive, send)

    async def _authenticate(self, scope: Scope, mode: str) -> Principal:
        headers = _headers(scope)
        key = headers.get("x-api-key")
        authorization = headers.get("authorization")
        if mode == "api_key" or (mode == "tenant" and key is not None and authorization is None):
            if key is None:
                raise Unauthorized(INVALID_KEY)
            return await self.key_principal(scope, key, headers)
        if authorization is None and key is not None:
            # Authenticate first (a bad key is a 401), then refuse: these routes need a person.
            await self.key_principal(scope, key, headers)
            raise Forbidden("This route needs a user token (Authorization: Bearer), not an API key")
        return await self._user_principal(scope, authorization, mode, headers.get("x-tenant-id"))

    async def key_principal(self, scope: Scope, key: str, headers: dict[str, str]) -> Principal:
        """The principal of API key ``key``: form check, digest, cached lookup, rate limits (what
        ``reten bench pull`` times on its own)."""
        if not api_keys.is_well_formed(key):
            raise Unauthorized(INVALID_KEY)
        services = scope["litestar_app"].state.services
        cache: api_keys.ApiKeyCache = services.api_key_cache
        key_digest = api_keys.digest(key)
        row: KeyRow | None = cache.get(key_digest)
        if row is None:
            if cache.refused(key_digest):  # refused moments ago: answered from memory
                raise Unauthorized(INVALID_KEY)
            # A lookup that finds no usable key counts against the client's address (a success gives its
            # token back): random well-formed keys cannot make every request a database lookup.
            address = scope.get("client")
            peer = address[0] if address else None
            client = client_address(peer, headers.get("x-forwarded-for"), services.trusted_proxies)
            if wait := services.key_failures_by_ip.take(client):
                raise TooManyRequests("Too many invalid API keys", TokenBucket.retry_after(wait))
            row = await self._lookup(scope, key_digest)
            if row is None:
                cache.refuse(key_digest)
                raise Unauthorized(INVALID_KEY)
            services.key_failures_by_ip.refund(client)
            cache.put(key_digest, row.key_id, row)
        if row.expires_at is not None and row.expires_at <= datetime.now(UTC):
            cache.evict(row.key_id)
            raise Unauthorized(INVALID_KEY)
        tenant_header = headers.get("x-tenant-id")
        if tenant_header is not None and tenant_header.strip().lower() != str(row.tenant_id):
            raise Forbidden("An API key acts only in its own tenant")
        # The key's own budget, then its tenant's (all its keys together: more keys buy no more).
        if wait := services.key_limiter.take(row.key_id):
            raise TooManyRequests("Rate limit exceeded", TokenBucket.retry_after(wait))
        if wait := services.tenant_limiter.take(row.tenant_id):
            services.key_limiter.refund(row.key_id)
            raise TooManyRequests("Rate limit of the tenant exceeded", TokenBucket.retry_after(wait))
        return Principal(
            kind="api_key",
            user_id=row.user_id,
            roles=row.roles,
            permissions=row.permissions,
            tenant_id=row.tenant_id,
            api_key_id=row.key_id,
        )

    @staticmethod
    async def _lookup(scope: Scope, key_digest: bytes) -> KeyRow | None:
        """The key's row as the cache keeps it, or None when it is unknown or cannot be used."""
        record = await _fetch(scope, repo.api_key_principal, digest=key_digest)
        if (
            record is None
            or record["revoked_at"] is not None
            or not record["tenant_active"]
            or not record["user_active"]
            or not (record["creator_is_member"] or record["creator_is_super_admin"])
        ):
            return None
        # The creator's standing in the key's tenant, not anywhere else.
        roles = tenant_roles(record["creator_roles"], record["creator_is_super_admin"])
        # A key never carries more than its creator holds there today; one whose creator holds none of
        # its permissions any more is dead.
        permissions = frozenset(record["permissions"]) & permissions_for(roles)
        if not permissions:
            return None
        return KeyRow(
            tenant_id=record["tenant_id"],
            key_id=record["key_id"],
            user_id=record["user_id"],
            permissions=permissions,
            roles=roles,
            expires_at=record["expires_at"],
        )

    async def _user_principal(
        self, scope: Scope, authorization: str | None, mode: str, tenant_header: str | None
    ) -> Principal:
        if mode == "api_key":
            raise Unauthorized(INVALID_KEY)
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized(INVALID_TOKEN)
        state = scope["litestar_app"].state
        user_id = state.services.tokens.verify_access(token.strip())
        tenant_id: uuid.UUID | None = None
        if mode in ("tenant", "tenant_jwt"):
            if tenant_header is None or not tenant_header.strip():
                raise BadRequest.field("x-tenant-id", "header is required for tenant-scoped routes")
            try:
                tenant_id = uuid.UUID(tenant_header.strip())
            except ValueError as exc:
                raise BadRequest.field("x-tenant-id", "must be a UUID") from exc
        record = await _fetch(scope, repo.user_principal, user_id=user_id, tenant_id=tenant_id)
        if record is None or not record["user_active"]:
            raise Unauthorized(INVALID_TOKEN)
        # With a tenant: the roles of the membership the request acts in; without one: their union.
        roles = tenant_roles(record["roles"], record["is_super_admin"])
        if tenant_id is not None:
            allowed = record["is_member"] or record["is_super_admin"]
            if not record["tenant_active"] or not allowed:
                raise Forbidden("You are not a member of this tenant")
        return Principal(
            kind="user",
            user_id=user_id,
            roles=roles,
            permissions=permissions_for(roles),
            tenant_id=tenant_id,
        )


async def _fetch(scope: Scope, query: Any, **params: Any) -> Any:
    """One autocommit statement on a pooled connection (auth runs before the request transaction, which
    gets what is left of the same acquire deadline)."""
    state = scope["litestar_app"].state
    conn = await acquire_by(state.pool, acquire_deadline(scope, state.settings.pool_acquire_timeout_s))
    try:
        return await query(conn, **params)
    finally:
        await state.pool.release(conn)


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope["headers"]:
        out[name.decode("latin-1").lower()] = value.decode("latin-1")
    return out
