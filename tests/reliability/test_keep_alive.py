"""Issue 17, item 4: the server keeps an idle connection longer than the usual client pools do
(HTTP_KEEP_ALIVE_S, 75 s): a client that reuses its connection after 10 s idle is answered, instead of
writing into a socket the server already closed (uvicorn's own default is 5 s; 21 POSTs failed with
connection resets after a recovery burst)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from app.config import Settings
from app.serving import serve_locally

REQUEST = b"GET /health HTTP/1.1\r\nhost: reten\r\n\r\n"


async def _answer(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head + await reader.readexactly(length)


async def test_a_connection_reused_after_10_s_idle_is_answered(settings: Settings) -> None:
    assert settings.http_keep_alive_s > 15  # longer than aiohttp's pool keeps a connection
    async with serve_locally(settings) as base:
        reader, writer = await asyncio.open_connection("127.0.0.1", urlsplit(base).port)
        try:
            writer.write(REQUEST)
            first = await _answer(reader)
            await asyncio.sleep(10.5)
            writer.write(REQUEST)
            await writer.drain()
            second = await asyncio.wait_for(_answer(reader), 5)
        finally:
            writer.close()
    assert first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 200")
