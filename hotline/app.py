"""The ARI application: one event stream, per-channel ordered handling, the IVR service.

``HotlineApp`` owns every client and background task of one app instance; ``async with`` starts
them and leaves nothing running on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from zoneinfo import ZoneInfo

from aiohttp import web
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from acd.calls import is_leg
from acd.chat import ChatRouter
from acd.config import QueueConfig, load_agents, load_queues
from acd.http import acd_routes
from acd.monitor import monitor_key, session_of
from acd.stasis import AcdService
from acd.store import AcdStore
from acd.texter_calls import TexterCalls
from acd.volunteer_line import VolunteerLine
from console.http import ConsoleDeps, build_console
from core import redisconn
from core.ari import (
    ApplicationReplaced,
    AriClient,
    AriError,
    AriEventStream,
    ChannelDestroyed,
    ChannelDispatcher,
    ChannelDtmfReceived,
    Event,
    PlaybackFinished,
    StasisEnd,
    StasisStart,
    StreamConnected,
)
from core.calls import CallEvent, ChannelTimers, ends_call
from core.commands import Hangup, carry_out_media
from core.config import Settings
from core.keys import Keys
from core.logs import channel_var, task_awaits
from core.privacy import Vault
from core.privacy.http import privacy_routes
from core.tasks import repeat
from hotline.console_desk import (
    AcdCalls,
    AcdPresence,
    AcdSupervision,
    RecordsWrapups,
    SmsChats,
    TelethonPledges,
    console_accounts,
)
from hotline.http import build_web_app
from hotline.metrics import metrics_routes
from hotline.phones import sip_device_names
from hotline.reconciler import Reconciler
from hotline.sip_security import SecurityLog
from hotline.telethon import (
    AcdCallerRefs,
    OutboxTexts,
    Telethon,
    load_telethon,
    with_campaign_languages,
)
from ivr.flow import Flow
from ivr.stasis import IvrService
from records.service import RecordsService
from records.today import calls_since
from records.wrapups import QueueRules
from sms.gateway import SmsGateway
from sms.redact import redact_numbers

logger = logging.getLogger(__name__)

CALL_EVENTS = (StasisStart, StasisEnd, ChannelDtmfReceived, PlaybackFinished)
#: The only events Asterisk sends the app (of ~36 per queued call): the rest are not serialised,
#: sent or parsed. ApplicationReplaced is subject to the filter too.
WANTED_EVENTS = tuple(cls.__name__ for cls in (*CALL_EVENTS, ChannelDestroyed, ApplicationReplaced))


#: Seconds each step of ``HotlineApp.close`` may take.
CLOSE_STEP_S = 3.0
#: Seconds a call's end or a volunteer's leg event waits for Redis to come back.
REDIS_RETRY_S = 60.0
#: Seconds between reads of Asterisk's security log ([phones] security_log).
SECURITY_LOG_POLL_S = 1.0


def _name(event: CallEvent) -> str:
    return type(event).__name__


def queue_rules(queues: Mapping[str, QueueConfig]) -> dict[str, QueueRules]:
    """What the records side needs of each queue's file."""
    return {
        q.name: QueueRules(
            q.dispositions, q.wrapup_s, q.service_level_s, q.short_abandon_s, q.flags
        )
        for q in queues.values()
    }


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


