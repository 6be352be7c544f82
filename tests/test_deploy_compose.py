"""deploy/compose.citus.yaml: the Citus nodes, their setup, the service's containers, and no literal secret.

Read as data only (no container engine, no database)."""

from __future__ import annotations

import re
import shlex
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from app.config import PROJECT_ROOT

COMPOSE = PROJECT_ROOT / "deploy" / "compose.citus.yaml"
CITUS_IMAGE = re.compile(r"citusdata/citus:14(\.[0-9.]+)?(-\S+)?")
# ${NAME:?message}: compose refuses to start when NAME is unset or empty.
REQUIRED_VARIABLE = re.compile(r"\$\{[A-Z_][A-Z0-9_]*:\?[^}]+\}")
SECRET_NAME = re.compile(r"SECRET|KEY|PASSWORD", re.IGNORECASE)
APP_SERVICES = ("migrate", "api", "dispatcher")
CLUSTER_SQL = ("roles.sql", "citus.sql")


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    """No database here: replaces conftest's per-test truncation."""
    yield


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    with COMPOSE.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _workers(services: dict[str, dict[str, Any]]) -> list[str]:
    return sorted(name for name in services if re.fullmatch(r"worker\d+", name))


def _command(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return command if isinstance(command, str) else " ".join(command)


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Service name -> condition (compose's default for the short form: service_started)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of every volume entry, short or long syntax."""
    found = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, str):
            source, target = entry.split(":")[:2]
        else:
            source, target = entry.get("source", ""), entry["target"]
        found.append((source, target))
    return found


def _is_host_path(source: str) -> bool:
    return source.startswith((".", "/", "~"))


def _dsn(value: str) -> urllib.parse.SplitResult:
    """The DSN with its ${...} interpolations replaced by a placeholder, so it parses as a URL."""
    return urllib.parse.urlsplit(REQUIRED_VARIABLE.sub("placeholder", value))


def test_citus_nodes(services: dict[str, dict[str, Any]]) -> None:
    workers = _workers(services)
    assert "coordinator" in services
    assert len(workers) >= 2, workers
    volumes = set()
    for name in ("coordinator", *workers):
        node = services[name]
        assert CITUS_IMAGE.fullmatch(node["image"]), (name, node["image"])
        assert "pg_isready" in " ".join(node["healthcheck"]["test"]), name
        assert "wal_level=logical" in _command(node), f"{name}: the rebalancer's shard moves need it"
        assert "build" not in node and "ports" not in node, name
        named = [source for source, _ in _mounts(node) if not _is_host_path(source)]
        assert len(named) == 1, (name, named)
        volumes.update(named)
    assert len(volumes) == 1 + len(workers), "each node keeps its data in its own named volume"


def test_setup_adds_every_worker_and_runs_the_cluster_sql(services: dict[str, dict[str, Any]]) -> None:
    setup = services["citus-setup"]
    script = _command(setup)
    workers = _workers(services)
    assert CITUS_IMAGE.fullmatch(setup["image"])
    assert _depends_on(setup) == dict.fromkeys(["coordinator", *workers], "service_healthy")
    assert re.search(r"citus_set_coordinator_host\(\s*'coordinator'", script)
    for worker in workers:
        assert re.search(rf"citus_add_node\(\s*'{worker}'\s*,", script), f"{worker} is never added"
    loop = re.search(r"for node in ([^;\n]+);", script)
    assert loop is not None, "the per-node part (roles, database, extension) is a `for node in` loop"
    assert set(loop.group(1).split()) == {"coordinator", *workers}
    mounts = dict(_mounts(setup))
    assert mounts.get("../migrations/cluster") == "/reten/migrations/cluster"
    assert any(entry.endswith(":ro") for entry in setup["volumes"] if isinstance(entry, str))
    for name in CLUSTER_SQL:
        assert f"-f /reten/migrations/cluster/{name}" in script, name
    for role in ("reten_owner", "reten_app"):
        assert re.search(rf"alter role {role} password :'\w+'", script), role


def test_paths_named_in_setup_exist_on_the_host(services: dict[str, dict[str, Any]]) -> None:
    """Every file the setup script reads under a bind mount is there in the repository."""
    setup = services["citus-setup"]
    script = _command(setup)
    checked = 0
    for source, target in _mounts(setup):
        if not _is_host_path(source):
            continue
        for path in re.findall(rf"{re.escape(target)}/[\w./-]+", script):
            host = (COMPOSE.parent / source / path[len(target) + 1 :]).resolve()
            assert host.is_file(), f"{path} -> {host}"
            checked += 1
    assert checked >= len(CLUSTER_SQL)


def test_app_services_use_the_project_build(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES:
        build = services[name]["build"]
        assert build == {"context": "..", "dockerfile": "Containerfile"}, name
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).is_file()
    assert shlex.split(_command(services["migrate"])) == ["reten", "migrate"]
    assert shlex.split(_command(services["dispatcher"])) == ["reten", "dispatcher"]


def test_one_dispatcher(services: dict[str, dict[str, Any]]) -> None:
    """`reten run` (the image's CMD, so also a service without a command) starts a dispatcher of its own."""
    runs_dispatcher = [
        name
        for name in APP_SERVICES
        if (command := _command(services[name])) == "" or "reten run" in command or "dispatcher" in command
    ]
    assert runs_dispatcher == ["dispatcher"]


def test_database_urls_point_at_the_coordinator(services: dict[str, dict[str, Any]]) -> None:
    app = {"DATABASE_URL": "reten_app"}
    wanted = {"migrate": {**app, "OWNER_DATABASE_URL": "reten_owner"}, "api": app, "dispatcher": app}
    for name, variables in wanted.items():
        env = _environment(services[name])
        for variable, user in variables.items():
            dsn = _dsn(env[variable])
            where = f"{name}.{variable}"
            assert (dsn.scheme, dsn.username, dsn.hostname, dsn.path) == (
                "postgresql",
                user,
                "coordinator",
                "/reten",
            ), where
        if name != "migrate":
            assert "OWNER_DATABASE_URL" not in env, f"{name} must not hold the owner's credentials"
            assert {"JWT_SECRET", "CREDENTIALS_KEYS"} <= env.keys(), name
            assert env.get("COOKIE_SECURE") == "true", name


def test_depends_on_existing_services_in_order(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for dependency in _depends_on(service):
            assert dependency in services, f"{name} depends on unknown {dependency}"
    assert _depends_on(services["migrate"]) == {"citus-setup": "service_completed_successfully"}
    for name in ("api", "dispatcher"):
        assert _depends_on(services[name]) == {"migrate": "service_completed_successfully"}, name


def test_no_literal_secret(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for variable, value in _environment(service).items():
            if SECRET_NAME.search(variable):
                assert REQUIRED_VARIABLE.fullmatch(value), f"{name}.{variable} must be ${{VAR:?message}}"
            for password in re.findall(r"://[^:/@]+:([^@]*)@", value):
                assert REQUIRED_VARIABLE.fullmatch(password), (
                    f"{name}.{variable}: a DSN's password must be ${{VAR:?message}}"
                )


def test_mounts(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for source, _ in _mounts(service):
            if _is_host_path(source):
                host = (COMPOSE.parent / source).resolve()
                assert host.exists(), f"{name}: {source} -> {host}"
                assert host.is_relative_to(PROJECT_ROOT), f"{name}: {source} is outside the repository"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
