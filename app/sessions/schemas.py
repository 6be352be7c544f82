from __future__ import annotations

import uuid
from typing import Annotated

import msgspec

from app.structs import CamelInput, Output, Password

__all__ = (
    "AccessToken",
    "LoginRequest",
    "LoginResponse",
    "LoginUser",
    "ResetMyPassword",
    "ResetUserPassword",
)


class LoginRequest(CamelInput):
    identifier: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    password: Password


class LoginUser(Output):
    id: uuid.UUID
    email: str
    first_name: str
    last_name: str


class LoginResponse(Output):
    access_token: str
    user: LoginUser


class AccessToken(Output):
    access_token: str


class ResetMyPassword(CamelInput):
    current_password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    new_password: Password


class ResetUserPassword(CamelInput):
    user_id: uuid.UUID
    new_password: Password
