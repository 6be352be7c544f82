"""Platform behaviour: errors, limits, request ids, OpenAPI, health/ready/metrics, outages."""

from __future__ import annotations

import asyncio

import pytest
from conftest import World, assert_error
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from app.config import Settings
from app.policy import RoutePolicy


async def test_health_and_ready(client: AsyncTestClient[Litestar]) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


async def test_metrics_are_prometheus_text(client: AsyncTestClient[Litestar]) -> None:
    await client.get("/health")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert "litestar_requests_total" in response.text or "# TYPE" in response.text


async def test_request_id_is_echoed_or_made(client: AsyncTestClient[Litestar]) -> None:
    echoed = await client.get("/api/auth/me", headers={"x-request-id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    made = await client.get("/api/auth/me")
    assert len(made.headers["x-request-id"]) == 32
    bogus = await client.get("/api/auth/me", headers={"x-request-id": "bad id with spaces"})
    assert bogus.headers["x-request-id"] != "bad id with spaces"


async def test_unknown_route_is_404_with_body(client: AsyncTestClient[Litestar]) -> None:
    assert_error(await client.get("/api/nope"), 404)


async def test_body_over_one_mebibyte_is_413(client: AsyncTestClient[Litestar], world: World) -> None:
    big = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
    response = await client.post(
        "/api/api-keys",
        content=big,
        headers={**world.admin_a.headers(), "content-type": "application/json"},
    )
    assert_error(response, 413)


async def test_non_json_body_is_415(client: AsyncTestClient[Litestar]) -> None:
    response = await client.post(
        "/api/auth/login", content=b"identifier=a&password=b", headers={"content-type": "text/plain"}
    )
    assert_error(response, 415)


async def test_invalid_json_is_400(client: AsyncTestClient[Litestar]) -> None:
    response = await client.post(
        "/api/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error(response, 400)


async def test_validation_error_names_the_field(client: AsyncTestClient[Litestar]) -> None:
    response = await client.post("/api/auth/login", json={"identifier": "a@b.c", "password": "short"})
    body = assert_error(response, 400)
    assert "password" in body["message"]
    assert body["details"][0]["field"] == "password"


async def test_malformed_uuid_in_path_is_400(client: AsyncTestClient[Litestar], world: World) -> None:
    response = await client.get("/api/tenant/not-a-uuid", headers=world.root.headers())
    assert_error(response, 400)


async def test_openapi_lists_every_route_with_its_permission(
    client: AsyncTestClient[Litestar], app: Litestar
) -> None:
    spec = (await client.get("/schema/openapi.json")).json()
    documented = 0
    for route in app.routes:
        if not route.path.startswith("/api"):
            continue
        for handler in route.route_handlers:  # type: ignore[attr-defined]
            if set(handler.http_methods) == {"OPTIONS"}:
                continue  # Litestar's automatic OPTIONS handler
            policy = RoutePolicy.declared_by(handler)
            assert policy is not None, f"{route.path}: no declared policy (app.auth.guards.access)"
            permission = policy.permission
            assert "**Permission:**" in (handler.description or "")
            if permission:
                assert permission in handler.description
            documented += 1
    assert documented >= 19
    ops = [op for item in spec["paths"].values() for op in item.values() if isinstance(op, dict)]
    scoped = {s for op in ops for req in op.get("security", []) for scopes in req.values() for s in scopes}
    assert {"MANAGE_API_KEYS", "CREATE_TENANT", "VIEW_USERS", "RESET_USER_PASSWORD"} <= scoped


async def test_openapi_declares_each_error_with_the_one_error_body(client: AsyncTestClient[Litestar]) -> None:
    """Every error status an operation can answer is declared, with the body the service sends (one
    shared component), not Litestar's default ``{status_code, detail, extra}``."""
    spec = (await client.get("/schema/openapi.json")).json()
    error = spec["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"statusCode", "message", "error"}
    assert "status_code" not in str(spec["paths"]) and "'detail'" not in str(spec["paths"])
    checked = 0
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if not path.startswith("/api"):
                continue
            label, responses = f"{method.upper()} {path}", op["responses"]
            errors = {int(code) for code in responses if int(code) >= 400}
            for code in errors:
                assert responses[str(code)]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorBody"
                }, (label, code)
            assert 503 in errors, label
            if op.get("security"):
                assert {401, 403, 429} <= errors, label
            if "requestBody" in op:
                assert {400, 413, 415} <= errors, label
            if any(p["in"] == "path" for p in op.get("parameters", [])):
                assert {400, 404} <= errors, label
            for code in (429, 503):
                if str(code) in responses:
                    assert responses[str(code)]["headers"]["Retry-After"]["required"] is True
            checked += 1
    assert checked >= 80
    paths = spec["paths"]
    assert {401, 429} <= {int(c) for c in paths["/api/auth/login"]["post"]["responses"]}
    assert {404, 409} <= {int(c) for c in paths["/api/activities"]["post"]["responses"]}
    assert "401" not in paths["/api/auth/logout"]["post"]["responses"]  # public, and never refuses
    assert "404" not in paths["/api/commerces"]["get"]["responses"]  # no path parameter


async def test_openapi_says_input_objects_refuse_unknown_fields(client: AsyncTestClient[Litestar]) -> None:
    schemas = (await client.get("/schema/openapi.json")).json()["components"]["schemas"]
    for name in ("ActivityCreate", "RouteCreate", "LoginRequest", "CommerceCreate", "SyncAddress"):
        assert schemas[name]["additionalProperties"] is False, name
    for name in ("Activity", "Route", "ErrorBody", "LoginResponse"):  # outputs stay open
        assert schemas[name].get("additionalProperties") is not False, name
    # A rule between fields that the code enforces is stated too.
    assert "allOf" in schemas["ActivityCreate"]


async def test_database_outage_is_503_with_retry_after(settings: Settings) -> None:
    """Point a second app at a server that is not there: every DB-backed route answers 503 fast."""
    app = create_app(settings)
    async with AsyncTestClient(app=app) as c:
        # Make the pool unusable: close it under the running app (the test client runs the app on
        # its own loop, so go through its portal).
        c.blocking_portal.call(app.state.pool.close)
        started = asyncio.get_running_loop().time()
        response = await c.post("/api/auth/login", json={"identifier": "x@y.z", "password": "12345678"})
        elapsed = asyncio.get_running_loop().time() - started
        body = assert_error(response, 503)
        assert response.headers["retry-after"] == "1"
        assert "unavailable" in body["message"].lower()
        assert elapsed < 5
        ready = await c.get("/ready")
        assert ready.status_code == 503


async def test_pool_exhaustion_is_503_within_acquire_timeout(settings: Settings) -> None:
    tight = Settings(
        **{
            **{f: getattr(settings, f) for f in settings.__struct_fields__},
            "pool_min_size": 1,
            "pool_max_size": 1,
            "pool_acquire_timeout_s": 0.3,
        }
    )
    app = create_app(tight)
    async with AsyncTestClient(app=app) as c:
        held = c.blocking_portal.call(app.state.pool.acquire)
        try:
            response = await c.post("/api/auth/login", json={"identifier": "x@y.z", "password": "12345678"})
            assert_error(response, 503)
            assert response.headers["retry-after"] == "1"
        finally:
            c.blocking_portal.call(app.state.pool.release, held)
        ok = await c.post("/api/auth/login", json={"identifier": "x@y.z", "password": "12345678"})
        assert_error(ok, 401)


def test_settings_refuse_short_secret(settings: Settings) -> None:
    fields = {f: getattr(settings, f) for f in settings.__struct_fields__}
    with pytest.raises(ValueError, match="JWT_SECRET"):
        Settings(**{**fields, "jwt_secret": "short"}).validate()
    with pytest.raises(ValueError, match="cheapest"):
        Settings(**{**fields, "reten_env": "production"}).validate()
    production = {**fields, "reten_env": "production", "password_hash_profile": "default"}
    with pytest.raises(ValueError, match="CREDENTIALS_KEYS"):
        Settings(**{**production, "credentials_keys": None}).validate()
    with pytest.raises(ValueError, match="development only"):
        Settings(**production).validate()  # the test settings allow http and a loopback allowlist
    production = {**production, "dispatch_allow_http": False, "dispatch_test_allowlist": []}
    with pytest.raises(ValueError, match="COOKIE_SECURE"):
        Settings(**production).validate()
    Settings(**{**production, "cookie_secure": True}).validate()
    with pytest.raises(ValueError, match="32 bytes"):
        Settings(**{**fields, "credentials_keys": "k:QUFB"}).validate()
    with pytest.raises(ValueError):
        Settings(**{**fields, "dispatch_test_allowlist": ["not a network"]}).validate()


async def test_cors_allows_configured_origins_with_credentials(settings: Settings) -> None:
    fields = {f: getattr(settings, f) for f in settings.__struct_fields__}
    app = create_app(Settings(**{**fields, "cors_origins": ["https://admin.example.test"]}))
    async with AsyncTestClient(app=app) as c:
        preflight = await c.options(
            "/api/auth/login",
            headers={
                "origin": "https://admin.example.test",
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type",
            },
        )
        assert preflight.status_code in (200, 204)
        assert preflight.headers["access-control-allow-origin"] == "https://admin.example.test"
        assert preflight.headers["access-control-allow-credentials"] == "true"
        other = await c.get("/health", headers={"origin": "https://evil.example.test"})
        assert "access-control-allow-origin" not in other.headers


def test_tenant_context_renders_only_uuids() -> None:
    import uuid

    from app.db import begin_statement

    tenant = uuid.UUID("6f1c2b8e-0000-4000-8000-000000000001")
    assert begin_statement(readonly=True, tenant_id=tenant) == (
        "begin isolation level read committed read only; "
        "set local app.tenant_id = '6f1c2b8e-0000-4000-8000-000000000001'"
    )
    assert begin_statement(readonly=False, tenant_id=None, identity=True) == (
        "begin; set local role reten_identity"
    )
    with pytest.raises(TypeError):
        begin_statement(readonly=False, tenant_id="x'; drop table app.users; --")  # type: ignore[arg-type]


def test_the_citus_opening_sends_the_tenant_context_alone() -> None:
    """Citus re-sends the whole string of every SET LOCAL to each worker connection it opens later: the
    tenant context is a statement of its own, the role is not a SET at all, and generic plans (which
    Citus cannot route) are not forced."""
    import uuid

    from app.db import opening

    tenant = uuid.UUID("6f1c2b8e-0000-4000-8000-000000000001")
    assert opening(True, readonly=True, tenant_id=tenant, generic_plans=True) == (
        "begin isolation level read committed read only",
        "set local app.tenant_id = '6f1c2b8e-0000-4000-8000-000000000001'",
    )
    assert opening(True, readonly=False, tenant_id=None, identity=True) == (
        "begin; select set_config('role', 'reten_identity', true), "
        "set_config('citus.multi_shard_modify_mode', 'sequential', true)",
    )
    assert opening(False, readonly=False, tenant_id=tenant) == (
        "begin; set local app.tenant_id = '6f1c2b8e-0000-4000-8000-000000000001'",
    )


async def test_access_log_line_and_log_requests_switch(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    fields = {f: getattr(settings, f) for f in settings.__struct_fields__}
    for enabled, expected in ((True, 1), (False, 0)):
        caplog.clear()
        app = create_app(Settings(**{**fields, "log_requests": enabled}))
        with caplog.at_level("INFO", logger="reten.access"):
            async with AsyncTestClient(app=app) as c:
                await c.get("/api/auth/me", headers={"x-request-id": "log-test"})
        lines = [r for r in caplog.records if r.name == "reten.access"]
        assert len(lines) == expected, (enabled, lines)


async def test_a_rejected_query_parameter_leaves_no_connection_checked_out(
    client: AsyncTestClient[Litestar], app: Litestar, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Dependencies that validate input (pagination, cursor) resolve before the connection is acquired:
    a 400 from them must not leave a connection (and its open transaction) behind."""
    pool = app.state.pool
    for query in ("per_page=101", "page=0", "cursor=garbage!"):
        assert_error(await client.get(f"/api/operators?{query}", headers=world.admin_a.headers()), 400)
        assert pool.get_idle_size() == pool.get_size(), query
    assert "active transaction" not in caplog.text


async def test_pooled_connections_come_back_clean(
    client: AsyncTestClient[Litestar], app: Litestar, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """The pool's reset sends nothing (app.db._reset): every connection must come back idle, out of any
    transaction, with no tenant context, role or planner setting left (they are all SET LOCAL), after
    reads, writes and the integration pull (which changes planner settings)."""
    headers = world.admin_a.headers()
    key = (
        await client.post(
            "/api/api-keys", headers=headers, json={"name": "k", "permissions": ["VIEW_ACTIVITIES"]}
        )
    ).json()["plaintextKey"]
    for _ in range(3):
        assert (await client.get("/api/operators", headers=headers)).status_code == 200
        assert (
            await client.get("/api/integration/activities/tasks", headers={"x-api-key": key})
        ).status_code == 200
        body = {"type": "SALESMAN", "name": "Op"}
        assert (await client.post("/api/operators", headers=headers, json=body)).status_code == 201
    pool = app.state.pool
    assert pool.get_idle_size() == pool.get_size()

    async def state() -> list[object]:
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            return list(
                await conn.fetchrow(
                    "select current_setting('app.tenant_id', true), current_user::text, "
                    "current_setting('plan_cache_mode'), current_setting('enable_sort')"
                )
            )

    seen = await asyncio.to_thread(client.blocking_portal.call, state)  # the pool lives on the app's loop
    assert seen[0] in (None, "") and seen[1] == "reten_app" and seen[2] == "auto" and seen[3] == "on", seen
    assert "active transaction" not in caplog.text
