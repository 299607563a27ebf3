"""The retention purge: vault entries past ``privacy.retention_days`` (``Vault.purge``), and SMS
conversations, requests, failed-message index entries and every other copy of a message body
(``sms.content``) past ``sms.retention_seconds``; the daily job also deletes the records'
contacts, wrap-ups and queue history past their retention (``records.retention``).

``purge_expired`` is an RQ job run by the SMS worker (``hotline worker``); each run schedules
the next one a day later with ``enqueue_in``, under a job id naming that day, so however many
times it is scheduled (``hotline purge --schedule``, or two runs the same day) one run a day
remains. Records also carry Redis TTLs; the purge is what removes them on the retention
clock even when activity renewed a TTL elsewhere, and what frees the vault.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from rq import Queue, get_current_job
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from core import redisconn
from core.config import RecordsSettings, Settings
from core.keys import Keys
from core.ports import DropChat, ForgetDonors
from core.privacy import Vault
from records.database import upgrade
from records.retention import DAY_S, PurgedRecords, purge_records
from sms.content import purge_bodies
from sms.conversations import purge_conversations
from sms.requests import purge_requests
from workers.sms import current_worker

logger = logging.getLogger(__name__)

JOB = "workers.retention.purge_expired"
INTERVAL = timedelta(days=1)


@dataclass(frozen=True)
class Purged:
    """How many records one purge removed."""

    vault: int
    conversations: int
    requests: int
    failed_index: int
    bodies: int


async def purge(
    client: aioredis.Redis,
    vault: Vault,
    keys: Keys,
    *,
    drop_chat: DropChat,
    vault_retention: timedelta,
    content_retention: timedelta,
    now: datetime,
) -> Purged:
    """Remove what is past retention at ``now`` (a conversation's chat task with
    ``drop_chat``). ``client`` decodes responses."""
    cutoff = (now - content_retention).timestamp()
    purged = Purged(
        vault=await vault.purge(vault_retention, now),
        conversations=await purge_conversations(client, keys, cutoff, drop_chat),
        requests=await purge_requests(client, keys, cutoff),
        failed_index=int(await client.zremrangebyscore(keys.sms_failed, "-inf", f"({cutoff}")),
        bodies=await purge_bodies(client, keys, cutoff),
    )
    logger.info("retention purge: %s", purged)
    return purged


async def purge_records_daily(
    engine: AsyncEngine,
    settings: RecordsSettings,
    now: datetime,
    forget_donors: ForgetDonors | None = None,
) -> PurgedRecords | None:
    """The records' part of the daily purge (the schema brought up to date first), and the
    pledges' donors past retention if ``forget_donors`` is given; None, with a warning, if
    the database is away: tomorrow's run tries again."""
    try:
        await upgrade(engine)
        purged = await purge_records(engine, settings, now.timestamp())
        if forget_donors is not None:
            before = now.timestamp() - settings.pledge_details_days * DAY_S
            logger.info(
                "retention purge: %s pledge donor(s) forgotten", await forget_donors(engine, before)
            )
    except (SQLAlchemyError, OSError) as exc:
        logger.warning("retention purge: records database unreachable (%s); not purged", exc)
        return None
    logger.info("retention purge: %s", purged)
    return purged


def purge_now(settings: Settings, drop_chat: DropChat, now: datetime | None = None) -> Purged:
    """One purge with clients of its own (``hotline purge``)."""
    return asyncio.run(_purge_now(settings, drop_chat, now or datetime.now(UTC)))


async def _purge_now(settings: Settings, drop_chat: DropChat, now: datetime) -> Purged:
    client = redisconn.connect(settings.redis, max_connections=4)
    keys = Keys(settings.redis.prefix)
    vault = Vault(
        client,
        keys,
        hash_key=settings.secrets.hash_key,
        fernet_keys=settings.secrets.vault_keys,
        default_region=settings.privacy.default_region,
    )
    try:
        return await purge(
            client,
            vault,
            keys,
            drop_chat=drop_chat,
            vault_retention=timedelta(days=settings.privacy.retention_days),
            content_retention=timedelta(seconds=settings.sms.retention_seconds),
            now=now,
        )
    finally:
        await client.aclose()


def purge_expired() -> None:
    """RQ job: purge Redis and the records, then schedule tomorrow's run (on the SMS
    worker's dependencies)."""
    worker = current_worker()
    deps = worker.deps
    if deps.vault is None:
        raise RuntimeError("the retention purge needs the number vault, not a stand-in resolver")
    job = get_current_job()
    assert job is not None
    now = datetime.fromtimestamp(deps.clock(), UTC)
    worker.run(
        purge(
            deps.redis,
            deps.vault,
            deps.keys,
            drop_chat=deps.drop_chat,
            vault_retention=deps.vault_retention,
            content_retention=timedelta(seconds=deps.settings.retention_seconds),
            now=now,
        )
    )
    if deps.records is not None:
        worker.run(
            purge_records_daily(deps.records, deps.records_settings, now, deps.forget_donors)
        )
    _schedule(Queue(job.origin, connection=job.connection), datetime.now(UTC))


def schedule(settings: Settings) -> str:
    """Schedule the daily purge on the SMS queue (a no-op if tomorrow's is already there);
    the job id."""
    connection = redisconn.connect_rq(settings.redis, max_connections=1)
    try:
        return _schedule(Queue(settings.sms.rq_queue, connection=connection), datetime.now(UTC))
    finally:
        connection.close()


def _schedule(queue: Queue, now: datetime) -> str:
    job_id = f"retention-{(now + INTERVAL):%Y%m%d}"
    queue.enqueue_in(INTERVAL, JOB, job_id=job_id, result_ttl=0, description="retention purge")
    return job_id
