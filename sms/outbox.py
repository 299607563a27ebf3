"""Outbound SMS records in Redis and their queueing as RQ jobs.

A record holds a recipient ref, never a number. ``Outbox.enqueue`` creates the record, its
idempotency key and its place in a job in one Redis transaction, so a message exists with a job
to send it or not at all; the same idempotency key again answers the first message's id.

A message gets its own RQ job, unless the last job queued has not been started by a worker yet
(``sms:open`` names it): then the message joins that job's batch list, up to ``batch_max``
messages a job. A job closes its batch when it starts (``take_batch``, atomic with the joins),
so a message either joins a job that will read it or gets its own. Idle workers start each job
at once and every message goes alone; under a backlog the jobs fill up and RQ's own cost per job
(~25 Redis round trips) is shared. A job that starts with room left also takes the send jobs
waiting right behind it in the queue (``claim_ready``: each job's id and hash go, its messages
join the batch list, in one script), so one-message jobs that queued up share that cost too.

Every state change goes through one Lua script that checks the state machine (``sms.state``)
and, when given, the attempt token of the worker that owns the send.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

import redis
import redis.asyncio as aioredis
from redis.client import Pipeline
from rq import Queue, Retry
from rq.job import Job

from core import lua
from core.config import SmsSettings
from core.keys import Keys
from sms.recipients import StoreNumber
from sms.segments import MAX_CHARS, segment_count
from sms.state import MessageState, sources

logger = logging.getLogger(__name__)

JOB = "workers.sms.send_message"
#: Seconds a queued job keeps taking further messages into its batch if no worker starts it
#: (bounds what a job lost from the queue would take with it).
OPEN_BATCH_SECONDS = 60

#: Scripts in ``sms/lua/`` (their keys and arguments are documented there).
TRANSITION: Final = lua.source("sms", "transition")
TAKE_BATCH: Final = lua.source("sms", "take_batch")
CLAIM_READY: Final = lua.source("sms", "claim_ready")


class BodyTooLong(ValueError):
    """A body over ``MAX_CHARS`` characters (Twilio would refuse it: error 21617)."""


@dataclass(frozen=True)
class MessageRecord:
    """One outbound SMS as stored (the recipient is a ref; there is no number to hide)."""

    id: str
    state: MessageState
    to_ref: str
    from_: str
    body: str
    segments: int
    kind: str
    language: str
    created_at: float
    attempt: str = ""
    claimed_at: float = 0.0
    lease_until: float = 0.0
    slot_at: float = 0.0
    sid: str = ""
    error_code: int = 0
    reason: str = ""
    #: What the message is about, e.g. ``request:{id}`` or ``conversation:{id}``.
    subject: str = ""

    @classmethod
    def from_hash(cls, raw: Mapping[str, str]) -> MessageRecord:
        """Parse a record read with HGETALL."""
        return cls(
            id=raw["id"],
            state=MessageState(raw["state"]),
            to_ref=raw["to_ref"],
            from_=raw["from"],
            body=raw["body"],
            segments=int(raw["segments"]),
            kind=raw["kind"],
            language=raw["language"],
            created_at=float(raw["created_at"]),
            attempt=raw.get("attempt", ""),
            claimed_at=float(raw.get("claimed_at", 0)),
            lease_until=float(raw.get("lease_until", 0)),
            slot_at=float(raw.get("slot_at", 0)),
            sid=raw.get("sid", ""),
            error_code=int(raw.get("error_code", 0)),
            reason=raw.get("reason", ""),
            subject=raw.get("subject", ""),
        )


@dataclass(frozen=True)
class Transition:
    """A state change to request: the script's keys and arguments."""

    keys: list[str]
    args: list[Any]

    @classmethod
    def build(
        cls,
        keys: Keys,
        message_id: str,
        target: MessageState,
        *,
        ttl: int,
        attempt: str = "",
        sid: str = "",
        fields: Mapping[str, str | int | float] | None = None,
        now: float | None = None,
    ) -> Transition:
        """A transition of ``message_id`` to ``target``, conditional on ``attempt`` if given;
        ``sid`` is also stored and mapped back to the message."""
        pairs: list[Any] = []
        for name, value in {**(fields or {}), **({"sid": sid} if sid else {})}.items():
            pairs += [name, value]
        script_keys = [keys.sms_message(message_id), keys.sms_failed]
        if sid:
            script_keys.append(keys.sms_sid(sid))
        allowed = " ".join(sorted(sources(target)))
        stamp = time.time() if now is None else now
        return cls(script_keys, [allowed, attempt, target, stamp, message_id, ttl, *pairs])


