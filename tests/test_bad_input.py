"""Bad input is a 400 with the documented body, never a 500: bytes that are not JSON (nesting deeper than
the decoder goes, invalid UTF-8 inside a string), U+0000, and values of another type than /schema says,
in a body (strict decoding) or in a query string or header (strict parameters)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import World, assert_error
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]
JSON = {"content-type": "application/json"}
LOGIN = "/api/auth/login"
ROUTES = "/api/routes"  # an authenticated route whose body has a free-form object (`metadata`)


def deep(depth: int, inner: bytes = b"1") -> bytes:
    return b"[" * depth + inner + b"]" * depth


@pytest.mark.parametrize("depth", [1_000, 100_000])
async def test_deeply_nested_json_is_400_on_login(client: Client, depth: int) -> None:
    for body in (deep(depth), b'{"identifier": ' + deep(depth) + b', "password": "12345678"}'):
        assert_error(await client.post(LOGIN, content=body, headers=JSON), 400)


@pytest.mark.parametrize("depth", [1_000, 100_000])
async def test_deeply_nested_json_is_400_on_a_body_route(client: Client, world: World, depth: int) -> None:
    headers = {**world.admin_a.headers(), **JSON}
    for body in (deep(depth), b'{"name": "r", "metadata": {"a": ' + deep(depth) + b"}}"):
        body_error = assert_error(await client.post(ROUTES, content=body, headers=headers), 400)
        assert "json" in body_error["message"].lower() or "expected" in body_error["message"].lower()
    # Nothing was created.
    listed = await client.get(ROUTES, headers=world.admin_a.headers())
    assert listed.json()["meta"]["total"] == 0


async def test_invalid_utf8_inside_a_string_is_400(client: Client, world: World) -> None:
    bad = b'{"identifier": "\xff\xfe", "password": "12345678"}'
    assert_error(await client.post(LOGIN, content=bad, headers=JSON), 400)
    headers = {**world.admin_a.headers(), **JSON}
    for body in (b'{"name": "caf\xe9"}', b'{"name": "r", "metadata": {"k\xc3": "v"}}'):
        assert_error(await client.post(ROUTES, content=body, headers=headers), 400)


async def test_nul_in_any_string_is_400(client: Client, world: World) -> None:
    headers = {**world.admin_a.headers(), **JSON}
    for body in (
        b'{"name": "a\\u0000b"}',
        b'{"name": "r", "metadata": {"a\\u0000": 1}}',
        b'{"name": "r", "metadata": {"a": [["\\u0000"]]}}',
    ):
        message = assert_error(await client.post(ROUTES, content=body, headers=headers), 400)["message"]
        assert "U+0000" in message
    # An escaped backslash before "u0000" is not a NUL.
    ok = await client.post(ROUTES, content=b'{"name": "a\\\\u0000b"}', headers=headers)
    assert ok.status_code == 201, ok.text
    assert ok.json()["name"] == "a\\u0000b"


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/api/activities", {"score": "1"}, "score"),
        (ROUTES, {"name": "r", "is_active": 0}, "is_active"),
        (ROUTES, {"name": 5}, "name"),
        (
            "/api/activity-config/target-resolution",
            {"resolution_strategy": "MANUAL", "priority": "3"},
            "priority",
        ),
        (
            "/api/activity-config/target-resolution",
            {"resolution_strategy": "MANUAL", "priority": 3.5},
            "priority",
        ),
    ],
)
async def test_body_values_are_not_coerced(
    client: Client, world: World, url: str, body: dict[str, Any], field: str
) -> None:
    if url == "/api/activities":  # otherwise valid, so the type is the only thing wrong
        body = {
            "type": "MESSAGE",
            "channel": "SMS",
            "reason": "r",
            "commerce_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
            "idempotency_key": "k",
            "scheduled_at": "2031-01-16T09:00:00Z",
            **body,
        }
    response = await client.post(url, headers=world.admin_a.headers(), json=body)
    error = assert_error(response, 400)
    assert error["details"][0]["field"] == field, error


async def test_a_whole_number_is_an_integer(client: Client, world: World) -> None:
    """JSON has one kind of number, and JSON Schema calls 3.0 an integer: it is taken as 3."""
    response = await client.post(
        "/api/activity-config/target-resolution",
        headers=world.admin_a.headers(),
        json={"resolution_strategy": "MANUAL", "priority": 3.0},
    )
    assert response.status_code == 201, response.text
    assert response.json()["priority"] == 3


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("/api/commerces?page=1e3", "page"),
        ("/api/commerces?page=1.0", "page"),
        ("/api/commerces?per_page=+5", "per_page"),
        ("/api/commerces?is_active=0", "is_active"),
        ("/api/commerces?is_active=True", "is_active"),
        ("/api/activities?scheduled_to=0.5", "scheduled_to"),
        ("/api/activities?scheduled_from=2031-01-16T09:00:00", "scheduled_from"),
        ("/api/activities?type=null", "type"),
        ("/api/activities?commerce_id=1b4e28ba2fa111d2883f0016d3cca427", "commerce_id"),
        ("/api/operators?type=null&type=null", "type"),
    ],
)
async def test_query_values_are_what_the_schema_says(
    client: Client, world: World, query: str, field: str
) -> None:
    error = assert_error(await client.get(query, headers=world.admin_a.headers()), 400)
    assert error["details"][0]["field"] == field, error


async def test_well_typed_query_values_are_taken(client: Client, world: World) -> None:
    headers = world.admin_a.headers()
    for query in (
        "/api/commerces?page=2&per_page=5&is_active=false",
        "/api/activities?scheduled_from=2031-01-16T09:00:00.123%2B02:00&type=TASK",
        "/api/activities?commerce_id=1b4e28ba-2fa1-11d2-883f-0016d3cca427",
    ):
        response = await client.get(query, headers=headers)
        assert response.status_code == 200, (query, response.text)


async def test_a_documented_header_is_what_the_schema_says(client: Client, world: World) -> None:
    token = {"authorization": f"Bearer {world.admin_a.token}"}
    error = assert_error(await client.get("/api/auth/me", headers={**token, "x-tenant-id": "null"}), 400)
    assert error["details"][0]["field"] == "x-tenant-id"
    fine = await client.get("/api/auth/me", headers={**token, "x-tenant-id": str(world.tenant_a)})
    assert fine.status_code == 200, fine.text


async def test_options_allows_every_method_of_the_path(client: Client, world: World) -> None:
    for path, methods in (
        ("/api/activities", {"GET", "POST", "OPTIONS"}),
        ("/api/commerces", {"GET", "POST", "OPTIONS"}),
        ("/api/routes/1b4e28ba-2fa1-11d2-883f-0016d3cca427", {"GET", "PATCH", "DELETE", "OPTIONS"}),
    ):
        response = await client.options(path, headers=world.admin_a.headers())
        assert response.status_code == 204, response.text
        assert {m.strip() for m in response.headers["allow"].split(",")} == methods, path
