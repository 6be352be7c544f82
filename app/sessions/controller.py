from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import Parameter

from app.auth.guards import access
from app.auth.principal import Principal
from app.db import Connection, Tx
from app.ratelimit import client_address
from app.sessions import service
from app.sessions.schemas import (
    AccessToken,
    LoginRequest,
    LoginResponse,
    ResetMyPassword,
    ResetUserPassword,
)
from app.state import Services
from app.structs import Message
from app.users import service as user_admin
from app.users.schemas import Me

__all__ = ("AuthController",)

COOKIE = "refreshToken"
COOKIE_PATH = "/api/auth"
RefreshCookie = Annotated[str | None, Parameter(cookie=COOKIE, required=False)]
TenantHeader = Annotated[uuid.UUID | None, Parameter(header="x-tenant-id", required=False)]


def _refresh_cookie(services: Services, value: str, max_age: int | None = None) -> Cookie:
    return Cookie(
        key=COOKIE,
        value=value,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=services.settings.cookie_secure,
        max_age=services.tokens.refresh_ttl_s if max_age is None else max_age,
    )


def _client_ip(request: Request[Any, Any, Any], services: Services) -> str:
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.get("x-forwarded-for"), services.trusted_proxies)


class AuthController(Controller):
    path = "/api/auth"
    tags = ["Authentication"]

    @post(
        "/login",
        status_code=200,
        operation_id="Login",
        summary="Log in with email or username",
        **access(
            None,
            auth="public",
            db_role="identity",
            statuses=(401, 429),
            doc="Answers the access token (15 min) and sets the HttpOnly `refreshToken` cookie (7 days). "
            "Failed attempts are throttled per (identifier, client IP) and per client IP (429 with "
            "Retry-After); a successful login costs nothing and clears its pair's failures. The client IP "
            "is the connecting peer, or `X-Forwarded-For` when the peer is one of `TRUSTED_PROXIES`.",
        ),
    )
    async def login(
        self, db: Connection, services: Services, request: Request[Any, Any, Any], data: LoginRequest
    ) -> Response[LoginResponse]:
        body, refresh_token = await service.login(
            db, services, data.identifier, data.password, _client_ip(request, services)
        )
        return Response(body, cookies=[_refresh_cookie(services, refresh_token)])

    @post(
        "/refresh",
        status_code=200,
        operation_id="RefreshToken",
        summary="Rotate the refresh cookie and get a new access token",
        **access(
            None,
            auth="public",
            db_role="identity",
            statuses=(401,),
            doc="Reusing an already rotated refresh token revokes its whole family (401).",
        ),
    )
    async def refresh(
        self, db: Connection, services: Services, refresh_token: RefreshCookie = None
    ) -> Response[AccessToken]:
        access_token, new_refresh = await service.refresh(db, services, refresh_token)
        return Response(
            AccessToken(access_token=access_token), cookies=[_refresh_cookie(services, new_refresh)]
        )

    @post(
        "/logout",
        status_code=200,
        operation_id="Logout",
        summary="Log out: revoke the refresh token server-side and clear the cookie",
        **access(None, auth="public", db_role="identity"),
    )
    async def logout(
        self, db: Connection, services: Services, refresh_token: RefreshCookie = None
    ) -> Response[Message]:
        await service.logout(db, services, refresh_token)
        return Response(
            Message(message="Logged out successfully"),
            cookies=[_refresh_cookie(services, "", max_age=0)],
        )

    @get(
        "/me",
        operation_id="GetMe",
        summary="The authenticated user",
        **access(
            None,
            auth="user",
            db_role="identity",
            doc="Roles are held per tenant. `roles`: those of the `x-tenant-id` tenant when the header is "
            "sent (none when you are not a member of an active tenant of that id), else the union over "
            "your active tenants; `SUPER_ADMIN` leads for a platform admin. `memberships` (addition): "
            "`[{tenantId, roles}]` for each active tenant.",
        ),
    )
    async def get_me(self, db: Connection, principal: Principal, x_tenant_id: TenantHeader = None) -> Me:
        return await service.me(db, principal, x_tenant_id)

    @post(
        "/reset-my-password",
        status_code=200,
        operation_id="ResetMyPassword",
        summary="Change your own password",
        **access(
            None,
            auth="user",
            db_role="identity",
            statuses=(429,),
            doc="Wrong current password -> 400. Revokes your refresh tokens. Wrong passwords are "
            "throttled like failed logins, per (user, client IP) and per client IP (429 with Retry-After).",
        ),
    )
    async def reset_my_password(
        self,
        db: Connection,
        services: Services,
        request: Request[Any, Any, Any],
        principal: Principal,
        data: ResetMyPassword,
    ) -> Message:
        await service.reset_my_password(
            db,
            services,
            principal.user_id,
            data.current_password,
            data.new_password,
            _client_ip(request, services),
        )
        return Message(message="Password reset successfully")

    @post(
        "/reset-user-password",
        status_code=200,
        operation_id="ResetUserPassword",
        summary="Reset another user's password",
        **access(
            "RESET_USER_PASSWORD",
            auth="tenant_jwt",
            db_role="identity",
            statuses=(404,),
            doc="The user must belong to the active tenant and be strictly below the caller's role.",
        ),
    )
    async def reset_user_password(
        self, tx: Tx, services: Services, principal: Principal, data: ResetUserPassword
    ) -> Message:
        await user_admin.reset_password(tx, services, principal, data.user_id, data.new_password)
        return Message(message="Password reset successfully")
