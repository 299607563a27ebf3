"""Outbound SMS end to end: Outbox → Redis → RQ workers (in-process and subprocesses) → the
Twilio stand-in over HTTP, with faults, crashes, duplicates, opt-outs and the rate limit."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
from cryptography.fernet import Fernet
from rq import Queue, Worker

from acd import chat
from bench.twilio_standin import StandIn
from core.config import Settings, load_settings
from core.keys import Keys
from hotline.harness import _die_with_parent
from sms.outbox import (
    BodyTooLong,
    MessageRecord,
    Outbox,
    claim_ready,
    failed_messages,
    load_message,
    take_batch,
)
from sms.recipients import sender_key, store_in
from sms.state import MessageState
from workers.sms import SmsRuntime

ROOT = Path(__file__).resolve().parents[2]
MOBILE = "+15145550123"
OTHER = "+15145550199"
LANDLINE = "+33142685300"
HASH_KEY = "sms-test-hash-key-0123456789"
VAULT_KEY = Fernet.generate_key().decode()
T = TypeVar("T")


@pytest.fixture
def standin() -> Iterator[StandIn]:
    server = StandIn(callbacks=False).start()
    try:
        yield server
    finally:
        server.stop()


def sms_env(redis_url: str, standin: StandIn, **sms: str) -> dict[str, str]:
    """The environment a worker (in-process or not) is configured from."""
    env = {
        "HOTLINE_HASH_KEY": HASH_KEY,
        "HOTLINE_VAULT_KEYS": VAULT_KEY,
        "HOTLINE_TWILIO_ACCOUNT_SID": standin.account_sid,
        "HOTLINE_TWILIO_AUTH_TOKEN": standin.auth_token,
        "HOTLINE_REDIS_URL": redis_url,
        "HOTLINE_SMS_TWILIO_BASE_URL": standin.base_url,
        "HOTLINE_SMS_PUBLIC_BASE_URL": "https://hotline.example.org",
        "HOTLINE_SMS_SENDER_TYPE": "short_code",
        "HOTLINE_SMS_SHORT_CODE_RATE": "1000",
        "HOTLINE_SMS_SHORT_CODE_BURST": "1000",
        "HOTLINE_SMS_RETRY_BASE_SECONDS": "0",
        "HOTLINE_SMS_MAX_RETRIES": "3",
        "HOTLINE_SMS_PROVIDER_TIMEOUT": "1",
    }
    env.update({f"HOTLINE_SMS_{k.upper()}": v for k, v in sms.items()})
    return env


@pytest.fixture
def settings(redis_url: str, standin: StandIn) -> Settings:
    return load_settings(None, env=sms_env(redis_url, standin))


@dataclasses.dataclass
class Pipeline:
    """The queueing side, a worker's clients, and a way to run workers until messages
    settle."""

    settings: Settings
    runtime: SmsRuntime
    #: For looking into Redis (strings decoded).
    client: redis.Redis
    outbox: Outbox
    clock: Callable[[], float] = time.time

    @property
    def keys(self) -> Keys:
        return Keys(self.settings.redis.prefix)

    @property
    def queue(self) -> Queue:
        return self.runtime.deps.queue

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runtime.loop.run(coro)

    def send(self, to: str = MOBILE, body: str = "Your callback is booked.", **kw: str) -> str:
        enqueue = self.outbox.enqueue(
            to,
            self.settings.sms.from_number,
            body,
            idempotency_key=kw.get("key", os.urandom(8).hex()),
            kind="callback",
            language="en",
        )
        return self.run(enqueue)

    def ref(self, number: str) -> str:
        assert self.runtime.deps.vault is not None
        return self.run(self.runtime.deps.vault.store(number, now=datetime.now(UTC))).ref

    def record(self, message_id: str) -> MessageRecord:
        record = self.run(load_message(self.runtime.redis, self.keys, message_id))
        assert record is not None
        return record

    def work(self, *message_ids: str, within: float = 8.0) -> list[MessageRecord]:
        """Run burst workers (with the scheduler) until every message left queued/sending."""
        deps = dataclasses.replace(self.runtime.deps, clock=self.clock)
        deadline = time.monotonic() + within
        while True:
            self.runtime.worker(deps).work(burst=True, with_scheduler=True)
            records = [self.record(m) for m in message_ids]
            if all(r.state not in (MessageState.QUEUED, MessageState.SENDING) for r in records):
                return records
            assert time.monotonic() < deadline, [r.state for r in records]
            time.sleep(0.2)


@contextmanager
def pipeline_for(settings: Settings) -> Iterator[Pipeline]:
    """A Pipeline on ``settings``, its clients closed on the way out."""
    runtime = SmsRuntime(settings, drop_chat=chat.drop)
    assert runtime.deps.vault is not None
    store = store_in(runtime.deps.vault)
    outbox = Outbox(runtime.deps.queue, Keys(settings.redis.prefix), settings.sms, store)
    client = redis.Redis.from_url(settings.redis.url, decode_responses=True)
    try:
        yield Pipeline(settings, runtime, client, outbox)
    finally:
        client.close()
        runtime.close()


@pytest.fixture
def pipeline(settings: Settings) -> Iterator[Pipeline]:
    with pipeline_for(settings) as pipeline:
        yield pipeline


def test_message_is_sent_once_and_stored_without_number(
    pipeline: Pipeline, standin: StandIn
) -> None:
    message_id = pipeline.send()
    [record] = pipeline.work(message_id)
    assert record.state is MessageState.SENT
    [sent] = standin.messages
    assert (sent["to"], sent["from"], sent["sid"]) == (MOBILE, "+18005550100", record.sid)
    assert sent["body"] == "Your callback is booked."
    assert pipeline.client.get(pipeline.keys.sms_sid(record.sid)) == message_id
    raw = pipeline.client.hgetall(pipeline.keys.sms_message(message_id))
    assert MOBILE not in str(raw)
    assert raw["to_ref"] == pipeline.ref(MOBILE)
    assert pipeline.client.exists(pipeline.keys.vault_entry(raw["to_ref"]))


def test_recipient_purged_from_the_vault_fails_the_message(
    pipeline: Pipeline, standin: StandIn
) -> None:
    message_id = pipeline.send()
    pipeline.client.delete(pipeline.keys.vault_entry(pipeline.ref(MOBILE)))
    [record] = pipeline.work(message_id)
    assert (record.state, record.reason) == (MessageState.FAILED, "recipient-gone")
    assert standin.create_requests == 0


def test_same_idempotency_key_gives_one_message_and_one_job(
    pipeline: Pipeline, standin: StandIn
) -> None:
    first = pipeline.send(key="callback-42")
    second = pipeline.send(key="callback-42")
    assert first == second
    assert pipeline.queue.count == 1
    pipeline.work(first)
    assert len(standin.messages) == 1


def test_duplicated_job_does_not_send_twice(pipeline: Pipeline, standin: StandIn) -> None:
    message_id = pipeline.send()
    pipeline.queue.enqueue("workers.sms.send_message", message_id)
    pipeline.work(message_id)
    assert len(standin.messages) == 1


def test_429_and_500_are_retried_then_sent(pipeline: Pipeline, standin: StandIn) -> None:
    standin.fail_next(1, 429)
    standin.fail_next(1, 500)
    message_id = pipeline.send()
    [record] = pipeline.work(message_id)
    assert record.state is MessageState.SENT
    assert len(standin.messages) == 1
    assert standin.create_requests == 3


def test_answer_lost_after_acceptance_is_adopted_not_resent(
    pipeline: Pipeline, standin: StandIn
) -> None:
    standin.accept_then_wait(3)  # longer than the 1 s provider timeout
    message_id = pipeline.send()
    [record] = pipeline.work(message_id)
    [sent] = standin.messages
    assert record.state is MessageState.SENT
    assert record.sid == sent["sid"]
    assert standin.create_requests == 1


def test_permanent_error_fails_with_code_and_is_not_retried(
    pipeline: Pipeline, standin: StandIn
) -> None:
    standin.invalid.add(OTHER)
    message_id = pipeline.send(to=OTHER)
    [record] = pipeline.work(message_id)
    assert (record.state, record.error_code, record.reason) == (
        MessageState.FAILED,
        21211,
        "rejected",
    )
    assert standin.create_requests == 1
    assert (pipeline.queue.count, pipeline.queue.scheduled_job_registry.count) == (0, 0)
    failed = pipeline.run(failed_messages(pipeline.runtime.redis, pipeline.keys))
    assert [r.id for r in failed] == [message_id]


def test_landline_is_refused_before_sending(pipeline: Pipeline, standin: StandIn) -> None:
    message_id = pipeline.send(to=LANDLINE)
    [record] = pipeline.work(message_id)
    assert (record.state, record.error_code, record.reason) == (
        MessageState.FAILED,
        21614,
        "not-mobile",
    )
    assert standin.create_requests == 0


def test_a_body_over_1600_characters_is_refused_before_queueing(pipeline: Pipeline) -> None:
    with pytest.raises(BodyTooLong):
        pipeline.send(body="é" * 1601)
    assert pipeline.queue.count == 0
    assert pipeline.client.keys(pipeline.keys.sms_message("*")) == []


def test_opted_out_recipient_is_refused(pipeline: Pipeline, standin: StandIn) -> None:
    key = sender_key(MOBILE, pipeline.settings.secrets.hash_key)
    pipeline.client.sadd(pipeline.keys.sms_optout, key)
    [record] = pipeline.work(pipeline.send())
    assert (record.state, record.error_code, record.reason) == (
        MessageState.FAILED,
        21610,
        "opted-out",
    )
    assert standin.create_requests == 0


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A ``hotline worker`` process (SIGKILLed if pytest dies); its records database beside
    its log."""
    records = {"HOTLINE_RECORDS_DATA_DIR": str(log.parent / "records")}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hotline.cli", "worker"],
            env={**os.environ, **records, **env},
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )


def test_worker_killed_after_provider_accepted_does_not_send_twice(
    pipeline: Pipeline, standin: StandIn, redis_url: str, tmp_path: Path
) -> None:
    standin.accept_then_wait(30)
    message_id = pipeline.send()
    worker = start_worker(sms_env(redis_url, standin), tmp_path / "worker.log")
    try:
        standin.wait_for_messages(1, timeout=8)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert pipeline.record(message_id).state is MessageState.SENDING
    # Later: RQ's maintenance finds the dead worker's job abandoned and retries it, and the
    # claim's lease has run out.
    pipeline.queue.started_job_registry.cleanup(timestamp=time.time() + 3600)
    pipeline.clock = lambda: time.time() + 60
    [record] = pipeline.work(message_id)
    [sent] = standin.messages
    assert (record.state, record.sid) == (MessageState.SENT, sent["sid"])
    assert standin.create_requests == 1


def test_a_send_cut_by_kill_9_is_finished_by_the_next_worker_within_a_minute(
    pipeline: Pipeline, standin: StandIn, redis_url: str, tmp_path: Path
) -> None:
    """RQ itself finds the dead worker's job abandoned and retries it (no hand-made clean-up):
    the retry asks Twilio, adopts the send and sends nothing twice."""
    standin.accept_then_wait(120)
    message_id = pipeline.send()
    env = sms_env(redis_url, standin, provider_timeout="10")
    worker = start_worker(env, tmp_path / "first.log")
    try:
        standin.wait_for_messages(1, timeout=8)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    killed = time.monotonic()
    assert pipeline.record(message_id).state is MessageState.SENDING
    successor = start_worker(env, tmp_path / "next.log")
    try:
        while (record := pipeline.record(message_id)).state is MessageState.SENDING:
            assert time.monotonic() - killed < 60, "the send was not taken up within a minute"
            time.sleep(0.5)
    finally:
        successor.send_signal(signal.SIGKILL)
        successor.wait()
    [sent] = standin.messages
    assert (record.state, record.sid) == (MessageState.SENT, sent["sid"])
    assert standin.create_requests == 1