async def apply(client: aioredis.Redis, transition: Transition) -> bool:
    """Run ``transition`` against Redis; True if the state changed."""
    script = client.register_script(TRANSITION)
    result = await script(keys=transition.keys, args=transition.args)
    return bool(result[0])


async def take_batch(client: aioredis.Redis, keys: Keys, message_id: str) -> list[str]:
    """The other messages the job of ``message_id`` carries; none can join them after this."""
    script = client.register_script(TAKE_BATCH)
    ids = await script(keys=[keys.sms_open_batch, keys.sms_batch(message_id)], args=[message_id])
    return [str(other) for other in ids]


async def claim_ready(
    client: aioredis.Redis,
    keys: Keys,
    queue: Queue,
    message_id: str,
    *,
    jobs: int,
    settings: SmsSettings,
) -> list[str]:
    """Take up to ``jobs`` send jobs waiting at the head of ``queue`` (those that never failed,
    with the messages batched behind them) into the batch of ``message_id``'s job, atomically;
    their messages."""
    script = client.register_script(CLAIM_READY)
    ids = await script(
        keys=[queue.key, keys.sms_batch(message_id), keys.sms_open_batch],
        args=[
            Job.redis_job_namespace_prefix,
            job_id(""),
            jobs,
            settings.max_retries,
            keys.sms_batch(""),
            settings.retention_seconds,
        ],
    )
    return [str(other) for other in ids]


async def load_message(client: aioredis.Redis, keys: Keys, message_id: str) -> MessageRecord | None:
    """The record of ``message_id``, or None if there is none (or it expired)."""
    raw = cast(dict[str, str], await client.hgetall(keys.sms_message(message_id)))
    return MessageRecord.from_hash(raw) if raw else None


async def failed_messages(
    client: aioredis.Redis, keys: Keys, limit: int = 100
) -> list[MessageRecord]:
    """The most recent failed or undelivered messages, newest first."""
    ids = cast(list[str], await client.zrevrange(keys.sms_failed, 0, limit - 1))
    records = [await load_message(client, keys, message_id) for message_id in ids]
    return [record for record in records if record is not None]


def backoff_intervals(
    retries: int, base: int, cap: int, rng: random.Random | None = None
) -> list[int]:
    """RQ retry intervals: exponential from ``base`` seconds up to ``cap``, each jittered into
    the upper half of its step so that retries of many messages spread out."""
    pick = rng or random.Random()
    steps = (min(cap, base * 2**i) for i in range(retries))
    return [math.ceil(step / 2 + pick.uniform(0, step / 2)) for step in steps]


def job_id(message_id: str) -> str:
    """The RQ job id of the job that sends ``message_id`` (first, or alone)."""
    return f"sms-{message_id}"


def job_timeout(settings: SmsSettings) -> int:
    """RQ's timeout for a send job: its own message (a lookup and a send), further messages for
    up to one provider timeout, then the last one's lookup and send."""
    return math.ceil(settings.provider_timeout * 5)


