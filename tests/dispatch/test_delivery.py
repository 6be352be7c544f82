"""Delivery by manual dispatch (POST /api/activities/tasks/:id/dispatch) to a real loopback receiver:
the request a provider gets, the status machine on success and failure, and the documented errors."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from activities.helpers import commerce, create_activity, create_task, events, ok, route_with_operator
from conftest import World, add_user, assert_error

from app.dispatch.delivery import delivery_id
from app.integration.schemas import IntegrationTask
from app.loadtest.receiver import Receiver


async def _provider(client: Any, actor: Any, code: str) -> str:
    return next(
        p["id"] for p in await ok(client, actor, "GET", "/api/dispatch-providers") if p["code"] == code
    )


async def _yom(client: Any, actor: Any, url: str, channel: str = "SALESMAN", key: str = "yom-key-1") -> dict:
    body = {
        "dispatchProviderId": await _provider(client, actor, "YOM"),
        "channel": channel,
        "baseUrl": url,
        "credentials": {"apiKey": key},
    }
    return await ok(client, actor, "POST", "/api/dispatch-configs", 201, json=body)


async def _task(client: Any, actor: Any, external_id: str = "store-001") -> dict:
    store = await commerce(client, actor, external_id)
    route_id, operator_id = await route_with_operator(client, actor, code=f"R-{external_id}")
    return await create_task(client, actor, store["id"], route_id, operator_id)


def _dispatch(task: dict) -> str:
    return f"/api/activities/tasks/{task['id']}/dispatch"


async def test_a_dispatched_task_reaches_the_provider_as_documented(client: Any, world: World) -> None:
    actor = world.admin_a
    async with Receiver(body=b'{"id": "yom-42"}') as receiver:
        await _yom(client, actor, receiver.url + "/api/")
        task = await _task(client, actor)
        response = await client.post(_dispatch(task), headers=actor.headers())
        assert response.status_code == 204, response.text
    [request] = receiver.requests
    assert request.method == "POST" and request.path == "/api/activities"
    assert request.headers["x-api-key"] == "yom-key-1"
    assert request.headers["x-reten-delivery-id"] == delivery_id(actor.tenant_id, uuid.UUID(task["id"]))
    body = __import__("json").loads(request.body)
    item = {k: v for k, v in body.items() if k not in ("targetUser", "attributes")}
    __import__("msgspec").convert(item, IntegrationTask, strict=True)  # the integration item, exactly
    assert body["id"] == task["id"] and body["status"] == "PENDING"
    assert body["targetUser"]["firstName"] and isinstance(body["attributes"], dict)
    after = await ok(client, actor, "GET", f"/api/activities/{task['id']}")
    assert after["status"] == "DISPATCHED" and after["providerActivityId"] == "yom-42"
    assert after["dispatchAttemptCount"] == 1
    assert [e["eventType"] for e in await events(client, actor, task["id"])][-1] == "DISPATCH_SUCCESS"


async def test_mock_succeeds_without_any_network_call(client: Any, world: World) -> None:
    actor = world.admin_a
    body = {"dispatch_provider_id": await _provider(client, actor, "MOCK"), "channel": "SALESMAN"}
    await ok(client, actor, "POST", "/api/dispatch-configs", 201, json=body)
    task = await _task(client, actor)
    assert (await client.post(_dispatch(task), headers=actor.headers())).status_code == 204
    after = await ok(client, actor, "GET", f"/api/activities/{task['id']}")
    assert after["status"] == "DISPATCHED"
    assert uuid.UUID(after["providerActivityId"])


async def test_provider_failures_count_and_the_third_is_final(
    client: Any, world: World, app_pool: asyncpg.Pool
) -> None:
    actor = world.admin_a
    async with Receiver(status=503, body=b'{"detail": "provider internals"}') as receiver:
        await _yom(client, actor, receiver.url)
        task = await _task(client, actor)
        for attempt in (1, 2, 3):
            body = assert_error(await client.post(_dispatch(task), headers=actor.headers()), 502)
            assert body["errorCode"] == "HTTP_STATUS" and "provider internals" not in body["message"]
            after = await ok(client, actor, "GET", f"/api/activities/{task['id']}")
            assert after["dispatchAttemptCount"] == attempt
            assert after["status"] == ("FAILED" if attempt == 3 else "READY")
    assert len(receiver.requests) == 3
    ids = {r.headers["x-reten-delivery-id"] for r in receiver.requests}
    assert len(ids) == 1  # the same delivery id on every attempt
    failed = [e for e in await events(client, actor, task["id"]) if e["eventType"] == "DISPATCH_FAILED"]
    assert [(e["fromStatus"], e["toStatus"]) for e in failed] == [("READY", "READY")] * 2 + [
        ("READY", "FAILED")
    ]
    assert all(e["errorCode"] == "HTTP_STATUS" for e in failed)
    assert_error(await client.post(_dispatch(task), headers=actor.headers()), 400)  # FAILED is not READY


async def test_a_provider_that_is_down_is_a_counted_failure(client: Any, world: World) -> None:
    actor = world.admin_a
    async with Receiver() as receiver:
        url = receiver.url
    await _yom(client, actor, url)  # nothing listens there any more
    task = await _task(client, actor)
    body = assert_error(await client.post(_dispatch(task), headers=actor.headers()), 502)
    assert body["errorCode"] == "CONNECT_FAILED"
    assert (await ok(client, actor, "GET", f"/api/activities/{task['id']}"))["dispatchAttemptCount"] == 1


async def test_what_cannot_be_dispatched_by_hand(client: Any, world: World) -> None:
    actor = world.admin_a
    task = await _task(client, actor)
    assert_error(await client.post(_dispatch(task), headers=actor.headers()), 404)  # no config
    async with Receiver() as receiver:
        await _yom(client, actor, receiver.url)
        store = await commerce(client, actor, "store-002")
        message = await create_activity(client, actor, store["id"], channel="SALESMAN")
        assert_error(await client.post(_dispatch(message), headers=actor.headers()), 400)  # a MESSAGE
        await ok(client, actor, "PATCH", f"/api/activities/{task['id']}/cancel", 204)
        assert_error(await client.post(_dispatch(task), headers=actor.headers()), 400)  # not READY
        assert_error(
            await client.post(f"/api/activities/tasks/{uuid.uuid4()}/dispatch", headers=actor.headers()), 404
        )
        other = await _task(client, world.admin_b, "store-b")
        assert_error(await client.post(_dispatch(other), headers=actor.headers()), 404)  # another tenant
        viewer = await add_user(client, actor, "viewer@a.test", ["VIEWER"])
        live = await _task(client, actor, "store-003")
        assert_error(await client.post(_dispatch(live), headers=viewer.headers()), 403)
    assert receiver.accepts == 0


async def test_the_api_key_is_in_no_response_and_no_log(
    client: Any, world: World, caplog: Any, app_pool: asyncpg.Pool
) -> None:
    """Create, list, dispatch (success and failure), with every logger at DEBUG: the key appears only
    in the request the provider receives."""
    secret = "yom-super-secret-key-0042"
    actor = world.admin_a
    caplog.set_level("DEBUG")
    async with Receiver(status=500) as receiver:
        created = await _yom(client, actor, receiver.url, key=secret)
        task = await _task(client, actor)
        failed = await client.post(_dispatch(task), headers=actor.headers())
        receiver.status = 200
        done = await client.post(_dispatch(task), headers=actor.headers())
        listed = await client.get("/api/dispatch-configs", headers=actor.headers())
    assert failed.status_code == 502 and done.status_code == 204
    for text in (str(created), failed.text, done.text, listed.text, caplog.text):
        assert secret not in text
    assert [r.headers["x-api-key"] for r in receiver.requests] == [secret, secret]


async def test_a_reply_nested_too_deep_is_still_an_answer(client: Any, world: World) -> None:
    """msgspec raises RecursionError past ~1,000 levels: the 2xx still counts, just without an id (it
    used to escape the attempt, leaving the task READY and leased, re-sent every lease period)."""
    actor = world.admin_a
    async with Receiver(body=b"[" * 2000) as receiver:
        await _yom(client, actor, receiver.url)
        task = await _task(client, actor)
        response = await client.post(_dispatch(task), headers=actor.headers())
        assert response.status_code == 204, response.text
    after = await ok(client, actor, "GET", f"/api/activities/{task['id']}")
    assert (after["status"], after["providerActivityId"], after["dispatchAttemptCount"]) == (
        "DISPATCHED",
        None,
        1,
    )
    assert len(receiver.requests) == 1
