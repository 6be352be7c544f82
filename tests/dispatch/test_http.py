"""The guarded client against a real loopback receiver: a non-public address is never connected to (the
receiver counts zero accepts), whatever the notation; the test-only allowlist lets loopback through;
redirects are not followed; bodies are capped; errors carry no response body."""

from __future__ import annotations

import pytest

from app.loadtest.receiver import Receiver
from app.outbound.addresses import parse_networks
from app.outbound.http import MAX_BODY, DeliveryError, GuardedClient

LOOPBACK = parse_networks(["127.0.0.0/8", "::1/128"])


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "0x7f.1", "127.1", "2130706433", "[::ffff:127.0.0.1]"]
)
async def test_a_non_public_address_is_never_connected(host: str) -> None:
    async with Receiver() as receiver, GuardedClient() as client:
        url = f"http://{host}:{receiver.port}/activities"
        with pytest.raises(DeliveryError) as caught:
            await client.post_json(url, b"{}", {})
        assert receiver.accepts == 0
        assert caught.value.code in ("BLOCKED_ADDRESS", "CONNECT_FAILED", "TRANSPORT"), caught.value.code


async def test_ipv6_loopback_is_never_connected() -> None:
    async with Receiver(host="::1") as receiver, GuardedClient() as client:
        with pytest.raises(DeliveryError) as caught:
            await client.post_json(f"{receiver.url}/x", b"{}", {})
        assert receiver.accepts == 0 and caught.value.code == "BLOCKED_ADDRESS"
        # The message is stored where the tenant reads it: it never says which address was refused.
        assert str(caught.value) == "refused to connect to a non-public address"
        assert "::1" not in str(caught.value)


async def test_the_allowlist_lets_loopback_through_and_the_answer_comes_back() -> None:
    async with Receiver(body=b'{"id": "abc"}') as receiver, GuardedClient(LOOPBACK) as client:
        response = await client.post_json(f"{receiver.url}/activities", b'{"a": 1}', {"x-api-key": "k"})
    assert response.status == 200 and response.json() == {"id": "abc"}
    [request] = receiver.requests
    assert request.method == "POST" and request.path == "/activities" and request.body == b'{"a": 1}'
    assert request.headers["x-api-key"] == "k" and request.headers["content-type"] == "application/json"


async def test_a_redirect_is_not_followed() -> None:
    async with Receiver() as target, Receiver(status=302) as redirecting, GuardedClient(LOOPBACK) as client:
        redirecting.extra_headers["location"] = f"{target.url}/elsewhere"
        with pytest.raises(DeliveryError) as caught:
            await client.post_json(f"{redirecting.url}/activities", b"{}", {})
    assert caught.value.code == "REDIRECT" and caught.value.status == 302
    assert target.accepts == 0


async def test_an_error_status_is_a_delivery_error_without_the_body() -> None:
    async with (
        Receiver(status=500, body=b'{"secret": "do not echo"}') as receiver,
        GuardedClient(LOOPBACK) as client,
    ):
        with pytest.raises(DeliveryError) as caught:
            await client.post_json(f"{receiver.url}/a", b"{}", {"x-api-key": "super-secret"})
    assert caught.value.code == "HTTP_STATUS" and caught.value.status == 500
    assert "do not echo" not in str(caught.value) and "super-secret" not in str(caught.value)


async def test_at_most_64_kib_of_a_response_is_read() -> None:
    async with Receiver(body=b"x" * (MAX_BODY * 4)) as receiver, GuardedClient(LOOPBACK) as client:
        response = await client.post_json(f"{receiver.url}/a", b"{}", {})
    assert len(response.body) == MAX_BODY and response.json() is None


async def test_a_reply_sent_in_slow_pieces_is_read_whole() -> None:
    body = b'{"id": "p1", "pad": "' + b"y" * 20_000 + b'"}'
    async with Receiver(body=body, chunk_delay_s=0.05) as receiver, GuardedClient(LOOPBACK) as client:
        response = await client.post_json(f"{receiver.url}/a", b"{}", {})
    assert response.body == body and response.json()["id"] == "p1"
    big = b"x" * (MAX_BODY * 2)
    async with Receiver(body=big, chunk_delay_s=0.05) as receiver, GuardedClient(LOOPBACK) as client:
        response = await client.post_json(f"{receiver.url}/a", b"{}", {})
    assert len(response.body) == MAX_BODY


async def test_nothing_listening_is_a_connect_failure() -> None:
    async with Receiver() as receiver:
        port = receiver.port
    async with GuardedClient(LOOPBACK) as client:
        with pytest.raises(DeliveryError) as caught:
            await client.post_json(f"http://127.0.0.1:{port}/a", b"{}", {})
    assert caught.value.code == "CONNECT_FAILED"


async def test_a_port_outside_the_allowed_ones_is_never_connected() -> None:
    """The call-time half of the port rule (a URL stored before it, or a name whose port was fine at save
    time): the socket is refused before it opens."""
    async with Receiver() as receiver, GuardedClient(ports=frozenset({443})) as client:
        with pytest.raises(DeliveryError) as caught:
            await client.post_json(f"{receiver.url}/x", b"{}", {})
        assert receiver.accepts == 0 and caught.value.code == "BLOCKED_ADDRESS"
        assert str(caught.value) == "refused to connect to a port outside the allowed ones"