class Outbox:
    """Queues outbound SMS: one record per idempotency key, sent by its own RQ job or, while
    that job waits for a worker, by the job queued before it."""

    def __init__(
        self, queue: Queue, keys: Keys, settings: SmsSettings, store_number: StoreNumber
    ) -> None:
        self.queue = queue
        self.keys = keys
        self.settings = settings
        self.store_number = store_number

    async def enqueue(
        self, to: str, from_: str, body: str, *, idempotency_key: str, kind: str, language: str
    ) -> str:
        """Queue ``body`` for ``to`` (E.164; stored in the vault, kept here as its ref)."""
        return await self.enqueue_ref(
            await self.store_number(to, language),
            from_,
            body,
            idempotency_key=idempotency_key,
            kind=kind,
            language=language,
        )

    async def enqueue_ref(
        self,
        to_ref: str,
        from_: str,
        body: str,
        *,
        idempotency_key: str,
        kind: str,
        language: str,
        subject: str = "",
    ) -> str:
        """Queue ``body`` for the recipient whose vault ref is ``to_ref``; the message id (the
        first one's if ``idempotency_key`` was used before). RQ is synchronous: the transaction
        runs on a thread. Raises :class:`BodyTooLong` past ``MAX_CHARS`` characters."""
        if len(body) > MAX_CHARS:
            raise BodyTooLong(f"{len(body)} characters, at most {MAX_CHARS}")
        message_id = uuid.uuid4().hex
        record: dict[Any, str | int | float] = {
            "id": message_id,
            "state": MessageState.QUEUED.value,
            "to_ref": to_ref,
            "from": from_,
            "body": body,
            "segments": segment_count(body),
            "kind": kind,
            "language": language,
            "created_at": time.time(),
            "subject": subject,
        }
        queued = await asyncio.to_thread(self._queue, idempotency_key, record)
        if queued == message_id:
            logger.info("sms %s: queued kind=%s segments=%s", message_id, kind, record["segments"])
        return queued

    def _queue(self, idempotency_key: str, record: Mapping[Any, str | int | float]) -> str:
        """Store ``record`` with its idempotency key and its place in a job, in one transaction;
        the id of the message stored under the key (``record``'s unless one was already)."""
        conn: redis.Redis = self.queue.connection
        idem = self.keys.sms_idempotency(idempotency_key)
        message_id = str(record["id"])
        ttl = self.settings.retention_seconds
        with conn.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(idem, self.keys.sms_open_batch)  # type: ignore[no-untyped-call]
                    existing = pipe.get(idem)
                    if existing is not None:
                        return _text(existing)
                    head = self._open_batch(pipe)
                    pipe.multi()
                    pipe.set(idem, message_id, ex=ttl)
                    pipe.hset(self.keys.sms_message(message_id), mapping=dict(record))
                    pipe.expire(self.keys.sms_message(message_id), ttl)
                    if head is None:
                        self._new_job(message_id, pipe)
                    else:
                        pipe.rpush(self.keys.sms_batch(head), message_id)
                        pipe.expire(self.keys.sms_batch(head), ttl)
                    pipe.execute()
                    return message_id
                except redis.WatchError:
                    continue

    def _open_batch(self, pipe: Pipeline) -> str | None:
        """The message whose queued job can take one more message, if any (read under WATCH)."""
        if self.settings.batch_max <= 1:
            return None
        head = pipe.get(self.keys.sms_open_batch)
        if head is None:
            return None
        head_id = _text(head)
        taken: int = pipe.llen(self.keys.sms_batch(head_id))
        return head_id if taken + 1 < self.settings.batch_max else None

    def _new_job(self, message_id: str, pipe: Pipeline) -> None:
        """Queue the job of ``message_id`` in ``pipe``; it takes the messages queued after it
        until a worker starts it (or for ``OPEN_BATCH_SECONDS`` at most)."""
        sms = self.settings
        retry = Retry(
            max=sms.max_retries,
            interval=backoff_intervals(
                sms.max_retries, sms.retry_base_seconds, sms.retry_cap_seconds
            ),
        )
        if sms.batch_max > 1:
            pipe.set(self.keys.sms_open_batch, message_id, ex=OPEN_BATCH_SECONDS)
        self.queue.enqueue_call(
            JOB,
            args=(message_id,),
            job_id=job_id(message_id),
            description=f"sms {message_id}",
            timeout=job_timeout(sms),
            result_ttl=0,
            retry=retry,
            pipeline=pipe,
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
