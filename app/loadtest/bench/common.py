"""What every ``reten bench`` benchmark shares: its database names and its super admin."""

from __future__ import annotations

__all__ = ("BENCH_DB", "BENCH_DBS", "BENCH_EMAIL", "BENCH_PASSWORD")

BENCH_DB = "reten_bench"
BENCH_DBS = {"citus": "reten_bench_plain"}  # the benchmarks with a database of their own
BENCH_EMAIL = "bench@reten.local"
BENCH_PASSWORD = "bench-password-1"
