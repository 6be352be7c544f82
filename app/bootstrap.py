"""Getting a database ready for the service, for the ``reten`` commands, the benchmarks, the load-test
harness and the tests: resolve it (an embedded PostgreSQL when there is no ``DATABASE_URL``) with the
development secrets, and create the first super admin (with a demo tenant). Migrations: ``app.migrations``."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any, NamedTuple

import asyncpg

from app.auth.passwords import Passwords
from app.config import Settings, development_secrets, load_settings
from app.db import open_transaction, use_tenant
from app.tenants import repo as tenants
from app.tenants.seeds import seed_tenant
from app.users import repo as users

__all__ = ("DEMO_EMAIL", "DEMO_TENANT_SLUG", "Prepared", "create_super_admin", "prepare")

DEMO_EMAIL = "admin@reten.local"
DEMO_TENANT_SLUG = "demo"


class Prepared(NamedTuple):
    settings: Settings
    owner_dsn: str
    server: Any  # the embedded PostgreSQL (stopped when collected), or None with a DATABASE_URL


def prepare(settings: Settings, *, database: str = "reten") -> Prepared:
    """Resolve the database (embedded when no DATABASE_URL) and development secrets; export them so
    server workers see the same values."""
    server = None
    data_dir = Path(settings.data_dir)
    overrides: dict[str, Any] = {}
    if not settings.production:
        generated = development_secrets(data_dir)
        for name in ("jwt_secret", "credentials_keys"):
            if getattr(settings, name) is None:
                overrides[name] = generated[name]
    owner_dsn = settings.owner_database_url
    if settings.database_url is None:
        if settings.production:
            raise SystemExit("RETEN_ENV=production needs DATABASE_URL (and OWNER_DATABASE_URL)")
        from app.embedded import bootstrap_cluster, start_embedded

        server = start_embedded(data_dir)
        dsns = asyncio.run(bootstrap_cluster(server.get_uri(), database))
        overrides["database_url"] = dsns.app
        owner_dsn = owner_dsn or dsns.owner
    elif owner_dsn is None:
        from app.embedded import OWNER_ROLE, dsn_for

        owner_dsn = dsn_for(settings.database_url, user=OWNER_ROLE)
    for name, value in overrides.items():
        os.environ[name.upper()] = str(value)
    return Prepared(load_settings(), owner_dsn, server)


async def create_super_admin(
    settings: Settings, email: str, password: str, *, tenant_slug: str | None
) -> str:
    """Create (or find) a SUPER_ADMIN; when it is created and ``tenant_slug`` is given, also a tenant it
    administers, seeded as tenant setup seeds one. Returns "created" or "exists"."""
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        await open_transaction(conn, readonly=False, tenant_id=None, identity=True)
        try:
            user = await users.get_by_email(conn, email)
            status = "exists"
            if user is None:
                password_hash = await Passwords(settings.password_hash_profile, 1).hash(password)
                user = await users.create(
                    conn,
                    email=email,
                    password_hash=password_hash,
                    first_name="Admin",
                    last_name="",
                    is_super_admin=True,
                )
                status = "created"
            if tenant_slug is not None and status == "created":
                tenant_id = uuid.uuid4()
                await tenants.create(conn, tenant_id, "Demo", tenant_slug)
                tx = await use_tenant(conn, tenant_id)
                await users.add_membership(tx, user["id"], ["ADMIN"])
                await seed_tenant(tx)
            await conn.execute("commit")
        except BaseException:
            await conn.execute("rollback")
            raise
    finally:
        await conn.close()
    return status
