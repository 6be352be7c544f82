"""Login, refresh rotation with reuse detection, logout, and password changes."""

from __future__ import annotations

import uuid
from collections.abc import Hashable
from datetime import UTC, datetime

from app.auth import repo
from app.auth.permissions import tenant_roles
from app.auth.principal import Principal
from app.db import Connection
from app.errors import BadRequest, TooManyRequests, Unauthorized
from app.ratelimit import SharedBuckets, TokenBucket
from app.sessions.schemas import LoginResponse, LoginUser
from app.state import Services
from app.structs import from_row
from app.users import repo as users
from app.users.schemas import Me, Membership

__all__ = ("login", "logout", "me", "refresh", "reset_my_password")

INVALID_LOGIN = "Invalid email or password"
INVALID_REFRESH = "Invalid or expired refresh token"


class RefreshReuse(Unauthorized):
    """A rotated refresh token came back: its family is revoked, and that revocation must commit."""

    commit = True


async def _issue_refresh(
    conn: Connection, services: Services, user_id: uuid.UUID, family_id: uuid.UUID
) -> str:
    token, claims = services.tokens.issue_refresh(user_id, family_id)
    await repo.insert_refresh_token(
        conn,
        id=claims.jti,
        family_id=family_id,
        user_id=user_id,
        expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
    )
    return token


class _Guess:
    """One password guess (login, reset-my-password) against the throttle: a token is taken from the
    (identifier, client IP) pair and from the IP before the check, so a burst cannot slip past it; a
    success gives them back and clears the pair's failures. Only failures count, so a client that logs in
    often is never locked out, and a stranger's failures from elsewhere do not lock out the user."""

    def __init__(self, services: Services, identifier: Hashable, client_ip: str) -> None:
        self.buckets = ((services.login_failures, (identifier, client_ip)), (services.login_by_ip, client_ip))
        taken: list[tuple[SharedBuckets | TokenBucket, Hashable]] = []
        for bucket, key in self.buckets:
            wait = bucket.take(key)
            if wait:
                for spent, spent_key in taken:
                    spent.refund(spent_key)
                raise TooManyRequests("Too many failed attempts, retry later", bucket.retry_after(wait))
            taken.append((bucket, key))

    def succeeded(self) -> None:
        (pairs, pair), (ips, ip) = self.buckets
        pairs.reset(pair)
        ips.refund(ip)


async def login(
    conn: Connection, services: Services, identifier: str, password: str, client_ip: str
) -> tuple[LoginResponse, str]:
    """Returns the body and a new refresh token. Unknown user and wrong password look the same."""
    guess = _Guess(services, identifier.strip().lower(), client_ip)
    row = await users.get_for_login(conn, identifier.strip())
    stored = row["password_hash"] if row is not None and row["is_active"] else None
    if not await services.passwords.verify(stored, password):
        raise Unauthorized(INVALID_LOGIN)
    guess.succeeded()
    assert row is not None
    if services.passwords.needs_rehash(row["password_hash"]):
        await users.set_password(conn, row["id"], await services.passwords.hash(password))
    refresh_token = await _issue_refresh(conn, services, row["id"], uuid.uuid4())
    body = LoginResponse(access_token=services.tokens.issue_access(row["id"]), user=from_row(LoginUser, row))
    return body, refresh_token


async def refresh(conn: Connection, services: Services, token: str | None) -> tuple[str, str]:
    """Rotate: (access token, new refresh token). Reuse of a rotated token revokes its family."""
    if not token:
        raise Unauthorized(INVALID_REFRESH)
    claims = services.tokens.verify_refresh(token)
    claimed = await repo.claim_refresh_token(conn, id=claims.jti, user_id=claims.user_id)
    if claimed is None:
        await repo.revoke_refresh_family(conn, claims.family_id)
        raise RefreshReuse(INVALID_REFRESH)
    user = await users.get(conn, claims.user_id)
    if not user["is_active"]:
        raise Unauthorized(INVALID_REFRESH)
    new_refresh = await _issue_refresh(conn, services, claims.user_id, claimed["family_id"])
    return services.tokens.issue_access(claims.user_id), new_refresh


async def logout(conn: Connection, services: Services, token: str | None) -> None:
    """Revoke the cookie's family server-side; an absent or invalid cookie is simply cleared."""
    if not token:
        return
    try:
        claims = services.tokens.verify_refresh(token)
    except Unauthorized:
        return
    await repo.revoke_refresh_family(conn, claims.family_id)


async def reset_my_password(
    conn: Connection, services: Services, user_id: uuid.UUID, current: str, new: str, client_ip: str
) -> None:
    guess = _Guess(services, ("reset-my-password", user_id), client_ip)
    row = await users.get(conn, user_id)
    if not await services.passwords.verify(row["password_hash"], current):
        raise BadRequest.field("currentPassword", "Current password is incorrect")
    guess.succeeded()
    await users.set_password(conn, user_id, await services.passwords.hash(new))
    await repo.revoke_user_refresh_tokens(conn, user_id)


async def me(conn: Connection, principal: Principal, tenant_id: uuid.UUID | None) -> Me:
    """The user, its active tenants with its roles in each, and ``roles``: those of ``tenant_id`` when
    given, else the union (the principal of a route that acts in no tenant holds exactly that)."""
    row = await users.get(conn, principal.user_id)
    tenants = [t for t in await repo.user_tenants(conn, principal.user_id) if t["is_active"]]
    roles = principal.roles
    if tenant_id is not None:
        # Not a member there (or the tenant is off): no roles there, and still an answer, so a panel
        # that sends the header on every call can learn the user's tenants after a removal.
        held = next((t["roles"] for t in tenants if t["id"] == tenant_id), None)
        roles = tenant_roles(held, principal.is_super_admin)
    return from_row(
        Me,
        row,
        tenant_ids=[t["id"] for t in tenants],
        roles=list(roles),
        memberships=[
            Membership(tenant_id=t["id"], roles=list(tenant_roles(t["roles"], False))) for t in tenants
        ],
    )
