"""`reten run` stops everything it started on SIGTERM: the API, the dispatcher child and the embedded
PostgreSQL (issue 16, item 6: with one worker uvicorn re-raised the signal and the process died before it
stopped its child, leaving the dispatcher and the database running). With one and with two workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from app.config import PROJECT_ROOT
from app.serving import free_port

READY_WITHIN_S = 120
STOPPED_WITHIN_S = 45


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def _postmaster(data_dir: Path) -> psutil.Process | None:
    pid_file = data_dir / "pg" / "postmaster.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().split()[0])
    return psutil.Process(pid) if psutil.pid_exists(pid) else None


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_stops_the_dispatcher_and_the_embedded_database(tmp_path: Path, workers: int) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "OWNER_DATABASE_URL"))}
    env.update(DATA_DIR=str(data_dir), HOST="127.0.0.1", PORT=str(port), WORKERS=str(workers))
    env.pop("XDG_RUNTIME_DIR", None)
    run = subprocess.Popen(
        [sys.executable, "-m", "app", "run"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    postmaster = None
    try:
        deadline = time.monotonic() + READY_WITHIN_S
        while not _healthy(port):
            assert run.poll() is None, f"reten run exited with {run.returncode}"
            assert time.monotonic() < deadline, "reten run did not serve in time"
            time.sleep(0.2)
        children = psutil.Process(run.pid).children(recursive=True)
        dispatchers = [c for c in children if "dispatcher" in c.cmdline()]
        assert len(dispatchers) == 1
        postmaster = _postmaster(data_dir)
        assert postmaster is not None and postmaster.is_running()

        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=STOPPED_WITHIN_S) == 0
        # Children end on their own schedule once told (a uvicorn worker, multiprocessing's resource
        # tracker when its pipe closes): each gets the same bounded wait.
        deadline = time.monotonic() + 10
        while not all(_gone(p) for p in (*children, postmaster)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(dispatchers[0]), "the dispatcher outlived reten run"
        assert _gone(postmaster), "the embedded PostgreSQL outlived reten run"
        assert [c.cmdline() for c in children if not _gone(c)] == []
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
        if postmaster is not None and not _gone(postmaster):
            postmaster.terminate()
