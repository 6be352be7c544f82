"""Settings: one frozen Struct read from the environment once, then passed in (never read at import time)."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Literal

import msgspec

__all__ = ("Settings", "development_secrets", "load_settings")

PROJECT_ROOT = Path(__file__).resolve().parent.parent

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Positive = Annotated[int, msgspec.Meta(ge=1)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Every knob of the service. Env var = field name in upper case (``DATABASE_URL`` -> database_url)."""

    reten_env: Literal["development", "test", "production"] = "development"
    # Application role DSN (NOSUPERUSER NOBYPASSRLS). None -> the runner starts the embedded PostgreSQL.
    database_url: str | None = None
    # Owner role DSN used only by the migration runner. Defaults to database_url's server as reten_owner.
    owner_database_url: str | None = None
    data_dir: str = str(PROJECT_ROOT / ".data")
    host: str = "127.0.0.1"
    port: Port = 8000
    workers: Positive = 1
    pool_min_size: Annotated[int, msgspec.Meta(ge=0)] = 1
    pool_max_size: Positive = 8
    pool_acquire_timeout_s: PositiveFloat = 2.0
    db_connect_timeout_s: PositiveFloat = 5.0
    # uvicorn keeps an idle connection this long (longer than client pools and balancers keep theirs).
    http_keep_alive_s: Positive = 75
    # On SIGTERM: /ready answers 503 and the process keeps serving this long, then stops accepting and
    # gives requests in flight up to the grace period (app/serving.py).
    shutdown_drain_s: Annotated[float, msgspec.Meta(ge=0, le=300)] = 5.0
    shutdown_grace_s: PositiveFloat = 15.0
    # A statement running longer is cancelled by PostgreSQL and its request answers 503 (the pool gets the
    # connection back); the command timeout is the client's backstop when the server does not answer.
    db_statement_timeout_s: PositiveFloat = 5.0
    db_command_timeout_s: PositiveFloat = 6.0
    jwt_secret: str | None = None
    jwt_issuer: str = "reten"
    jwt_audience: str = "reten-api"
    access_token_ttl_s: Annotated[int, msgspec.Meta(ge=30, le=900)] = 900
    refresh_token_ttl_s: Annotated[int, msgspec.Meta(ge=60, le=7 * 24 * 3600)] = 7 * 24 * 3600
    cookie_secure: bool = False
    cors_origins: list[str] = msgspec.field(default_factory=list)
    api_key_cache_ttl_s: Annotated[float, msgspec.Meta(ge=0, le=30)] = 30.0
    api_key_rate_per_s: PositiveFloat = 50.0
    api_key_burst: Positive = 100
    # A refused API key (unknown, revoked, ...) is answered from memory this long: no lookup per repeat.
    api_key_negative_ttl_s: Annotated[float, msgspec.Meta(ge=0, le=30)] = 5.0
    # All API keys of one tenant together (more keys buy no more capacity).
    tenant_rate_per_s: PositiveFloat = 200.0
    tenant_burst: Positive = 400
    # Lookups of API keys that turn out refused, per client address: random well-formed keys cannot make
    # every request a database lookup.
    key_failures_per_minute: Positive = 120
    # Failed logins (and wrong current passwords) allowed per minute per (identifier, client IP); 5x per IP.
    login_attempts_per_minute: Positive = 10
    # Reverse proxies whose X-Forwarded-For is believed (CIDR list); none: the header is ignored.
    trusted_proxies: list[str] = msgspec.field(default_factory=list)
    password_hash_profile: Literal["default", "cheapest"] = "default"
    password_hash_concurrency: Positive = 2
    request_max_body_bytes: Positive = 1024 * 1024
    # Provider credentials: AES-256-GCM key ring, "id:base64key[,id:base64key...]", the first is primary.
    credentials_keys: str | None = None
    # Development only: plain-http provider URLs, and networks outbound calls may reach although not
    # public (a loopback receiver in tests). Both refused in production.
    dispatch_allow_http: bool = False
    dispatch_test_allowlist: list[str] = msgspec.field(default_factory=list)
    # Ports outbound calls (providers, hooks) may use besides 443 (and 80 with DISPATCH_ALLOW_HTTP).
    dispatch_allowed_ports: list[Port] = msgspec.field(default_factory=list)
    # CLIENT_HOOK calls one tenant may have in flight in one process; beyond it an attribute fails at once
    # (HOOK_BUSY, its fallback applies), so a tenant's slow hook cannot take every request of the process.
    hook_max_in_flight_per_tenant: Positive = 8
    # The dispatcher (CONTRACT.md §8): wake interval (also woken by NOTIFY), activities claimed per tenant
    # per round, calls in flight, how long a claim holds an activity, the waits before attempts 2 and 3.
    dispatch_interval_s: PositiveFloat = 30.0
    dispatch_batch_per_tenant: Annotated[int, msgspec.Meta(ge=1, le=100)] = 100
    dispatch_concurrency: Annotated[int, msgspec.Meta(ge=1, le=256)] = 16
    # Of those calls, how many one tenant may hold (a tenant whose provider hangs leaves the rest to others).
    dispatch_concurrency_per_tenant: Annotated[int, msgspec.Meta(ge=1, le=256)] = 8
    dispatch_lease_s: Annotated[float, msgspec.Meta(ge=1, le=3600)] = 60.0
    dispatch_backoff_s: list[Annotated[float, msgspec.Meta(ge=0)]] = msgspec.field(
        default_factory=lambda: [30.0, 120.0]
    )
    # Incremental pulls hold back changes younger than this (a transaction may still be committing).
    pull_changes_settle_s: Annotated[float, msgspec.Meta(ge=0, le=60)] = 2.0
    log_requests: bool = True
    log_level: str = "INFO"

    @property
    def production(self) -> bool:
        return self.reten_env == "production"

    def validate(self) -> Settings:
        """Refuse settings that would be unsafe; returns self for chaining."""
        if self.jwt_secret is None or len(self.jwt_secret.encode()) < 32:
            raise ValueError("JWT_SECRET must be set and at least 32 bytes long")
        if self.production:
            if self.password_hash_profile != "default":
                raise ValueError("PASSWORD_HASH_PROFILE=cheapest is for tests only")
            if self.database_url is None:
                raise ValueError("production needs DATABASE_URL (the embedded server is for development)")
            if self.credentials_keys is None:
                raise ValueError("production needs CREDENTIALS_KEYS (the provider credentials key ring)")
            if self.dispatch_allow_http or self.dispatch_test_allowlist:
                raise ValueError("DISPATCH_ALLOW_HTTP and DISPATCH_TEST_ALLOWLIST are for development only")
            if not self.cookie_secure:
                raise ValueError(
                    "production needs COOKIE_SECURE=true (the refresh cookie must not travel over http)"
                )
        if self.credentials_keys is not None:
            from app.crypto import KeyRing

            KeyRing.parse(self.credentials_keys)  # a bad ring stops the start, not the first dispatch
        if self.dispatch_test_allowlist:
            from app.outbound.addresses import parse_networks

            parse_networks(self.dispatch_test_allowlist)
        if self.trusted_proxies:
            from app.outbound.addresses import parse_networks

            parse_networks(self.trusted_proxies)  # a bad entry stops the start
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("POOL_MIN_SIZE must not exceed POOL_MAX_SIZE")
        if self.db_command_timeout_s <= self.db_statement_timeout_s:
            raise ValueError("DB_COMMAND_TIMEOUT_S must exceed DB_STATEMENT_TIMEOUT_S (it is the backstop)")
        return self


