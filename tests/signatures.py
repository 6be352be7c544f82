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
