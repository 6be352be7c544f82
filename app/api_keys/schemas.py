from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from app.auth.permissions import PERMISSIONS
from app.structs import CamelInput, Name, Output, Timestamp, any_case

__all__ = ("ApiKey", "ApiKeyCreate", "ApiKeyCreated")


class ApiKeyCreate(CamelInput):
    name: Name
    # Any letter case (stored upper case); /schema lists the permissions.
    permissions: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=64, pattern=any_case(*sorted(PERMISSIONS)))]],
        msgspec.Meta(min_length=1, max_length=64),
    ]
    expires_at: datetime | None = None


class ApiKey(Output):
    id: uuid.UUID
    name: str
    key_prefix: str
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    is_active: bool
    permissions: list[str]
    expires_at: Timestamp | None
    last_used_at: Timestamp | None
    created_at: Timestamp
    revoked_at: Timestamp | None


class ApiKeyCreated(ApiKey):
    """The create response: the only time the key itself is shown (``key`` repeats it for clients
    written from the getting-started page)."""

    plaintext_key: str
    key: str