class HotlineApp:
    """One instance of the hotline's ARI application."""

    def __init__(
        self, settings: Settings, flow: Flow, *, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.settings = settings
        ari = settings.ari
        password = settings.secrets.ari_password
        self.redis = redisconn.connect(settings.redis)
        #: RQ's synchronous client, for queueing outbound SMS.
        self.rq_redis = redisconn.connect_rq(settings.redis)
        self.ari = AriClient(ari.url, ari.username, password, timeout=ari.connect_timeout)
        self.stream = AriEventStream(ari.url, ari.username, password, ari.app)
        self.dispatcher: ChannelDispatcher[CallEvent] = ChannelDispatcher(
            self._handle_call, is_final=ends_call
        )
        self.timers = ChannelTimers(self.dispatcher.submit)
        keys = Keys(settings.redis.prefix)
        self.vault = Vault(
            self.redis,
            keys,
            hash_key=settings.secrets.hash_key,
            fernet_keys=settings.secrets.vault_keys,
            default_region=settings.privacy.default_region,
        )
        queues = load_queues(settings.acd.queues, settings.ivr.languages)
        agents = {a.id: a for a in load_agents(settings.acd.agents, queues)}
        self.campaigns = load_telethon(settings.pledges, queues)
        flow = with_campaign_languages(flow, self.campaigns)
        store = AcdStore(
            self.redis,
            keys,
            queues,
            confirm_timeout_s=settings.acd.confirm_timeout_s,
            zone=ZoneInfo(settings.console.time_zone),
        )
        self.sms = SmsGateway(
            settings,
            redis_client=self.redis,
            rq_client=self.rq_redis,
            vault=self.vault,
            agents=agents,
            chats=ChatRouter(self.redis, keys, agents),
            ari=self.ari,
            devices={a.id: sip_device_names(a) for a in agents.values()},
            texter_calls=TexterCalls(store, ari.app),
        )
        self.acd = AcdService(
            settings=settings,
            queues=queues,
            agents=agents,
            store=store,
            ari=self.ari,
            redis=self.redis,
            timers=self.timers,
            vault=self.vault,
            requests=self.sms.requests,
            texts=self.sms.conversations,
        )
        self.volunteers = VolunteerLine(
            ari=self.ari,
            redis=self.redis,
            keys=keys,
            store=store,
            agents=agents,
            timers=self.timers,
            language=flow.default_language,
        )
        self.ivr = IvrService(
            settings=settings,
            flow=flow,
            ari=self.ari,
            redis=self.redis,
            vault=self.vault,
            timers=self.timers,
            queues=self.acd,
            clock=clock,
            texts=self.sms.conversations,
        )
        #: Channels whose events this process has handled (their timers live here).
        self.seen: set[str] = set()
        self.reconciler = Reconciler(self, time.time)
        self.records = RecordsService(settings, self.redis, queue_rules(queues))
        self.telethon = Telethon(
            settings,
            self.campaigns,
            self.records,
            AcdCallerRefs(self.redis, keys),
            OutboxTexts(self.sms.outbox, self.redis, keys, settings.sms.from_number),
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._stream_task: asyncio.Task[None] | None = None
        # SMS over the SIP trunk arrive on a second ARI app of their own (see sms/sip_provider.py).
        self.sip_sms = self.sms.sip_inbound(self.ari)
        security_log = settings.phones.security_log
        self.sip_security = SecurityLog(Path(security_log)) if security_log else None
        redact = functools.partial(redact_numbers, region=settings.privacy.default_region)
        routes = [
            *acd_routes(
                store,
                agents,
                time.time,
                redact,
            ),
            *metrics_routes(
                store, list(queues), time.time, [self.sip_security] if self.sip_security else []
            ),
            *privacy_routes(self.vault, utc_now),
            *self.sms.routes(),
            *self.records.routes(),
            *self.telethon.routes(),
        ]
        self.session_redis = redisconn.connect(settings.redis, 16, decode=False)
        console = ConsoleDeps(
            settings=settings.console,
            keys=keys,
            redis=self.redis,
            session_redis=self.session_redis,
            accounts=console_accounts(agents.values()),
            presence=AcdPresence(store, agents, time.time),
            wrapups=RecordsWrapups(self.records.wrapups),
            supervision=AcdSupervision(
                store,
                agents,
                self.vault,
                time.time,
                redact,
                functools.partial(calls_since, self.records.engine, self.redis, keys),
                ZoneInfo(settings.console.time_zone),
            ),
            calls=AcdCalls(store, agents),
            chats=SmsChats(self.sms.conversations, queues, flow.default_language),
            pledges=(
                TelethonPledges(self.telethon.pledges, self.telethon.desk, self.campaigns)
                if self.telethon.pledges and self.telethon.desk
                else None
            ),
        )
        self._web = web.AppRunner(
            build_web_app(settings, self.health, routes, {"/console": build_console(console)}),
            access_log=None,
            shutdown_timeout=CLOSE_STEP_S / 2,  # requests still running when the app stops
        )

    async def __aenter__(self) -> Self:
        await self._wait_for_redis()
        await self.ari.start()
        await self.acd.start()
        await self.reconciler.mark_alive()
        self._spawn(self._route_chats(), "chats")
        self._spawn(self.reconciler.run(), "reconciler")
        self._spawn(self.records.run(), "records")
        if self.telethon.feed is not None:
            self._spawn(self.telethon.feed.run(), "tote board")
        if self.telethon.desk is not None:
            self._spawn(self.telethon.run_reminders(self.telethon.desk), "pledge reminders")
        if self.sip_sms is not None:
            self._spawn(self.sip_sms.run(), "sip-sms")
        if self.sip_security is not None:
            await asyncio.to_thread(self.sip_security.skip_to_end)
            self._spawn(self._follow_security_log(self.sip_security), "sip-security")
        await self._web.setup()
        http = self.settings.http
        await web.TCPSite(self._web, http.bind, http.port).start()
        self._stream_task = asyncio.create_task(self.stream.run(self._on_event), name="ari-events")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def run_forever(self) -> None:
        """Run until cancelled or until the event stream fails for good."""
        async with self:
            assert self._stream_task is not None
            await self._stream_task

    async def close(self) -> None:
        """Stop the stream, the per-call workers and the clients, in a bounded time: a step
        that overruns ``CLOSE_STEP_S`` is logged with what every task awaits, and left."""
        steps: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("event stream", self._stop_stream),
            ("background tasks", self._stop_tasks),
            ("ACD", self.acd.close),
            ("HTTP server", self._web.cleanup),
            ("call workers", self.dispatcher.close),
            ("ARI events", self.stream.close),
            ("ARI client", self.ari.close),
            ("payment provider", self.telethon.close),
            ("records", self.records.close),
            ("Redis", self.redis.aclose),
            ("console sessions' Redis", self.session_redis.aclose),
        ]
        logger.info("stopping")
        started = time.monotonic()
        for name, step in steps:
            try:
                async with asyncio.timeout(CLOSE_STEP_S):
                    await step()
            except TimeoutError:
                logger.error(
                    "closing: %s overran %s s; tasks:\n%s", name, CLOSE_STEP_S, task_awaits()
                )
        self.rq_redis.close()
        logger.info("stopped in %.1f s", time.monotonic() - started)

    async def _stop_stream(self) -> None:
        if self._stream_task:
            self._stream_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stream_task

    async def _stop_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def health(self) -> dict[str, bool]:
        """Whether the app's dependencies answer: ARI's event stream, and Redis with the
        service's data (not restarted empty, or not yet restored)."""
        try:
            marker = Keys(self.settings.redis.prefix).alive
            redis_ok = bool(await asyncio.wait_for(self.redis.exists(marker), 2))
        except (RedisConnectionError, RedisTimeoutError, TimeoutError):
            redis_ok = False
        return {"ari": self.stream.is_connected, "redis": redis_ok}

    async def _wait_for_redis(self) -> None:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(RedisConnectionError),
            wait=wait_exponential(multiplier=0.5, max=10),
            before_sleep=lambda state: logger.error(
                "Redis at %s unreachable (%s); retrying",
                self.settings.redis.where,
                state.outcome.exception() if state.outcome else "?",
            ),
        ):
            with attempt:
                await self.redis.ping()

    async def _on_event(self, event: Event) -> None:
        if isinstance(event, CALL_EVENTS) and event.channel_id:
            self.dispatcher.submit(monitor_key(event.channel_id), event)
        elif (
            isinstance(event, ChannelDestroyed)
            and is_leg(event.channel_id)
            and event.channel.state != "Up"
        ):
            # Agent legs that never answered never enter Stasis: their end is this event.
            # (An answered leg entered Stasis, and its StasisEnd has ended it already.)
            self.dispatcher.submit(monitor_key(event.channel_id), event)
        elif isinstance(event, StreamConnected):
            logger.info("ARI event stream %s", "reconnected" if event.reconnect else "connected")
            self._spawn(self._filter_events(), "event-filter")
            # Events are not replayed: whatever happened meanwhile is found by comparing.
            self._spawn(self.reconciler.reconcile(after_gap=event.reconnect), "resync")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run a background task owned by the app (cancelled on close)."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _follow_security_log(self, log: SecurityLog) -> None:
        """Count failed SIP authentications as Asterisk logs them."""
        while True:
            await asyncio.sleep(SECURITY_LOG_POLL_S)
            try:
                log.count(await asyncio.to_thread(log.read_new_lines))
            except OSError as exc:
                logger.warning("security log %s unreadable: %s", log.path, exc.strerror)

    async def _route_chats(self) -> None:
        """Offer waiting text conversations to volunteers with a free chat slot."""
        await repeat(self.sms.conversations.dispatch, self.settings.acd.tick_s, "chat routing")

    async def _handle_call(self, channel_id: str, event: CallEvent) -> None:
        """One event of a channel, in order with the channel's others. An event that fails
        because Redis is unreachable is handled again once Redis is back: a call's end (it
        frees the volunteer) or a volunteer's leg within ``REDIS_RETRY_S``, a caller's other
        events within ``[redis] caller_wait_s`` (a Sentinel failover), after which the caller
        goes to the dialplan's fallback rather than wait on in silence; a volunteer's leg that
        cannot be handled is hung up (its end is then handled), never sent there."""
        channel_var.set(channel_id)
        if ends_call(event):
            self.seen.discard(channel_id)
        else:
            self.seen.add(channel_id)
        patient = is_leg(channel_id) or ends_call(event)
        wait = REDIS_RETRY_S if patient else self.settings.redis.caller_wait_s
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            try:
                await self._route(channel_id, event)
                return
            except (RedisConnectionError, RedisTimeoutError) as exc:
                if not await self._redis_back(deadline):
                    failure: Exception = exc
                    break
                logger.warning("%s %s: Redis is back; handling it again", channel_id, _name(event))
            except Exception as exc:
                failure = exc
                break
        if ends_call(event):
            raise failure
        if is_leg(channel_id):
            logger.error("%s cannot handle %s; hanging the leg up", channel_id, _name(event))
            await carry_out_media(channel_id, Hangup(), self.ari, self.timers)
            return
        # Never leave a caller in silence: the dialplan's fallback takes the call over.
        logger.error(
            "%s cannot handle %s; sending the call to the fallback",
            channel_id,
            _name(event),
            exc_info=failure,
        )
        await self.ivr.escape(channel_id)

    async def _route(self, channel_id: str, event: CallEvent) -> None:
        if session_of(channel_id) is not None:  # a supervisor's leg, or its snoop channel
            await self.acd.monitors.handle(channel_id, event)
            return
        if is_leg(channel_id):
            await self.acd.handle_leg(channel_id, event)
        elif isinstance(event, StasisStart) and event.args[:1] == ("volunteer",):
            await self.volunteers.start(channel_id, event)
        elif not await self.ivr.handle(channel_id, event):
            await self.volunteers.handle(channel_id, event)
        if ends_call(event):  # a supervisor on the caller's or volunteer's call leaves it
            await self.acd.monitors.channel_ended(channel_id)

    async def _redis_back(self, deadline: float) -> bool:
        """Wait until Redis answers again, or ``deadline`` (loop time) passes."""
        loop = asyncio.get_running_loop()
        while loop.time() < deadline:
            try:
                await asyncio.wait_for(self.redis.ping(), 2)
                return True
            except (RedisConnectionError, RedisTimeoutError, TimeoutError):
                await asyncio.sleep(0.5)
        return False

    async def _filter_events(self) -> None:
        """Ask Asterisk for the events the app handles only (the others are ignored anyway)."""
        try:
            await self.ari.set_event_filter(self.settings.ari.app, WANTED_EVENTS)
        except AriError as exc:
            logger.warning("ARI event filter not set (every event still arrives): %s", exc)
