"""The ``hotline worker`` process: an RQ worker on the SMS queue (sends, retries, the daily
retention purge) and the records drain (``workers/records.py``) on the same event loop."""

from __future__ import annotations

import os
import signal
from types import FrameType
from typing import NoReturn

from core.config import Settings
from core.ports import DropChat, ForgetDonors
from core.processes import die_with_parent
from records.service import DrainService, drain_of
from sms.recipients import ResolveNumber
from workers.records import WorkerDrain
from workers.sms import SmsRuntime


def run_worker(
    settings: Settings,
    resolve: ResolveNumber | None = None,
    *,
    drop_chat: DropChat,
    forget_donors: ForgetDonors | None = None,
    burst: bool = False,
) -> None:
    """Run an SMS worker on the configured queue, with RQ's scheduler (retries, reschedules,
    the daily retention purge) in a child process that the kernel kills if the worker dies;
    the records schema is brought up to date first, and (unless ``burst``: the worker stops
    once the queue is empty) the Redis streams are drained into the records meanwhile.
    Recipients are resolved by the number vault unless ``resolve`` stands in for it."""
    signal.signal(signal.SIGTERM, _stop_while_starting)  # RQ's own takes over in work()
    worker_pid = os.getpid()
    os.register_at_fork(after_in_child=lambda: die_with_parent(worker_pid))
    runtime = SmsRuntime(settings, resolve, drop_chat=drop_chat, forget_donors=forget_donors)
    drain = None
    try:
        runtime.migrate_records()
        if not burst and runtime.deps.records is not None:
            service = DrainService(
                drain_of(settings, runtime.redis, runtime.deps.records), settings.records
            )
            drain = WorkerDrain(service, runtime.loop)
            drain.start()
        runtime.worker().work(with_scheduler=True, burst=burst, logging_level=settings.log_level)
    finally:
        if drain is not None:
            drain.stop()
        runtime.close()


def _stop_while_starting(_signum: int, _frame: FrameType | None) -> NoReturn:
    """SIGTERM before RQ's worker runs (during the migration, say): stop cleanly."""
    raise SystemExit(0)