def children(pid: int) -> set[int]:
    """The live processes whose parent is ``pid``; one that ends mid-scan is skipped."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(stat.rsplit(") ", 1)[1].split()[1]) == pid:
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(") ", 1)[1][0] != "Z"


def test_a_worker_killed_by_sigkill_leaves_no_scheduler_behind(
    settings: Settings, redis_url: str, standin: StandIn, tmp_path: Path
) -> None:
    worker = start_worker(sms_env(redis_url, standin), tmp_path / "worker.log")
    forked: set[int] = set()
    try:
        deadline = time.monotonic() + 10
        while not (forked := children(worker.pid)):
            assert time.monotonic() < deadline, "the worker started no scheduler"
            time.sleep(0.1)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        deadline = time.monotonic() + 5
        while left := {pid for pid in forked if alive(pid)}:
            assert time.monotonic() < deadline, f"{len(left)} child process(es) outlived the worker"
            time.sleep(0.1)
    finally:
        worker.kill()
        worker.wait()
        for pid in forked:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_rate_limit_holds_across_four_worker_processes(
    redis_url: str, standin: StandIn, tmp_path: Path
) -> None:
    rate, burst, count = 4.0, 2, 18
    env = sms_env(redis_url, standin, short_code_rate=str(rate), short_code_burst=str(burst))
    workers = [start_worker(env, tmp_path / f"w{i}.log") for i in range(4)]
    try:
        with pipeline_for(load_settings(None, env=env)) as pipeline:
            deadline = time.monotonic() + 60  # four interpreters starting on a busy machine
            while Worker.count(queue=pipeline.queue) < len(workers):
                assert time.monotonic() < deadline, "the workers did not all start"
                time.sleep(0.1)
            start = time.time()
            for i in range(count):
                pipeline.send(body=f"m{i}", key=f"k{i}")
        sent = standin.wait_for_messages(count, timeout=30)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
    times = sorted(m["accepted_at"] - start for m in sent)
    for n, at in enumerate(times, start=1):
        assert n <= burst + rate * at + 0.5, f"message {n} at {at:.2f} s is ahead of the limit"
    assert times[-1] >= (count - burst) / rate - 0.5
    assert len(standin.messages) == count


def test_logs_of_a_scenario_hold_no_number(
    pipeline: Pipeline, standin: StandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    standin.fail_next(1, 503)
    standin.invalid.add(OTHER)
    ids = [pipeline.send(), pipeline.send(to=OTHER), pipeline.send(to=LANDLINE)]
    pipeline.work(*ids)
    assert len(caplog.records) > 5
    text = "\n".join(caplog.text.splitlines() + [r.getMessage() for r in caplog.records])
    for number in (MOBILE, OTHER, LANDLINE):
        for form in (number, number.lstrip("+"), number[-10:]):
            assert form not in text


# -- batches: messages queued behind a job that waits for a worker go with it -------------


def test_backlog_is_carried_by_few_jobs_each_message_sent_once(
    redis_url: str, standin: StandIn
) -> None:
    settings = load_settings(None, env=sms_env(redis_url, standin, batch_max="4"))
    with pipeline_for(settings) as pipeline:
        ids = [pipeline.send(body=f"m{i}") for i in range(10)]
        assert pipeline.queue.count == 3
        records = pipeline.work(*ids)
    assert {r.state for r in records} == {MessageState.SENT}
    assert sorted(m["body"] for m in standin.messages) == sorted(f"m{i}" for i in range(10))
    assert {r.sid for r in records} == {m["sid"] for m in standin.messages}
    assert not pipeline.client.keys("*:sms:batch:*")


def test_a_message_queued_after_its_job_started_gets_its_own_job(pipeline: Pipeline) -> None:
    first = pipeline.send()
    behind = pipeline.send()
    assert pipeline.run(take_batch(pipeline.runtime.redis, pipeline.keys, first)) == [behind]
    late = pipeline.send()
    assert pipeline.queue.get_job_ids() == [f"sms-{first}", f"sms-{late}"]
    assert pipeline.run(take_batch(pipeline.runtime.redis, pipeline.keys, first)) == [behind]


def test_errors_in_a_batch_touch_only_their_message(pipeline: Pipeline, standin: StandIn) -> None:
    standin.invalid.add(OTHER)
    standin.accept_then_wait(0)
    standin.fail_next(1, 503)
    ids = [pipeline.send(body="own"), pipeline.send(body="503"), pipeline.send(to=OTHER)]
    ids.append(pipeline.send(body="last"))
    assert pipeline.queue.count == 1
    records = pipeline.work(*ids)
    assert [r.state for r in records] == [
        MessageState.SENT,
        MessageState.SENT,
        MessageState.FAILED,
        MessageState.SENT,
    ]
    assert records[2].error_code == 21211
    assert sorted(m["body"] for m in standin.messages) == ["503", "last", "own"]
    # own, the 503, its retry, the invalid number (refused once, never retried), last.
    assert standin.create_requests == 5


def test_a_message_that_breaks_its_batch_is_handed_its_own_job(
    pipeline: Pipeline, standin: StandIn
) -> None:
    ids = [pipeline.send(body=f"m{i}") for i in range(3)]
    pipeline.client.hdel(pipeline.keys.sms_message(ids[1]), "body")
    records = pipeline.work(ids[0], ids[2])
    assert [r.state for r in records] == [MessageState.SENT, MessageState.SENT]
    assert sorted(m["body"] for m in standin.messages) == ["m0", "m2"]
    assert pipeline.queue.failed_job_registry.get_job_ids() == [f"sms-{ids[1]}"]


def test_rate_limit_holds_within_a_batch(redis_url: str, standin: StandIn) -> None:
    rate, burst, count = 4.0, 2, 8
    env = sms_env(redis_url, standin, short_code_rate=str(rate), short_code_burst=str(burst))
    with pipeline_for(load_settings(None, env=env)) as pipeline:
        ids = [pipeline.send(body=f"m{i}") for i in range(count)]
        assert pipeline.queue.count == 1
        start = time.time()
        records = pipeline.work(*ids, within=15)
    assert {r.state for r in records} == {MessageState.SENT}
    times = sorted(m["accepted_at"] - start for m in standin.messages)
    assert len(times) == count
    for n, at in enumerate(times, start=1):
        assert n <= burst + rate * at + 0.5, f"message {n} at {at:.2f} s is ahead of the limit"


def test_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(
    pipeline: Pipeline, standin: StandIn, redis_url: str, tmp_path: Path
) -> None:
    standin.accept_then_wait(0)
    standin.accept_then_wait(0)
    standin.accept_then_wait(30)  # the third send is accepted, its answer never arrives
    ids = [pipeline.send(body=f"m{i}") for i in range(5)]
    assert pipeline.queue.count == 1
    worker = start_worker(sms_env(redis_url, standin), tmp_path / "worker.log")
    try:
        standin.wait_for_messages(3, timeout=8)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    states = [pipeline.record(m).state for m in ids]
    assert states == [MessageState.SENT] * 2 + [MessageState.SENDING] + [MessageState.QUEUED] * 2
    pipeline.queue.started_job_registry.cleanup(timestamp=time.time() + 3600)
    pipeline.clock = lambda: time.time() + 60
    records = pipeline.work(*ids)
    assert {r.state for r in records} == {MessageState.SENT}
    assert sorted(m["body"] for m in standin.messages) == [f"m{i}" for i in range(5)]
    assert [r.sid for r in records] == [m["sid"] for m in standin.messages]
    assert standin.create_requests == 5


# -- claims: one-message jobs queued up behind a starting job go with it ------------------


def test_a_starting_job_claims_the_fresh_send_jobs_behind_it(
    redis_url: str, standin: StandIn
) -> None:
    settings = load_settings(None, env=sms_env(redis_url, standin, batch_max="1"))
    with pipeline_for(settings) as pipeline:
        ids = [pipeline.send(body=f"m{i}") for i in range(4)]
        behind = pipeline.send(body="behind")
        keys, queue = pipeline.keys, pipeline.queue
        pipeline.client.rpush(keys.sms_batch(ids[2]), behind)  # as if it had joined that job
        pipeline.client.set(keys.sms_open_batch, ids[2])
        retried = ids[3]  # a job that failed once keeps its own job and its retry count
        pipeline.client.hset(f"rq:job:sms-{retried}", "retries_left", 1)
        claim = claim_ready(
            pipeline.runtime.redis, keys, queue, "x", jobs=10, settings=settings.sms
        )
        assert pipeline.run(claim) == [ids[0], ids[1], ids[2], behind]
        assert pipeline.client.lrange(keys.sms_batch("x"), 0, -1) == [*ids[:3], behind]
        assert queue.get_job_ids() == [f"sms-{retried}", f"sms-{behind}"]
        assert not pipeline.client.exists(*(f"rq:job:sms-{m}" for m in ids[:3]))
        assert not pipeline.client.exists(keys.sms_open_batch, keys.sms_batch(ids[2]))


def test_worker_killed_after_claiming_jobs_loses_nothing_and_sends_nothing_twice(
    redis_url: str, standin: StandIn, tmp_path: Path
) -> None:
    standin.accept_then_wait(0)
    standin.accept_then_wait(0)
    standin.accept_then_wait(30)  # the third send is accepted, its answer never arrives
    single = load_settings(None, env=sms_env(redis_url, standin, batch_max="1"))
    with pipeline_for(single) as pipeline:
        ids = [pipeline.send(body=f"m{i}") for i in range(5)]
        assert pipeline.queue.count == 5
        # The worker carries up to 50 a job: the first job it starts claims the other four.
        worker = start_worker(sms_env(redis_url, standin), tmp_path / "worker.log")
        try:
            standin.wait_for_messages(3, timeout=8)
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        states = [pipeline.record(m).state for m in ids]
        sent, sending, queued = MessageState.SENT, MessageState.SENDING, MessageState.QUEUED
        assert states == [sent, sent, sending, queued, queued]
        assert pipeline.queue.count == 0
        pipeline.queue.started_job_registry.cleanup(timestamp=time.time() + 3600)
        pipeline.clock = lambda: time.time() + 60
        records = pipeline.work(*ids)
    assert {r.state for r in records} == {MessageState.SENT}
    assert sorted(m["body"] for m in standin.messages) == [f"m{i}" for i in range(5)]
    assert [r.sid for r in records] == [m["sid"] for m in standin.messages]
    assert standin.create_requests == 5
