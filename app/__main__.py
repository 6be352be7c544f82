"""The ``reten`` command: run (API + dispatcher), migrate, admin create, dispatcher, keys, bench,
loadtest."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from app.config import Settings, development_secrets, load_settings

__all__ = ("main",)

DEMO_EMAIL = "admin@reten.local"
DEMO_TENANT_SLUG = "demo"


def _prepare(settings: Settings, *, database: str = "reten") -> tuple[Settings, str, Any]:
    """Resolve the database (embedded when no DATABASE_URL) and development secrets; export them so
    server workers see the same values. Returns (settings, owner DSN, embedded server or None)."""
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
    return load_settings(), owner_dsn, server


async def _migrate(owner_dsn: str) -> list[str]:
    from app.db import migrate

    return await migrate(owner_dsn)


async def _create_admin(settings: Settings, email: str, password: str, *, tenant_slug: str | None) -> str:
    """Create (or find) a SUPER_ADMIN; optionally a tenant it belongs to. Returns a status line."""
    import asyncpg

    from app.auth.passwords import Passwords
    from app.db import open_transaction, use_tenant
    from app.tenants import repo as tenants
    from app.tenants.seeds import seed_tenant
    from app.users import repo as users

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
                import uuid

                tenant_id = uuid.uuid4()
                await tenants.create(conn, tenant_id, "Demo", tenant_slug)
                await use_tenant(conn, tenant_id)
                await users.add_membership(conn, tenant_id, user["id"], ["ADMIN"])
                await seed_tenant(conn, tenant_id)
            await conn.execute("commit")
        except BaseException:
            await conn.execute("rollback")
            raise
    finally:
        await conn.close()
    return status


def cmd_run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    settings, owner_dsn, _server = _prepare(load_settings())
    applied = asyncio.run(_migrate(owner_dsn))
    if applied:
        print(f"migrations applied: {', '.join(applied)}")
    demo_password = None
    if not settings.production:
        demo_password = development_secrets(Path(settings.data_dir))["demo_password"]
        asyncio.run(_create_admin(settings, DEMO_EMAIL, demo_password, tenant_slug=DEMO_TENANT_SLUG))
    host = args.host or settings.host
    port = args.port or settings.port
    base = f"http://{host}:{port}"
    print(f"Reten ready in {time.perf_counter() - started:.1f}s")
    print(f"  API:      {base}/api")
    print(f"  OpenAPI:  {base}/schema  (Swagger UI: {base}/schema/swagger)")
    if demo_password is not None:
        print(f"  Demo super admin: {DEMO_EMAIL} / {demo_password}  (tenant slug '{DEMO_TENANT_SLUG}')")
        print(
            f"  Try: curl -s -X POST {base}/api/auth/login -H 'content-type: application/json' "
            f'-d \'{{"identifier":"{DEMO_EMAIL}","password":"{demo_password}"}}\''
        )
    sys.stdout.flush()
    import subprocess

    import uvicorn

    from app.serving import uvicorn_options

    # The dispatcher runs beside the API (its own process, as in production), stopped with it. uvicorn
    # handles SIGTERM itself and, once stopped, raises the signal again: with the default handler that
    # killed this process on the spot, leaving the dispatcher and the embedded PostgreSQL running. This
    # handler (the one uvicorn restores) turns it into an exit that runs the cleanup below and atexit.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    dispatcher = subprocess.Popen([sys.executable, "-m", "app", "dispatcher"])
    try:
        uvicorn.run(
            "app.asgi:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=args.workers or settings.workers,
            log_level="warning",
            **uvicorn_options(settings),
        )
    except KeyboardInterrupt:
        pass
    finally:
        dispatcher.terminate()
        try:
            dispatcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            dispatcher.kill()
    return 0


def _exit_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(0)


def cmd_dispatcher(_: argparse.Namespace) -> int:
    """The dispatcher in the foreground until SIGTERM/SIGINT (calls in flight finish first)."""
    import signal

    from app.dispatch.dispatcher import Dispatcher
    from app.logs import configure_logging

    settings, _, _server = _prepare(load_settings())
    settings.validate()
    configure_logging(settings.log_level)

    async def main() -> None:
        dispatcher = Dispatcher(settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, dispatcher.stop.set)
        await dispatcher.run()

    asyncio.run(main())
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    _, owner_dsn, _server = _prepare(load_settings())
    applied = asyncio.run(_migrate(owner_dsn))
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from app.dispatch.crypto import KeyRing, generate_key

    if args.keys_command == "generate":
        print(generate_key(args.id))
        return 0
    settings, owner_dsn, _server = _prepare(load_settings())
    if settings.credentials_keys is None:
        raise SystemExit("CREDENTIALS_KEYS is not set")
    from app.dispatch.keys import rotate

    ring = KeyRing.parse(settings.credentials_keys)
    done = asyncio.run(rotate(owner_dsn, ring))
    print(
        f"re-encrypted {done['rotated']} credentials and the signing secrets of {done['secrets']} configs "
        f"and hook policies in {done['tenants']} tenants (primary key {ring.primary!r})"
    )
    return 0


def cmd_admin_create(args: argparse.Namespace) -> int:
    if len(args.password) < 8:
        print("password must be at least 8 characters", file=sys.stderr)
        return 2
    settings, owner_dsn, _server = _prepare(load_settings())
    asyncio.run(_migrate(owner_dsn))
    status = asyncio.run(_create_admin(settings, args.email, args.password, tenant_slug=None))
    print(f"super admin {args.email}: {status}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from app import bench

    return bench.main(args.what, args.items, args.concurrency, args.duration, args.workers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reten", description="Reten API service")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="migrate and serve (embedded PostgreSQL without DATABASE_URL)")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--workers", type=int)
    run.set_defaults(func=cmd_run)
    sub.add_parser("migrate", help="apply pending migrations as the owner role").set_defaults(
        func=cmd_migrate
    )
    admin = sub.add_parser("admin", help="administration")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_sub.add_parser("create", help="create the first SUPER_ADMIN")
    create.add_argument("--email", required=True)
    create.add_argument("--password", required=True)
    create.set_defaults(func=cmd_admin_create)
    bench = sub.add_parser(
        "bench", help="print benchmark figures (on a fresh reten_bench database in the embedded cluster)"
    )
    bench.add_argument(
        "what",
        choices=["sync", "activities", "pull", "dispatch", "citus"],
        help="sync: POST /api/commerces/sync; activities: task creates and result submits next to pgbench; "
        "pull: the integration pull and result submits under the harness and wrk, next to pgbench; "
        "dispatch: push delivery throughput and latency to a loopback receiver; "
        "citus: pulls, result submits and task creates on PostgreSQL and on a local Citus cluster, with "
        "the Task Count of each statement",
    )
    bench.add_argument("--items", type=int, default=1000, help="items per sync call (max 1000)")
    bench.add_argument("--concurrency", type=int, default=32, help="activities: concurrent clients")
    bench.add_argument("--duration", type=float, default=10, help="activities: seconds per measured phase")
    bench.add_argument("--workers", type=int, default=2, help="activities: uvicorn workers of the service")
    bench.set_defaults(func=cmd_bench)
    sub.add_parser("dispatcher", help="push dispatch until SIGTERM (make run starts one)").set_defaults(
        func=cmd_dispatcher
    )
    keys = sub.add_parser("keys", help="the provider credentials key ring (CREDENTIALS_KEYS)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    generate = keys_sub.add_parser("generate", help="print a new key entry, id:base64key")
    generate.add_argument("--id", required=True)
    generate.set_defaults(func=cmd_keys)
    keys_sub.add_parser(
        "rotate", help="re-encrypt stored credentials with the primary (first) key, as the owner role"
    ).set_defaults(func=cmd_keys)
    from app.loadtest.cli import add_commands

    add_commands(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
