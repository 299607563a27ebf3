"""The RQ side of outbound SMS: the ``send_message`` job and the worker that runs it.

Records name recipients by vault ref; the job resolves each with the number vault
(``Vault.reveal_for_delivery``) only to hand the number to the provider, and fails the message
("recipient-gone") if retention purged the entry.

One async path: RQ calls jobs synchronously, so each worker process keeps one event loop on a
thread of its own (:class:`WorkerLoop`) for its lifetime, and a job hands its whole run to it as
one coroutine. The clients (Redis, the vault, the provider's HTTP or ARI session) are built once
per worker (:class:`SmsRuntime`) and live on that loop.

Exactly once: a send first claims the message (``queued → sending``) with a fresh attempt token
and a lease, atomically. Only the holder of the token may record the outcome. A job that finds
``sending`` under a live lease (a duplicated job, a retry racing a slow attempt) checks again
after the lease; one that finds it expired (the worker died between the provider's answer and
the write, or the answer never came) asks the provider whether the message went out, adopts its
sid if so, and only otherwise takes the message over with a new token and sends it.

Batches: a job also sends the messages queued behind it while it waited for a worker (its batch
list), and those of the send jobs waiting right behind it in the queue, which it takes over when
it starts (``claim_ready``, see ``sms.outbox``), so a backlog pays RQ's per-job cost once per
batch. Each goes through the same claim, so whichever job runs it, it is sent once. The list is
read when the job starts and deleted only after every message in it was sent, failed or handed
to its own job: if the worker dies mid-batch, RQ retries the abandoned job and it goes through
the list again.
Messages are taken for one provider timeout at most; the rest get their own jobs.

A worker killed mid-job (``kill -9``) has its job retried within half a minute, by RQ's own
means configured for it: the worker sends RQ's heartbeats every ``HEARTBEAT_SECONDS`` while a job
runs (RQ's ``SimpleWorker`` sends none, so its jobs are only found abandoned after their
timeout plus a minute), an execution without a heartbeat for ``HEARTBEAT_TTL`` seconds counts as
abandoned, and every worker runs RQ's maintenance pass (which retries abandoned jobs) every
``MAINTENANCE_SECONDS`` instead of every ten minutes (an idle worker also waits for jobs that
long at a time: RQ's ``worker_ttl`` less 15 s, not its default 405 s, as it maintains only
between waits). RQ's scheduler runs in a forked child
that dies with the worker.

Retries: the job's own message raises retryable provider errors, and RQ retries the job with the
jittered backoff given at enqueue time; a batched message that fails that way gets its own job,
due after the first backoff step and retried after the others, and the rest of the batch waits
that step too (the provider is refusing). Permanent errors fail the message with the provider's
code. A message the rate limit or a lease holds back is rescheduled (its own job returns an RQ
``Retry``; a batched one gets its own delayed job); the worker never sleeps.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

import redis.asyncio as aioredis
from redis.client import PubSubWorkerThread
from rq import Queue, Retry, SimpleWorker, get_current_job
from rq.exceptions import DuplicateJobError
from rq.job import Job
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from core import redisconn
from core.config import RecordsSettings, Settings, SmsSettings
from core.keys import Keys
from core.ports import DropChat, ForgetDonors
from core.privacy import NotInVault, Vault, number_token
from records.database import connect, upgrade
from sms.outbox import (
    JOB,
    MessageRecord,
    Transition,
    apply,
    backoff_intervals,
    claim_ready,
    job_id,
    job_timeout,
    load_message,
    take_batch,
)
from sms.provider import ProviderError, SmsProvider, TwilioProvider
from sms.ratelimit import TokenBucket
from sms.recipients import GONE, OPTED_OUT, Refusal, ResolveNumber, number_refusal, sender_key
from sms.sip_provider import SipProvider
from sms.state import MessageState

logger = logging.getLogger(__name__)

#: Seconds a claim outlives the provider timeout before another job may take the message over.
LEASE_MARGIN = 5.0
#: Seconds subtracted from the claim time when asking the provider what was sent.
CLOCK_SKEW = 120.0
#: How often one job may be rescheduled by the rate limit or a lease.
MAX_RESCHEDULES = 1000
#: Seconds between RQ heartbeats while a job runs.
HEARTBEAT_SECONDS = 5
#: Seconds without a heartbeat after which RQ's maintenance takes a running job as abandoned.
HEARTBEAT_TTL = 3 * HEARTBEAT_SECONDS
#: Seconds between a worker's maintenance passes (RQ's default: 600).
MAINTENANCE_SECONDS = 10

T = TypeVar("T")

_current: contextvars.ContextVar[SmsWorker] = contextvars.ContextVar("sms_worker")


@dataclass(frozen=True)
class SmsDeps:
    """What a send (and the retention job) needs, built once per worker process. ``vault`` is
    None only when a stand-in ``resolve`` replaces it."""

    redis: aioredis.Redis
    keys: Keys
    settings: SmsSettings
    provider: SmsProvider
    resolve: ResolveNumber
    bucket: TokenBucket
    #: The SMS queue (on RQ's synchronous client) for messages handed on.
    queue: Queue
    hash_key: bytes = field(repr=False)
    #: Frees a purged conversation's chat task (the ACD's ``acd.chat.drop``).
    drop_chat: DropChat
    vault: Vault | None = None
    vault_retention: timedelta = timedelta(days=90)
    clock: Callable[[], float] = time.time
    #: The records store, for the retention purge of its tables (None: the purge leaves it).
    records: AsyncEngine | None = None
    records_settings: RecordsSettings = field(default_factory=RecordsSettings)
    #: Clears pledges' donors past retention (``pledges.retention.forget_donors``; None: the
    #: purge leaves the pledges).
    forget_donors: ForgetDonors | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        redis: aioredis.Redis,
        queue: Queue,
        drop_chat: DropChat,
        resolve: ResolveNumber | None = None,
        forget_donors: ForgetDonors | None = None,
    ) -> SmsDeps:
        """The provider, the sender's bucket and the number vault (unless ``resolve`` stands in
        for it) on the clients given."""
        vault = None
        if resolve is None:
            vault = Vault(
                redis,
                Keys(settings.redis.prefix),
                hash_key=settings.secrets.hash_key,
                fernet_keys=settings.secrets.vault_keys,
                default_region=settings.privacy.default_region,
            )
            resolve = vault.reveal_for_delivery
        sms = settings.sms
        rate, burst = sms.rate_limit
        provider: SmsProvider = (
            SipProvider.from_settings(settings)
            if sms.provider == "sip"
            else TwilioProvider(
                settings.secrets.twilio_account_sid,
                settings.secrets.twilio_auth_token,
                sms.twilio_base_url or None,
                timeout=sms.provider_timeout,
            )
        )
        return cls(
            redis=redis,
            keys=Keys(settings.redis.prefix),
            settings=sms,
            provider=provider,
            resolve=resolve,
            bucket=TokenBucket(redis, rate, burst),
            queue=queue,
            hash_key=settings.secrets.hash_key,
            drop_chat=drop_chat,
            vault=vault,
            vault_retention=timedelta(days=settings.privacy.retention_days),
            records=connect(settings.records, settings.secrets.records_password),
            records_settings=settings.records,
            forget_donors=forget_donors,
        )


class WorkerLoop:
    """One event loop on a daemon thread for a worker's lifetime; :meth:`run` runs a coroutine
    on it from the worker's (synchronous) thread, whether or not that thread runs a loop."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sms", daemon=True)
        self._thread.start()

    def run(
        self,
        coro: Coroutine[Any, Any, T],
        *,
        tick: Callable[[], None] | None = None,
        every: float = HEARTBEAT_SECONDS,
    ) -> T:
        """Run ``coro`` on the loop and wait for its result, calling ``tick`` (if given) every
        ``every`` seconds meanwhile."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        while True:
            try:
                return future.result(timeout=None if tick is None else every)
            except concurrent.futures.TimeoutError:
                assert tick is not None
                tick()

    def close(self) -> None:
        """Stop the loop and its thread."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


