"""Who is calling: the result of authentication, on ``request.user``."""

from __future__ import annotations

import uuid
from typing import Literal

import msgspec

__all__ = ("Principal",)


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    kind: Literal["user", "api_key"]
    user_id: uuid.UUID
    roles: tuple[str, ...]
    permissions: frozenset[str]
    # The tenant of this request: x-tenant-id (checked membership) for a JWT, the key's own for a key.
    tenant_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None

    @property
    def tenant(self) -> uuid.UUID:
        """The request's tenant; only tenant-scoped routes (where the middleware set it) ask."""
        if self.tenant_id is None:
            raise RuntimeError("no tenant on this request (route is not tenant-scoped)")
        return self.tenant_id

    @property
    def is_super_admin(self) -> bool:
        return "SUPER_ADMIN" in self.roles
