"""The ``reten`` command line: run (API + dispatcher), migrate, admin create, dispatcher, keys, bench,
loadtest. Arguments only; each command calls the module that does the work (``app.serving``,
``app.bootstrap``, ``app.migrations``, ``app.dispatch.keys``, ``app.loadtest``)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from app.config import load_settings

__all__ = ("main",)


def cmd_run(args: argparse.Namespace) -> int:
    from app.serving import run_service

    run_service(args.host, args.port, args.workers)
    return 0


def cmd_dispatcher(_: argparse.Namespace) -> int:
    from app.serving import run_dispatcher

    run_dispatcher()
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    from app.bootstrap import prepare
    from app.migrations import migrate

    applied = asyncio.run(migrate(prepare(load_settings()).owner_dsn))
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from app.crypto import KeyRing, generate_key

    if args.keys_command == "generate":
        print(generate_key(args.id))
        return 0
    from app.bootstrap import prepare
    from app.dispatch.keys import rotate

    settings, owner_dsn, _server = prepare(load_settings())
    if settings.credentials_keys is None:
        raise SystemExit("CREDENTIALS_KEYS is not set")
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
    from app.bootstrap import create_super_admin, prepare
    from app.migrations import migrate

    settings, owner_dsn, _server = prepare(load_settings())
    asyncio.run(migrate(owner_dsn))
    status = asyncio.run(create_super_admin(settings, args.email, args.password, tenant_slug=None))
    print(f"super admin {args.email}: {status}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from app.loadtest.bench import main as bench

    return bench(args.what, args.items, args.concurrency, args.duration, args.workers)


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
