"""A closed-loop HTTP load driver: ``concurrency`` workers each send a request, wait for its answer and
send the next, for ``duration_s`` after a warm-up. Records latency per request, counts answers by status
(and failures by exception name), prints a progress line each second, and reports rate and percentiles."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ("Report", "StopLoad", "drive", "percentile")


class StopLoad(Exception):
    """Raised by a request function when the run cannot go on (e.g. no READY task left to submit a
    result for): the workers stop and the report says why."""


Request = Callable[[int], Awaitable[int]]


def percentile(ordered: list[float], q: float) -> float:
    """The q-quantile (0..1) of an ascending list, in the list's unit; 0 when empty."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Report(dict[str, Any]):
    """rps, p50/p95/p99 (ms), requests, errors (non-2xx and failures), by_status, duration_s, stopped
    (why the run ended early, or None)."""

    @property
    def line(self) -> str:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self["by_status"].items()))
        return (
            f"{self['rps']:8.0f} req/s  p50 {self['p50_ms']:6.1f}  p95 {self['p95_ms']:6.1f}  "
            f"p99 {self['p99_ms']:6.1f} ms  errors {self['errors']}  ({statuses})"
            + (f"  STOPPED EARLY: {self['stopped']}" if self.get("stopped") else "")
        )


async def drive(
    concurrency: int,
    duration_s: float,
    request: Request,
    *,
    warmup_s: float = 2.0,
    progress: bool = True,
    label: str = "",
) -> Report:
    """Run ``request(n)`` (n unique per call; it returns the HTTP status) from ``concurrency`` workers."""
    counter = iter(range(10**12))
    stopped: list[str] = []
    latencies: list[float] = []
    by_status: Counter[str] = Counter()
    measuring = False
    started = time.perf_counter()
    measure_from = started + warmup_s
    deadline = measure_from + duration_s

    async def worker() -> None:
        while (now := time.perf_counter()) < deadline and not stopped:
            try:
                status = str(await request(next(counter)))
            except StopLoad as exc:
                stopped.append(str(exc) or type(exc).__name__)
                return
            except Exception as exc:  # a refused connection or a timeout is a result, not a crash
                status = f"exc:{type(exc).__name__}"
            if measuring:
                latencies.append(time.perf_counter() - now)
                by_status[status] += 1

    async def clock() -> None:
        nonlocal measuring
        await asyncio.sleep(warmup_s)
        measuring = True
        seen, shown = 0, time.perf_counter()
        while (now := time.perf_counter()) < deadline and not stopped:
            await asyncio.sleep(min(0.1, max(0.0, deadline - now)))
            if progress and time.perf_counter() - shown >= 1.0:
                shown = time.perf_counter()
                done = len(latencies)
                recent = sorted(latencies[seen:])
                p99 = percentile(recent, 0.99) * 1000
                bad = sum(v for k, v in by_status.items() if not k.startswith("2"))
                print(
                    f"\r{label} [{shown - measure_from:5.1f}s] {done:8d} req  "
                    f"{done - seen:6d}/s  p99 {p99:6.1f} ms  errors {bad}",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
                seen = done
        if progress:
            print(file=sys.stderr)

    await asyncio.gather(clock(), *(worker() for _ in range(concurrency)))
    elapsed = max(time.perf_counter() - measure_from, 1e-9)
    latencies.sort()
    return Report(
        rps=len(latencies) / elapsed,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p95_ms=percentile(latencies, 0.95) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        requests=len(latencies),
        errors=sum(v for k, v in by_status.items() if not k.startswith("2")),
        by_status=dict(by_status),
        duration_s=elapsed,
        stopped=stopped[0] if stopped else None,
    )