class SmsRuntime:
    """The clients of one worker process, built once: RQ's Redis client and the SMS queue, the
    asyncio Redis client, the loop they run on and the sends' dependencies."""

    def __init__(
        self,
        settings: Settings,
        resolve: ResolveNumber | None = None,
        *,
        drop_chat: DropChat,
        forget_donors: ForgetDonors | None = None,
    ) -> None:
        self.loop = WorkerLoop()
        self.rq = redisconn.connect_rq(settings.redis)
        self.redis = redisconn.connect(settings.redis, max_connections=8)
        queue = Queue(settings.sms.rq_queue, connection=self.rq)
        self.deps = SmsDeps.build(
            settings,
            redis=self.redis,
            queue=queue,
            drop_chat=drop_chat,
            resolve=resolve,
            forget_donors=forget_donors,
        )

    def worker(self, deps: SmsDeps | None = None) -> SmsWorker:
        """A worker on the SMS queue (``deps`` replacing the runtime's, e.g. for another
        clock)."""
        deps = deps or self.deps
        return SmsWorker(
            [deps.queue],
            connection=self.rq,
            deps=deps,
            loop=self.loop,
            maintenance_interval=MAINTENANCE_SECONDS,
            worker_ttl=MAINTENANCE_SECONDS + 15,
        )

    def migrate_records(self) -> bool:
        """Bring the records schema up to date, as the app does at start; False (with a
        warning) if the database is away: sends do not need it, and the purge tries again."""
        if self.deps.records is None:
            return False
        try:
            self.loop.run(upgrade(self.deps.records))
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("records: database unreachable (%s); not migrated", exc)
            return False
        return True

    def close(self) -> None:
        """Close the provider and the clients, then the loop."""
        self.loop.run(self.deps.provider.close())
        if self.deps.records is not None:
            self.loop.run(self.deps.records.dispose())
        self.loop.run(self.redis.aclose())
        self.loop.close()
        self.rq.close()


