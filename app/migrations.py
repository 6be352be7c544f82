"""The migration runner: forward-only numbered files under ``migrations/``, each in one transaction,
under an advisory lock, with checksums so an applied file cannot change; on Citus, the tables are
distributed after the last one."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import asyncpg

from app.config import PROJECT_ROOT
from app.db import has_citus, queries

__all__ = ("MIGRATIONS_DIR", "MigrationError", "discover", "migrate")

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
MIGRATION_LOCK_KEY = 0x7265_7465_6E  # "reten"
MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    """A migration file that cannot be applied as it is (bad name, duplicate number, edited after use)."""


def discover(directory: Path = MIGRATIONS_DIR) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for path in sorted(directory.glob("*.sql")):
        match = MIGRATION_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_lower_snake.sql")
        found.append((match.group(1), path))
    versions = [v for v, _ in found]
    if len(versions) != len(set(versions)):
        raise MigrationError("two migration files share a number")
    return found


async def migrate(owner_dsn: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations as the owner role; returns the file names applied now."""
    conn = await asyncpg.connect(owner_dsn)
    try:
        await queries.migrations.lock(conn, key=MIGRATION_LOCK_KEY)
        try:
            await queries.migrations.create_ledger(conn)
            applied = {r["version"]: r for r in [r async for r in queries.migrations.applied(conn)]}
            done: list[str] = []
            citus = await has_citus(conn)
            for version, path in discover(directory):
                text = path.read_text(encoding="utf-8")
                checksum = hashlib.sha256(text.encode()).hexdigest()
                if version in applied:
                    if applied[version]["checksum"] != checksum:
                        raise MigrationError(
                            f"{path.name} was edited after it was applied (checksum mismatch); "
                            "add a new migration instead"
                        )
                    continue
                async with conn.transaction():
                    if citus and not await queries.migrations.citus_distributed(conn):
                        # The database is plain PostgreSQL to its migrations until it is distributed:
                        # Citus would otherwise send each object to the workers as it is created, over
                        # a connection per role, and a migration that switches roles (0007) would act
                        # on the workers in two transactions that cannot see each other. Distribution
                        # (app.distribute_on_citus) then creates on the workers what the tables need.
                        await conn.execute("set local citus.enable_ddl_propagation = off")
                    await conn.execute(text)
                    await queries.migrations.record(conn, version=version, name=path.name, checksum=checksum)
                done.append(path.name)
            await queries.migrations.distribute_on_citus(conn)
            return done
        finally:
            await queries.migrations.unlock(conn, key=MIGRATION_LOCK_KEY)
    finally:
        await conn.close()
