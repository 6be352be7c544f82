"""Manual dispatch with the dispatcher running (CONTRACT.md §8, revised): the answer never depends on which
of the two got to the task first. The NOTIFY-driven dispatcher usually claims a new READY task before the
manual call arrives; the call then waits for that attempt and answers its outcome, and nothing is sent
twice."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import pytest
from activities.helpers import ok
from conftest import World, assert_error

from app.config import Settings
from app.dispatch.delivery import delivery_id
from app.loadtest.receiver import Receiver
from dispatch.helpers import new_tasks, running_dispatcher, yom_config

ROUNDS = 12


async def test_manual_dispatch_answers_204_whoever_delivers(
    client: Any, world: World, settings: Settings
) -> None:
    actor = world.admin_a
    async with Receiver(delay_s=0.2, body=b'{"id": "p-1"}') as receiver, running_dispatcher(settings):
        await yom_config(client, actor, receiver.url)
        one = await new_tasks(client, actor)
        answers, tasks = [], []
        for _ in range(ROUNDS):
            task = await one()  # READY: the dispatcher is told at once
            tasks.append(task)
            response = await client.post(
                f"/api/activities/tasks/{task['id']}/dispatch", headers=actor.headers()
            )
            answers.append((response.status_code, response.text))
        for task in tasks:  # after a 204 the task is DISPATCHED
            detail = await ok(client, actor, "GET", f"/api/activities/{task['id']}")
            assert (detail["status"], detail["providerActivityId"]) == ("DISPATCHED", "p-1")
            again = await client.post(f"/api/activities/tasks/{task['id']}/dispatch", headers=actor.headers())
            assert again.status_code == 204, again.text  # already DISPATCHED: nothing sent again
    assert [a[0] for a in answers] == [204] * ROUNDS, answers
    sent = Counter(r.headers["x-reten-delivery-id"] for r in receiver.requests)
    assert sent == Counter({delivery_id(world.tenant_a, uuid.UUID(t["id"])): 1 for t in tasks})


async def test_manual_dispatch_answers_the_failure_of_the_attempt_in_flight(
    client: Any, world: World, settings: Settings
) -> None:
    actor = world.admin_a
    async with Receiver(delay_s=0.2, status=503) as receiver, running_dispatcher(settings):
        await yom_config(client, actor, receiver.url)
        one = await new_tasks(client, actor)
        for n in range(ROUNDS // 2):
            task = await one()
            for _ in range(300):  # until the dispatcher's attempt is in flight at the provider
                if len(receiver.requests) > n:
                    break
                await asyncio.sleep(0.01)
            response = await client.post(
                f"/api/activities/tasks/{task['id']}/dispatch", headers=actor.headers()
            )
            assert assert_error(response, 502)["errorCode"] == "HTTP_STATUS"
            detail = await ok(client, actor, "GET", f"/api/activities/{task['id']}")
            # one attempt, whoever made it, counted once; the retry waits for its backoff
            assert (detail["status"], detail["dispatchAttemptCount"]) == ("READY", 1)
    assert len(receiver.requests) == ROUNDS // 2


@pytest.mark.parametrize("final", ["CANCELED"])
async def test_what_is_not_ready_is_still_400(
    client: Any, world: World, settings: Settings, final: str
) -> None:
    actor = world.admin_a
    async with Receiver() as receiver:
        await yom_config(client, actor, receiver.url)
        task = await (await new_tasks(client, actor))()
        await ok(client, actor, "PATCH", f"/api/activities/{task['id']}/cancel", 204)
        response = await client.post(f"/api/activities/tasks/{task['id']}/dispatch", headers=actor.headers())
        assert "CANCELED" in assert_error(response, 400)["message"]
    assert receiver.requests == []