class SmsWorker(SimpleWorker):
    """An RQ worker that runs jobs in its own process, with the SMS dependencies and the loop
    they run on at hand."""

    def __init__(self, *args: Any, deps: SmsDeps, loop: WorkerLoop, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deps = deps
        self.loop = loop

    def unsubscribe(self) -> None:
        """RQ's, with the listener told to stop before the UNSUBSCRIBE it is waiting for: in
        the other order it may take that answer, then wait 60 s for the next message."""
        listener = cast(PubSubWorkerThread | None, self.pubsub_thread)
        if listener is not None:
            listener.stop(timeout=0)
        super().unsubscribe()  # type: ignore[no-untyped-call]

    def execute_job(self, job: Job, queue: Queue) -> None:
        token = _current.set(self)
        try:
            super().execute_job(job, queue)
        finally:
            _current.reset(token)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """How long the current job counts as running without a heartbeat (see :meth:`run`)."""
        return HEARTBEAT_TTL

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run the current job's ``coro`` on the worker's loop, sending RQ's heartbeats for the
        job meanwhile."""
        job, execution = get_current_job(), self.execution
        if job is None or execution is None:
            return self.loop.run(coro)
        return self.loop.run(coro, tick=lambda: self.maintain_heartbeats(job, execution))


def current_worker() -> SmsWorker:
    """The worker running the current job."""
    return _current.get()


def send_message(message_id: str) -> Retry | None:
    """RQ job: send ``message_id``, then the messages batched behind it (see the module
    docstring)."""
    job = get_current_job()
    retries_left = (job.retries_left or 0) if job is not None else 0
    worker = current_worker()
    return worker.run(Batch(worker.deps).run(message_id, retries_left))


@dataclass(frozen=True)
class Batch:
    """One job's messages: its own, then those queued behind it while it waited."""

    deps: SmsDeps

    async def run(self, message_id: str, retries_left: int) -> Retry | None:
        """Send them all once; a message that must wait or be retried gets its own job, except
        the job's own message, which RQ reschedules (the returned Retry) or retries (the error
        raised again once the others are handed on)."""
        d = self.deps
        others = await take_batch(d.redis, d.keys, message_id)
        room = d.settings.batch_max - 1 - len(others)
        if room > 0:
            others += await claim_ready(
                d.redis, d.keys, d.queue, message_id, jobs=room, settings=d.settings
            )
        deadline = time.monotonic() + d.settings.provider_timeout
        sender = Sender(d)
        wait: float | None = None
        failure: Exception | None = None
        try:
            wait = await sender.run(message_id, retries_left)
        except Exception as exc:
            failure = exc
        backing_off = isinstance(failure, ProviderError)
        for other in others:
            steps = self._backoff()
            if backing_off or time.monotonic() > deadline:
                await self._defer(other, steps[0] if backing_off and steps else 0, steps)
                continue
            try:
                later = await sender.run(other, len(steps))
            except ProviderError:
                backing_off = True
                await self._defer(other, steps[0], steps[1:])
                continue
            except Exception:
                logger.exception("sms %s: failed in a batch; queued on its own", other)
                await self._defer(other, 0, steps)
                continue
            if later is not None:
                await self._defer(other, later, steps)
        if others:
            await d.redis.delete(d.keys.sms_batch(message_id))
        if failure is not None:
            raise failure
        return None if wait is None else _later(wait)

    def _backoff(self) -> list[int]:
        """A fresh message's retry intervals, jittered."""
        sms = self.deps.settings
        return backoff_intervals(sms.max_retries, sms.retry_base_seconds, sms.retry_cap_seconds)

    async def _defer(self, message_id: str, seconds: float, retries: list[int]) -> None:
        """Give ``message_id`` its own job, due in ``seconds`` and retried after ``retries``
        (unless it has one already: a crashed batch's rerun hands its messages on again)."""
        d = self.deps
        options: dict[str, Any] = {
            "job_id": job_id(message_id),
            "description": f"sms {message_id}",
            "args": (message_id,),
            "job_timeout": job_timeout(d.settings),
            "result_ttl": 0,
            "retry": Retry(max=len(retries), interval=retries) if retries else None,
            "unique": True,
        }
        try:
            if seconds > 0:
                delay = timedelta(seconds=max(1, math.ceil(seconds)))
                await asyncio.to_thread(lambda: d.queue.enqueue_in(delay, JOB, **options))
            else:
                await asyncio.to_thread(lambda: d.queue.enqueue(JOB, **options))
        except DuplicateJobError:
            logger.info("sms %s: has its own job already", message_id)


@dataclass(frozen=True)
class Sender:
    """One attempt at sending one message."""

    deps: SmsDeps

    async def run(self, message_id: str, retries_left: int) -> float | None:
        """Advance the message; the seconds after which to try it again, if it must wait.
        Raises the provider's retryable error (the message is ready for a retry)."""
        record = await load_message(self.deps.redis, self.deps.keys, message_id)
        if record is None:
            logger.warning("sms %s: no such message", message_id)
            return None
        now = self.deps.clock()
        if record.state is MessageState.QUEUED:
            return await self._from_queued(record, now, retries_left)
        if record.state is MessageState.SENDING:
            if record.lease_until > now:
                logger.info("sms %s: another attempt holds it, checking later", message_id)
                return record.lease_until - now
            return await self._recover(record, now, retries_left)
        logger.info("sms %s: already %s", message_id, record.state)
        return None

    async def _from_queued(
        self, record: MessageRecord, now: float, retries_left: int
    ) -> float | None:
        d = self.deps
        number = await self._resolve(record)
        if number is None:
            return None
        refusal = number_refusal(number) or await self._opt_out(number)
        if refusal is not None:
            await self._fail(record, refusal.code, refusal.reason)
            logger.info(
                "sms %s: refused for %s: %s",
                record.id,
                number_token(number, d.hash_key),
                refusal.reason,
            )
            return None
        if not record.slot_at:
            wait = await d.bucket.take(d.keys.sms_bucket(record.from_), record.segments)
            if wait > 0:
                await d.redis.hset(d.keys.sms_message(record.id), "slot_at", now + wait)
                logger.debug("sms %s: rate limited for %.3f s", record.id, wait)
                return wait
        elif record.slot_at > now:
            return record.slot_at - now
        attempt = secrets.token_hex(8)
        claimed = await self._apply(
            record,
            MessageState.SENDING,
            fields={
                "attempt": attempt,
                "claimed_at": now,
                "lease_until": now + self._lease,
                "slot_at": 0,
            },
        )
        if not claimed:
            logger.info("sms %s: claimed by another job", record.id)
            return None
        await self._send(record, number, attempt, retries_left)
        return None

    async def _recover(self, record: MessageRecord, now: float, retries_left: int) -> float | None:
        """An earlier attempt left the message ``sending``: adopt its send or take it over."""
        d = self.deps
        number = await self._resolve(record)
        if number is None:
            return None
        since = datetime.fromtimestamp(record.claimed_at - CLOCK_SKEW, UTC)
        try:
            sids = await d.provider.find_sent(number, record.from_, since, record.body)
            sid = await self._first_unowned(record.id, sids)
        except ProviderError as exc:
            await self._provider_failed(record, record.attempt, exc, retries_left)
            return None
        if sid is not None:
            await self._apply(record, MessageState.SENT, attempt=record.attempt, sid=sid)
            logger.info("sms %s: an earlier attempt was sent as %s; adopted", record.id, sid)
            return None
        attempt = secrets.token_hex(8)
        taken = await self._apply(
            record,
            MessageState.SENDING,
            attempt=record.attempt,
            fields={"attempt": attempt, "lease_until": now + self._lease},
        )
        if not taken:
            return None
        logger.info("sms %s: an earlier attempt did not send; sending again", record.id)
        await self._send(record, number, attempt, retries_left)
        return None

    async def _send(
        self, record: MessageRecord, number: str, attempt: str, retries_left: int
    ) -> None:
        d = self.deps
        callback = f"{d.settings.public_base_url.rstrip('/')}/sms/twilio/status?m={record.id}"
        try:
            result = await d.provider.send(number, record.from_, record.body, callback)
        except ProviderError as exc:
            await self._provider_failed(record, attempt, exc, retries_left)
            return
        await self._apply(
            record,
            MessageState.SENT,
            attempt=attempt,
            sid=result.sid,
            fields={"provider_segments": result.segments},
        )
        logger.info(
            "sms %s: sent as %s to %s", record.id, result.sid, number_token(number, d.hash_key)
        )
        return

    async def _provider_failed(
        self, record: MessageRecord, attempt: str, exc: ProviderError, retries_left: int
    ) -> None:
        """Fail the message on a permanent error or the last attempt; otherwise raise for RQ
        to retry, leaving the message ``queued`` if Twilio surely did not take it, else
        ``sending`` with an expired lease, so that the retry asks Twilio first."""
        if not exc.retryable or retries_left <= 0:
            reason = "rejected" if not exc.retryable else "retries-exhausted"
            await self._fail(record, exc.code or exc.status or 0, reason, attempt)
            logger.warning("sms %s: failed: %s (%s)", record.id, reason, exc)
            return
        target = MessageState.SENDING if exc.may_have_been_sent else MessageState.QUEUED
        await self._apply(record, target, attempt=attempt, fields={"lease_until": 0})
        logger.warning("sms %s: %s; %s retries left", record.id, exc, retries_left)
        raise exc

    async def _resolve(self, record: MessageRecord) -> str | None:
        """The recipient's number, or None after failing the message if it left the vault."""
        try:
            return await self.deps.resolve(record.to_ref)
        except NotInVault:
            await self._fail(record, GONE.code, GONE.reason, record.attempt)
            logger.warning("sms %s: the recipient is no longer in the vault", record.id)
            return None

    async def _opt_out(self, number: str) -> Refusal | None:
        d = self.deps
        opted_out = await d.redis.sismember(d.keys.sms_optout, sender_key(number, d.hash_key))
        return OPTED_OUT if opted_out else None

    async def _fail(self, record: MessageRecord, code: int, reason: str, attempt: str = "") -> None:
        fields: dict[str, str | int | float] = {"error_code": code, "reason": reason}
        await self._apply(record, MessageState.FAILED, attempt=attempt, fields=fields)

    async def _apply(
        self,
        record: MessageRecord,
        target: MessageState,
        *,
        attempt: str = "",
        sid: str = "",
        fields: dict[str, str | int | float] | None = None,
    ) -> bool:
        d = self.deps
        transition = Transition.build(
            d.keys,
            record.id,
            target,
            ttl=d.settings.retention_seconds,
            attempt=attempt,
            sid=sid,
            fields=fields,
            now=d.clock(),
        )
        return await apply(d.redis, transition)

    async def _first_unowned(self, message_id: str, sids: list[str]) -> str | None:
        """The first of ``sids`` that no other message recorded as its own."""
        for sid in sids:
            owner = await self.deps.redis.get(self.deps.keys.sms_sid(sid))
            if owner is None or owner == message_id:
                return sid
        return None

    @property
    def _lease(self) -> float:
        return self.deps.settings.provider_timeout + LEASE_MARGIN


def _later(seconds: float) -> Retry:
    return Retry(max=MAX_RESCHEDULES, interval=max(1, math.ceil(seconds)))
