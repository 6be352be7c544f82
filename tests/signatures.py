"""Checking our outbound signatures as a receiver would: with the Standard Webhooks reference library
(``standardwebhooks``), on what a loopback receiver actually got."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import standardwebhooks.webhooks as reference
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from app.loadtest.receiver import Received

__all__ = ("WebhookVerificationError", "refused", "signatures", "verify")


@contextlib.contextmanager
def _receiver_clock(at: float | None) -> Iterator[None]:
    """The library checks the timestamp against its own clock (5 min of tolerance): a call made at a
    simulated ``at`` is checked by a receiver whose clock says ``at`` too."""
    if at is None:
        yield
        return

    class At(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return datetime.fromtimestamp(at, tz)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reference, "datetime", At)
        yield


def verify(secret: str, request: Received, at: float | None = None) -> Any:
    """The request's JSON body, if ``secret`` verifies its headers (else WebhookVerificationError)."""
    with _receiver_clock(at):
        return Webhook(secret).verify(request.body, request.headers)


def refused(secret: str, request: Received, at: float | None = None) -> str:
    """Why ``secret`` does not verify the request (fails the test if it does)."""
    with pytest.raises(WebhookVerificationError) as caught:
        verify(secret, request, at)
    return str(caught.value)


def signatures(request: Received) -> list[str]:
    return request.headers["webhook-signature"].split(" ")


async def rotated_only_by_managers(client: Any, world: Any, url: str, missing: str) -> Any:
    """``POST url`` (a rotation route of tenant A's object) refused for everyone but a manager of A:
    another tenant's admin and the super admin acting in B -> 404, an unknown id (``missing``) -> 404, a
    VIEWER and a key without MANAGE_ACTIVITY_CONFIG -> 403. Returns the answer to a key that has it."""
    from activities.helpers import ok
    from conftest import add_user, assert_error

    actor = world.admin_a
    assert_error(await client.post(url, headers=world.admin_b.headers()), 404)  # another tenant's id
    assert_error(await client.post(url, headers=world.root.headers(world.tenant_b)), 404)
    assert_error(await client.post(missing, headers=actor.headers()), 404)
    viewer = await add_user(client, actor, "viewer@a.test", ["VIEWER"])
    assert_error(await client.post(url, headers=viewer.headers()), 403)
    body = {"name": "viewer-key", "permissions": ["VIEW_ACTIVITIES"]}
    key = (await ok(client, actor, "POST", "/api/api-keys", 201, json=body))["plaintextKey"]
    assert_error(await client.post(url, headers={"x-api-key": key}), 403)
    body = {"name": "manager-key", "permissions": ["MANAGE_ACTIVITY_CONFIG"]}
    key = (await ok(client, actor, "POST", "/api/api-keys", 201, json=body))["plaintextKey"]
    rotated = await client.post(url, headers={"x-api-key": key})
    assert rotated.status_code == 200, rotated.text
    return rotated
