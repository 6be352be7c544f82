"""One delivery attempt of a READY activity to the provider of its channel (CONTRACT.md §8), in three
steps so that the provider is called outside any transaction:

1. ``prepare`` (transaction): lock the activity, find the active config of its channel, resolve its
   ON_DISPATCH targets and attributes, build the payload, decrypt the credentials, take a lease;
2. ``call``: MOCK answers at once with a random id; YOM is ``POST {baseUrl}/activities`` through the
   guarded client, with ``x-api-key`` and an ``x-reten-delivery-id`` that is the same for every attempt
   of an activity (so a provider can drop a duplicate sent after a crash), signed as Standard Webhooks
   does with the config's secret (``webhook-id`` is that delivery id; app/outbound/signing.py);
3. ``record`` (transaction): success -> DISPATCHED (DISPATCH_SUCCESS, providerActivityId from the
   response's ``id``); failure -> the attempt is counted with a DISPATCH_FAILED event (errorCode and a
   message without the response body), the third -> FAILED; a retry waits with backoff and jitter.

Used by manual dispatch (``POST /api/activities/tasks/:id/dispatch``) and by the dispatcher."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec

from app.activities import lifecycle, resolve
from app.activities.hooks import HookAnswers
from app.activities.lifecycle import ActivityRef, DispatchAttempt
from app.crypto import CredentialsError, decrypt_credentials
from app.db import Transactions, Tx
from app.dispatch import repo
from app.errors import BadGateway, BadRequest, Conflict, NotFound
from app.outbound.http import TIMEOUT, DeliveryError, GuardedClient
from app.outbound.signing import SigningKey, active, config_keys, sign_headers
from app.state import Services

__all__ = ("MAX_ATTEMPTS", "Job", "Outcome", "deliver", "delivery_id", "dispatch_now")

log = logging.getLogger("reten.dispatch")

MAX_ATTEMPTS = 3
_DELIVERY_NS = uuid.UUID("0b4f3c52-5d4e-4a53-9a0e-3f6f6e7d2a11")


def delivery_id(tenant_id: uuid.UUID, activity_id: uuid.UUID) -> str:
    """The same for every attempt to deliver one activity."""
    return str(uuid.uuid5(_DELIVERY_NS, f"{tenant_id}:{activity_id}"))


@dataclass(frozen=True)
class Job:
    tenant_id: uuid.UUID
    activity_id: uuid.UUID
    protocol_type: str
    url: str | None
    api_key: str | None
    body: bytes
    lease_token: uuid.UUID  # the attempt's hold on the activity: sent and recorded only under it
    error: DeliveryError | None = None  # found while preparing (unreadable credentials): no call
    # The config's signing secrets, decrypted (app.outbound.signing.config_keys); none: sent unsigned
    # (a config from before signing secrets, until it is rotated).
    signing_keys: tuple[SigningKey, ...] = ()


class Outcome(msgspec.Struct, frozen=True):
    """DISPATCHED, RETRY (a failed attempt, more to come), FAILED (the last failed), UNRESOLVED (the
    ON_DISPATCH resolution failed), SKIPPED (nothing to do: not READY, no config, in flight), or, for
    manual dispatch only, IN_FLIGHT (another attempt holds the lease; ``attempts`` counted so far)."""

    status: str
    error: DeliveryError | None = None
    attempts: int = 0


async def prepare(
    tx: Tx,
    services: Services,
    activity_id: uuid.UUID,
    *,
    manual: bool,
    claimed: uuid.UUID | None = None,
    answers: HookAnswers | None = None,
) -> Job | Outcome:
    """Step 1, in ``tx``. ``manual``: refuse what cannot be dispatched by hand with the
    documented errors, instead of skipping it. ``claimed``: the token of the caller's claim, which must
    still hold the activity (a lease that expired while the activity waited, then claimed by another
    dispatcher, is that one's to send). ON_DISPATCH hooks: HooksNeeded until their ``answers`` are given
    (``deliver`` asks them between two transactions)."""
    tenant_id = tx.tenant_id
    row = await repo.dispatch_target(tx, activity_id)
    if row is None:
        if manual:
            raise NotFound.of("Activity")
        return Outcome("SKIPPED")
    if manual:
        if row["type"] != "TASK":
            raise BadRequest("Only tasks are dispatched by hand (this activity is a MESSAGE)")
        if row["status"] == lifecycle.DISPATCHED:
            return Outcome("DISPATCHED")  # delivered already (by the dispatcher, say): nothing sent again
        if row["status"] != lifecycle.READY:
            raise BadRequest(f"Only READY tasks can be dispatched (this one is {row['status']})")
        if row["config_id"] is None:
            raise NotFound(f"No active dispatch config found for the activity's channel ({row['channel']})")
        if row["leased"]:
            return Outcome("IN_FLIGHT", attempts=row["dispatch_attempt_count"])
    else:
        held = row["lease_token"] == claimed if claimed is not None else not row["leased"]
        if row["status"] != lifecycle.READY or row["config_id"] is None or not held:
            return Outcome("SKIPPED")
    if not await resolve.resolve_for_dispatch(tx, activity_id, answers):
        return Outcome("UNRESOLVED")
    api_key, error = None, None
    if row["credentials"] is not None:
        if services.key_ring is None:
            error = DeliveryError("CREDENTIALS", "CREDENTIALS_KEYS is not configured")
        else:
            try:
                plaintext, _ = decrypt_credentials(
                    services.key_ring, row["credentials"], tenant_id, row["config_id"], row["base_url"]
                )
                api_key = msgspec.json.decode(plaintext).get("apiKey")
            except CredentialsError:
                error = DeliveryError(
                    "CREDENTIALS", "the config's credentials cannot be read; save them again"
                )
    signing_keys, signing_error = config_keys(services.key_ring, tenant_id, row)
    token = claimed or uuid.uuid4()
    await repo.take_lease(tx, activity_id, lease_s=services.settings.dispatch_lease_s, token=token)
    return Job(
        tenant_id=tenant_id,
        activity_id=activity_id,
        protocol_type=row["protocol_type"],
        url=row["base_url"],
        api_key=api_key,
        body=await repo.payload(tx, activity_id),
        lease_token=token,
        error=error or signing_error,
        signing_keys=signing_keys,
    )


async def call(client: GuardedClient, job: Job, *, now: float | None = None) -> str | None:
    """Step 2, outside any transaction: the provider's id for the activity, or DeliveryError. Signed as
    Standard Webhooks does (``webhook-id`` is the delivery id, the same on every attempt; the timestamp
    is this attempt's, ``now`` or the clock; a secret rotated out signs beside the new one until its
    overlap ends)."""
    if job.error is not None:
        raise job.error
    if job.protocol_type == "MOCK":
        return str(uuid.uuid4())
    msg_id = delivery_id(job.tenant_id, job.activity_id)
    headers = {"x-reten-delivery-id": msg_id}
    if job.api_key is not None:
        headers["x-api-key"] = job.api_key
    moment = time.time() if now is None else now
    if secrets := active(job.signing_keys, moment):
        headers.update(sign_headers(secrets, msg_id, job.body, moment))
    response = await client.post_json(f"{job.url}/activities", job.body, headers)
    found = response.json()
    provider_id = found.get("id") if isinstance(found, dict) else None
    return str(provider_id)[:255] if provider_id not in (None, "") else None


def _retry_at(backoff_s: list[float], attempts: int) -> datetime:
    """When attempt ``attempts + 1`` may go: the configured wait, +-20 % jitter (so a provider that was
    down is not hit by every activity at the same instant when it comes back)."""
    base = backoff_s[min(attempts, len(backoff_s)) - 1] if backoff_s else 0.0
    return datetime.now(UTC) + timedelta(seconds=base * random.uniform(0.8, 1.2))  # noqa: S311 - jitter


async def record(
    tx: Tx, services: Services, job: Job, provider_id: str | None, error: DeliveryError | None
) -> Outcome:
    """Step 3, in ``tx`` (the job's tenant's)."""
    row = await repo.dispatch_target(tx, job.activity_id)
    if row is not None and row["lease_token"] != job.lease_token:
        # The lease ran out during the call and another attempt holds it now: that one records.
        log.warning("dispatch_lease_lost", extra={"activity_id": str(job.activity_id)})
        return Outcome("SKIPPED", error)
    if row is None or row["status"] != lifecycle.READY:  # canceled (or answered) while the call was out
        if row is not None:
            await repo.release_lease(tx, job.activity_id, token=job.lease_token)
        return Outcome("SKIPPED", error)
    activity = ActivityRef(id=row["id"], status=row["status"])
    if error is None:
        attempt = DispatchAttempt(provider_activity_id=provider_id)
        await lifecycle.move(tx, activity, lifecycle.DISPATCHED, "DISPATCH_SUCCESS", attempt=attempt)
        return Outcome("DISPATCHED")
    attempts = row["dispatch_attempt_count"] + 1
    last = attempts >= MAX_ATTEMPTS
    await lifecycle.move(
        tx,
        activity,
        lifecycle.FAILED if last else lifecycle.READY,
        "DISPATCH_FAILED",
        error_code=error.code,
        error_message=f"attempt {attempts} of {MAX_ATTEMPTS}: {error}",
        attempt=DispatchAttempt(
            retry_at=None if last else _retry_at(services.settings.dispatch_backoff_s, attempts)
        ),
    )
    return Outcome("FAILED" if last else "RETRY", error)


async def deliver(
    transactions: Transactions,
    services: Services,
    client: GuardedClient,
    activity_id: uuid.UUID,
    *,
    manual: bool = False,
    claimed: uuid.UUID | None = None,
) -> Outcome:
    """One attempt, start to end, in the transactions ``transactions`` opens (one tenant's: the
    dispatcher's ``tenant_transaction``, or the request's). ``claimed``: the token of the dispatcher's
    claim. Hooks and the provider are called with no connection held."""

    async def prepared(answers: HookAnswers | None) -> Job | Outcome:
        async with transactions() as tx:
            return await prepare(tx, services, activity_id, manual=manual, claimed=claimed, answers=answers)

    job = await services.hook_caller().around(prepared)
    if isinstance(job, Outcome):
        return job
    provider_id, error = None, None
    try:
        provider_id = await call(client, job)
    except DeliveryError as exc:
        error = exc
    except Exception as exc:  # any failure of an attempt is recorded, never lost (the lease would linger)
        log.exception("dispatch_call_crashed", extra={"activity_id": str(activity_id)})
        error = DeliveryError("INTERNAL", f"the attempt failed unexpectedly ({type(exc).__name__})")
    async with transactions() as tx:
        return await record(tx, services, job, provider_id, error)


# How often manual dispatch looks at an attempt in flight, and how long past the provider timeout it waits
# for one (the attempt's own call is bounded by the guarded client's timeout).
IN_FLIGHT_POLL_S = 0.05
IN_FLIGHT_GRACE_S = 5.0


async def dispatch_now(transactions: Transactions, services: Services, activity_id: uuid.UUID) -> None:
    """Manual dispatch (CONTRACT.md §8, revised), an answer that does not depend on a race with the
    dispatcher: READY and not in flight -> one attempt now; an attempt already in flight -> wait for it
    (no connection held while waiting) and answer its outcome; already DISPATCHED -> success, nothing sent
    again. Success returns nothing; a failed attempt is 502 with its errorCode."""
    deadline = time.monotonic() + (TIMEOUT.total or 0.0) + IN_FLIGHT_GRACE_S
    async with services.outbound_client() as client:
        while True:
            outcome = await deliver(transactions, services, client, activity_id, manual=True)
            if outcome.status != "IN_FLIGHT":
                break
            outcome = await _await_in_flight(transactions, activity_id, outcome.attempts, deadline)
            if outcome.status != "RELEASED":
                break
            # the lease ended with no attempt recorded (a stopped dispatcher let it go): try it here
    if outcome.status == "DISPATCHED":
        return
    if outcome.status in ("RETRY", "FAILED"):
        assert outcome.error is not None
        counted = "the task is now FAILED" if outcome.status == "FAILED" else "the attempt was counted"
        raise BadGateway(
            f"The provider failed ({outcome.error}); {counted}", extra={"errorCode": outcome.error.code}
        )
    if outcome.status == "UNRESOLVED":
        raise BadRequest(
            "The task's targets or attributes could not be resolved for dispatch; it is now UNRESOLVED"
        )
    if outcome.status == "IN_FLIGHT":
        raise Conflict("A delivery of this task is still in flight; retry shortly")
    raise Conflict("The task changed while it was being dispatched")


async def _await_in_flight(
    transactions: Transactions, activity_id: uuid.UUID, attempts: int, deadline: float
) -> Outcome:
    """Wait until the attempt holding the lease ends (or ``deadline``): DISPATCHED, RETRY / FAILED with
    the error it recorded, RELEASED (the lease ended without an attempt: the caller tries), another
    status (the caller's next try answers it), or IN_FLIGHT at the deadline."""
    while time.monotonic() < deadline:
        await asyncio.sleep(IN_FLIGHT_POLL_S)
        async with transactions() as tx:
            state = await repo.dispatch_state(tx, activity_id)
        if state is None or state["status"] == lifecycle.DISPATCHED:
            return Outcome("DISPATCHED" if state is not None else "RELEASED")
        if state["dispatch_attempt_count"] > attempts:
            error = DeliveryError(state["error_code"] or "UNKNOWN", _attempt_message(state["error_message"]))
            return Outcome("FAILED" if state["status"] == lifecycle.FAILED else "RETRY", error)
        if not state["leased"]:
            return Outcome("RELEASED")
    return Outcome("IN_FLIGHT", attempts=attempts)


def _attempt_message(recorded: str | None) -> str:
    """The recorded event says "attempt n of 3: <error>"; the answer says the error."""
    return (recorded or "the attempt failed").partition(": ")[2] or (recorded or "the attempt failed")
