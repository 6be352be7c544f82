"""The `reten` command against the test database (synchronous: the CLI runs its own event loop)."""

from __future__ import annotations

import pytest

from app.__main__ import main
from app.embedded import ClusterDsns


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, cluster: ClusterDsns) -> None:
    monkeypatch.setenv("DATABASE_URL", cluster.app)
    monkeypatch.setenv("OWNER_DATABASE_URL", cluster.owner)
    monkeypatch.setenv("JWT_SECRET", "cli-secret-" + "y" * 40)
    monkeypatch.setenv("PASSWORD_HASH_PROFILE", "cheapest")
    monkeypatch.setenv("RETEN_ENV", "test")


def test_migrate_is_idempotent(cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    assert "nothing (up to date)" in capsys.readouterr().out


def test_admin_create_then_exists(cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["admin", "create", "--email", "boss@x.test", "--password", "long-enough"]) == 0
    assert "created" in capsys.readouterr().out
    assert main(["admin", "create", "--email", "BOSS@x.test", "--password", "long-enough"]) == 0
    assert "exists" in capsys.readouterr().out
    assert main(["admin", "create", "--email", "b@x.test", "--password", "short"]) == 2


def test_production_refuses_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("RETEN_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", "z" * 40)
    with pytest.raises(SystemExit, match="DATABASE_URL"):
        main(["migrate"])
