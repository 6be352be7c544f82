"""A real loopback HTTP receiver standing in for a provider (dispatch tests and ``reten bench
dispatch``): counts the connections it accepts, records the requests it reads with their arrival time,
and answers what its owner tells it to (no mocked client). It serves from its own
thread and event loop, so it answers whichever loop the caller runs on (the API test client runs the
app on another thread's loop)."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = 0.0  # time.time() when it was read


@dataclass
class Receiver:
    host: str = "127.0.0.1"
    status: int = 200
    body: bytes = b'{"id": "prov-1"}'
    extra_headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # before each answer
    chunk_delay_s: float = 0.0  # > 0: the body goes out in 4 pieces with this pause before each
    port_wanted: int = 0  # 0: any free port
    accepts: int = 0
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.AbstractServer | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepts += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append(Received(method, path, headers, body, time.time()))
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                extra = "".join(f"{k}: {v}\r\n" for k, v in self.extra_headers.items())
                writer.write(
                    f"HTTP/1.1 {self.status} X\r\ncontent-length: {len(self.body)}\r\n"
                    f"content-type: application/json\r\n{extra}\r\n".encode()
                )
                await self._write_body(writer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _write_body(self, writer: asyncio.StreamWriter) -> None:
        if not self.chunk_delay_s:
            writer.write(self.body)
            await writer.drain()
            return
        step = max(1, -(-len(self.body) // 4))
        for start in range(0, len(self.body), step):
            await writer.drain()
            await asyncio.sleep(self.chunk_delay_s)
            writer.write(self.body[start : start + step])
        await writer.drain()

    async def __aenter__(self) -> Receiver:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def serve() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, self.host, self.port_wanted)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        await asyncio.to_thread(ready.wait, 10)
        return self

    @staticmethod
    async def _end_connections() -> None:
        """End every open connection's handler (on the receiver's loop): its client sees it closed."""
        handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    async def hang_up(self) -> None:
        """Close the connections open now (a request waiting for its answer gets none), still listening."""
        assert self._loop is not None
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._end_connections(), self._loop))

    async def __aexit__(self, *exc: object) -> None:
        assert self._loop is not None and self._server is not None and self._thread is not None

        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            await self._server.wait_closed()
            # Connections a client keeps alive: end their handlers on this loop before it closes.
            await self._end_connections()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join, 10)
        self._loop.close()