def _parse(raw: str) -> object:
    raw = raw.strip()
    if raw.startswith("["):
        return json.loads(raw)
    return raw


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Read the known fields from ``env`` (default: os.environ); ``overrides`` win.

    Lists take JSON or a comma-separated list."""
    env = os.environ if env is None else env
    raw: dict[str, object] = {}
    for name in Settings.__struct_fields__:
        value = env.get(name.upper())
        if value is None or value == "":
            continue
        if name in (
            "cors_origins",
            "trusted_proxies",
            "dispatch_test_allowlist",
            "dispatch_allowed_ports",
            "dispatch_backoff_s",
        ) and not value.strip().startswith("["):
            raw[name] = [v.strip() for v in value.split(",") if v.strip()]
        else:
            raw[name] = _parse(value)
    raw.update(overrides)
    return msgspec.convert(raw, Settings, strict=False)


def _generated_ring() -> str:
    from app.crypto import generate_key

    return generate_key("dev1")


def development_secrets(data_dir: Path) -> dict[str, str]:
    """Development-only secrets, generated once and kept under ``.data/`` (mode 0600), never in the repo."""
    path = data_dir / "secrets.json"
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
    else:
        stored = {}
    changed = False
    factories: dict[str, Callable[[], str]] = {
        "jwt_secret": lambda: secrets.token_urlsafe(48),
        "demo_password": lambda: "demo-" + secrets.token_urlsafe(12),
        "credentials_keys": _generated_ring,
    }
    for key, factory in factories.items():
        if key not in stored:
            stored[key] = factory()
            changed = True
    if changed:
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(stored, indent=2))
        path.chmod(0o600)
    return stored
