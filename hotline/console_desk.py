"""The ACD as the console's presence desk (``console.presence.PresenceDesk``), supervisor
desk (``console.supervision.SupervisorDesk``) and call desk (``console.calls.CallDesk``), the
records store as its wrap-up desk (``console.wrapups.WrapupDesk``), the telethon's pledges as
its pledge desk (``console.pledges.PledgeDesk``), the SMS conversations as its chat desk
(``console.chats.ChatDesk``), and the agent file's people as the console's accounts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Final, cast
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from acd.config import AgentProfile, QueueConfig, canned_replies
from acd.hangups import request_hangup
from acd.model import AcdError
from acd.monitor import MonitorMode
from acd.monitoring import request_monitor
from acd.records import Records
from acd.routing import AgentState, IllegalTransition
from acd.store import AcdStore
from acd.transfers import Transfer, TransferKind, parties, request_transfer
from console.accounts import Account, Accounts
from console.chats import ChatLine, ChatView
from console.pledges import SavedPledge
from console.presence import Presence
from console.supervision import AgentRow, AuditLine, Board, QueueTile, Unmasked
from console.wrapups import Earlier
from core.api import ApiError
from core.audit import AuditAction, audit
from core.ports import Refused
from core.privacy.vault import NotInVault, UnmaskRefused, Vault
from pledges.campaigns import Campaign
from pledges.http import parse_form
from pledges.links import PaymentDesk
from pledges.service import Pledges
from records.today import day_start
from records.wrapups import History, Wrapups
from sms.conversations import Conversation, ConversationError, Conversations

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    """A move the agent's state does not allow is a refusal like the store's others."""
    try:
        yield
    except IllegalTransition as exc:
        raise Refused(IllegalTransition.code, str(exc)) from None


class AcdPresence:
    """Presence operations through the ACD store, on the agent file's profiles."""

    def __init__(
        self, store: AcdStore, agents: Mapping[str, AgentProfile], clock: Callable[[], float]
    ) -> None:
        self.store, self.agents, self.clock = store, agents, clock

    async def presence(self, agent_id: str) -> Presence:
        """The agent's state (logged out if the ACD has never seen them)."""
        view = await self.store.agent(agent_id)
        if view is None:
            return Presence(AgentState.LOGGED_OUT.value)
        call_since = None
        if view.call_id:
            found = await self.store.redis.hget(
                self.store.keys.acd_call(view.call_id), "connected_at"
            )
            call_since = float(found) if found else None
        wrapping = view.state is AgentState.WRAP_UP
        return Presence(
            view.state.value,
            view.pause_reason,
            call_since,
            view.wrapup_until if wrapping else None,
            dict(view.paused_in),
        )

    async def call_on_hand(self, agent_id: str) -> str | None:
        """The call the agent is on, or wraps up until their wrap-up time is over."""
        view = await self.store.agent(agent_id)
        if view is None:
            return None
        if view.state is AgentState.ON_CALL:
            return view.call_id or None
        until = view.wrapup_until
        if view.state is AgentState.WRAP_UP and until is not None and self.clock() < until:
            return view.wrapup_call or None
        return None

    async def go_available(self, agent_id: str) -> None:
        """Log in to the profile's queues on its first device, or resume from a pause."""
        with _refusals():
            await self._go_available(agent_id)

    async def _go_available(self, agent_id: str) -> None:
        view = await self.store.agent(agent_id)
        if view is None or view.state is AgentState.LOGGED_OUT:
            profile = self.agents.get(agent_id)
            if profile is None:
                raise AcdError("unknown-agent", agent_id)
            await self.store.login(agent_id, profile.queues, profile.devices[0], self.clock())
        elif view.state is AgentState.PAUSED:
            await self.store.resume(agent_id, self.clock())

    def queues(self, agent_id: str) -> tuple[str, ...]:
        """The profile's queues."""
        profile = self.agents.get(agent_id)
        return profile.queues if profile else ()

    async def pause(self, agent_id: str, reason: str, queue: str | None = None) -> None:
        """Pause in every queue, or in ``queue`` only."""
        with _refusals():
            await self.store.pause(agent_id, reason, self.clock(), queue)

    async def resume_queue(self, agent_id: str, queue: str) -> None:
        """The store's end of a pause in one queue."""
        with _refusals():
            await self.store.resume(agent_id, self.clock(), queue)

    async def sign_off(self, agent_id: str) -> None:
        """Log out of every queue."""
        with _refusals():
            await self.store.logout(agent_id, self.clock())

    async def end_wrapup(self, agent_id: str) -> None:
        """The store's end of wrap-up."""
        with _refusals():
            await self.store.end_wrapup(agent_id, self.clock())

    async def extend_wrapup(self, agent_id: str, seconds: float) -> None:
        """The store's extension of a wrap-up."""
        await self.store.extend_wrapup(agent_id, seconds, self.clock())


#: Newest queue log entries read for the agents' times in state (older states show no time).
SINCE_ENTRIES: Final = 2000
#: Seconds the board waits for the records store's calls today before showing none.
CALLS_TODAY_WAIT_S: Final = 1.0


class AcdSupervision:
    """The supervisor screen over the ACD store, the agent file's profiles and the vault;
    ``redact`` cuts phone numbers out of reasons before a log or audit trail keeps them;
    ``calls_since`` counts each agent's calls since a moment (the records store), the day
    starting at midnight in ``zone``."""

    def __init__(
        self,
        store: AcdStore,
        agents: Mapping[str, AgentProfile],
        vault: Vault,
        clock: Callable[[], float],
        redact: Callable[[str], str],
        calls_since: Callable[[float], Awaitable[Mapping[str, int]]],
        zone: ZoneInfo,
    ) -> None:
        self.store, self.agents, self.vault = store, agents, vault
        self.clock, self.redact = clock, redact
        self.calls_since, self.zone = calls_since, zone

    async def board(self) -> Board:
        """Each queue's statistics (today's counts: the store's day, in its time zone) and
        each agent's state, with when the state began (the agent's newest queue log entry)."""
        now = self.clock()
        stats = await asyncio.gather(*(self.store.queue_stats(q, now) for q in self.store.queues))
        tiles = tuple(
            QueueTile(
                s.queue,
                s.waiting,
                s.longest_wait_s,
                dict(s.agents),
                s.today.service_level_pct,
                s.today.answered,
                s.today.abandoned,
                s.today.short_abandoned,
                s.today.asa_s,
                s.today.aht_s,
                s.callbacks_pending,
            )
            for s in stats
        )
        since = await self._since()
        today = await self._calls_today(now)
        rows = []
        for profile in sorted(self.agents.values(), key=lambda p: p.id):
            view = await self.store.agent(profile.id)
            state = view.state.value if view else AgentState.LOGGED_OUT.value
            call_id = view.call_id if view else ""
            call_queue, call_since = await self._call(call_id)
            rows.append(
                AgentRow(
                    profile.id,
                    profile.name,
                    state,
                    since.get(profile.id),
                    view.pause_reason if view else "",
                    dict(view.paused_in) if view else {},
                    call_id,
                    call_queue,
                    call_since,
                    profile.queues,
                    None if today is None else today.get(profile.id, 0),
                )
            )
        return Board(tiles, tuple(rows))

    async def _calls_today(self, now: float) -> Mapping[str, int] | None:
        """Each agent's calls since midnight; None while the records store is away or slow
        (the board waits ``CALLS_TODAY_WAIT_S`` at most)."""
        try:
            async with asyncio.timeout(CALLS_TODAY_WAIT_S):
                return await self.calls_since(day_start(now, self.zone))
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            logger.info("console: no calls today for the board: %s", exc)
            return None

    async def _call(self, call_id: str) -> tuple[str, float | None]:
        """A call's queue and when it was answered (None while it rings or if it is gone)."""
        if not call_id:
            return "", None
        found = await self.store.redis.hmget(
            self.store.keys.acd_call(call_id), ["queue", "connected_at"]
        )
        queue, connected_at = cast(list[str | None], found)
        return queue or "", float(connected_at) if connected_at else None

    async def _since(self) -> dict[str, float]:
        """The time of each agent's newest entry among the queue log's newest."""
        entries = cast(
            list[tuple[str, dict[str, str]]],
            await self.store.redis.xrevrange(self.store.keys.acd_queue_log, count=SINCE_ENTRIES),
        )
        since: dict[str, float] = {}
        for _, fields in entries:
            agent_id = fields.get("agent", "NONE")
            if agent_id != "NONE" and agent_id not in since:
                since[agent_id] = float(fields["time"])
        return since

    def agent_queues(self, agent_id: str) -> tuple[str, ...]:
        """The profile's queues."""
        profile = self.agents.get(agent_id)
        return profile.queues if profile else ()

    async def call_queue(self, call_id: str) -> str:
        """The call's queue in the ACD, else in its records (a call ending)."""
        queue, _ = await self._call(call_id)
        if queue:
            return queue
        records = Records(self.store.redis, self.store.keys)
        caller = await records.caller(call_id) or await records.callback(call_id)
        return caller.queue if caller else ""

    async def pseudonyms(self, call_ids: Collection[str]) -> Mapping[str, str]:
        """From each call's hash in the ACD, else its caller's or callback's record."""
        records = Records(self.store.redis, self.store.keys)

        async def pseudonym(call_id: str) -> str:
            found = await self.store.redis.hget(self.store.keys.acd_call(call_id), "pseudonym")
            if found:
                return cast(str, found)
            caller = await records.caller(call_id) or await records.callback(call_id)
            return caller.pseudonym if caller else ""

        ids = sorted(set(call_ids))
        return dict(zip(ids, await asyncio.gather(*map(pseudonym, ids)), strict=True))

    async def reset(self, agent_id: str, by: str, reason: str) -> None:
        """The store's reset (it writes ``by`` and the redacted ``reason`` to the queue log)."""
        if agent_id not in self.agents:
            raise AcdError("unknown-agent", agent_id)
        before, after = await self.store.reset(agent_id, by, self.redact(reason), self.clock())
        logger.info("agent %s reset by %s: %s -> %s", agent_id, by, before.value, after.value)

    async def force_logout(self, agent_id: str, by: str, role: str) -> None:
        """Log the agent out and audit it as a forced logout."""
        if agent_id not in self.agents:
            raise AcdError("unknown-agent", agent_id)
        with _refusals():
            await self.store.logout(agent_id, self.clock())
        await audit(
            self.store.redis,
            self.store.keys,
            actor=by,
            role=role,
            action=AuditAction.FORCED_LOGOUT,
            target=agent_id,
            reason="",
            now=datetime.fromtimestamp(self.clock(), UTC),
        )

    async def force_pause(self, agent_id: str, by: str, role: str, reason: str) -> None:
        """Pause the agent with the redacted ``reason`` (in the queue log's PAUSE entries) and
        audit it as a forced pause."""
        if agent_id not in self.agents:
            raise AcdError("unknown-agent", agent_id)
        kept = self.redact(reason)
        with _refusals():
            await self.store.pause(agent_id, kept, self.clock())
        await audit(
            self.store.redis,
            self.store.keys,
            actor=by,
            role=role,
            action=AuditAction.FORCED_PAUSE,
            target=agent_id,
            reason=kept,
            now=datetime.fromtimestamp(self.clock(), UTC),
        )
        logger.info("agent %s paused by %s", agent_id, by)

    async def monitor(self, call_id: str, by: str, role: str, mode: str) -> str:
        """The ACD's monitor request (``acd.monitoring``: checked, audited, sent to the
        call's instance)."""
        return await request_monitor(
            self.store, self.agents, call_id, by, role, MonitorMode(mode), self.clock()
        )

    async def unmask(self, call_id: str, by: str, role: str, reason: str) -> Unmasked:
        """The vault's unmask of the call's caller (audited there, never with the number)."""
        records = Records(self.store.redis, self.store.keys)
        caller = await records.caller(call_id) or await records.callback(call_id)
        if caller is None or not caller.caller_ref:
            raise Refused("no-such-call", call_id)
        now = datetime.fromtimestamp(self.clock(), UTC)
        try:
            number = await self.vault.unmask(
                caller.caller_ref, actor=by, role=role, reason=self.redact(reason), now=now
            )
        except NotInVault:
            raise Refused("no-such-ref", call_id) from None
        except UnmaskRefused as exc:
            raise Refused("unmask-refused", str(exc)) from None
        logger.info("console: %s unmasked the caller of %s", by, call_id)
        return Unmasked(number, caller.pseudonym)

    async def audit(self, count: int) -> list[AuditLine]:
        """The vault's audit trail."""
        records = await self.vault.audit_log(count)
        return [
            AuditLine(r.at.isoformat(), r.actor, r.role, r.reason, r.pseudonym) for r in records
        ]


class AcdCalls:
    """Transfers of a volunteer's connected call through the ACD store (as the staff API's
    ``POST /acd/calls/{id}/transfer`` does for the call's agent)."""

    def __init__(self, store: AcdStore, agents: Mapping[str, AgentProfile]) -> None:
        self.store, self.agents = store, agents

    def queues(self) -> tuple[str, ...]:
        """The store's queues."""
        return tuple(self.store.queues)

    async def _check(self, agent_id: str, call_id: str) -> None:
        found = await parties(self.store, call_id)
        if found.agent != agent_id or found.state != "connected":
            raise Refused("not-your-call", call_id)

    async def to_queue(self, agent_id: str, call_id: str, queue: str) -> None:
        """Request the transfer from the call's owner instance."""
        await self._check(agent_id, call_id)
        await request_transfer(self.store, call_id, Transfer(TransferKind.QUEUE, queue))
        logger.info("%s: %s transferred it to queue %s", call_id, agent_id, queue)

    async def hang_up(self, agent_id: str, call_id: str) -> None:
        """Ask the call's owner instance to hang up the agent's leg."""
        try:
            await request_hangup(self.store, call_id, agent_id)
        except AcdError as exc:
            raise Refused("not-your-call", call_id) from exc
        logger.info("%s: %s asked to hang up", call_id, agent_id)

    async def to_supervisor(self, agent_id: str, call_id: str) -> str:
        """The first available supervisor (by id) who takes queue calls is rung."""
        await self._check(agent_id, call_id)
        for profile in sorted(self.agents.values(), key=lambda p: p.id):
            if profile.role != "supervisor" or profile.nailed_up or profile.id == agent_id:
                continue
            view = await self.store.agent(profile.id)
            if view is not None and view.state is AgentState.AVAILABLE:
                transfer = Transfer(TransferKind.AGENT, profile.id)
                await request_transfer(self.store, call_id, transfer)
                logger.info("%s: %s transferred it to %s", call_id, agent_id, profile.id)
                return profile.id
        raise Refused("no-supervisor-available", call_id)


class RecordsWrapups:
    """Wrap-ups through the records store, with each queue's dispositions and flags."""

    def __init__(self, wrapups: Wrapups) -> None:
        self.wrapups = wrapups

    def dispositions(self, queue: str) -> tuple[str, ...]:
        """The queue file's dispositions."""
        rules = self.wrapups.queues.get(queue)
        return rules.dispositions if rules else ()

    def flags(self, queue: str) -> tuple[str, ...]:
        """The queue file's flags."""
        rules = self.wrapups.queues.get(queue)
        return rules.flags if rules else ()

    async def write(
        self, call_id: str, agent_id: str, disposition: str, notes: str, flags: Sequence[str]
    ) -> None:
        """Store the wrap-up (notes scrubbed of phone and card numbers by the records side)."""
        await self.wrapups.write(call_id, agent_id, disposition, notes, flags)

    async def earlier(self, call_id: str, agent_id: str) -> Earlier | None:
        """The records store's contact history of the call's caller."""
        try:
            found = await self.wrapups.history(call_id, agent_id)
        except (ApiError, SQLAlchemyError, OSError) as exc:
            logger.info("%s: no contact history for the console: %s", call_id, exc)
            return None
        return _earlier(found)

    async def texter_earlier(self, conversation_id: str) -> Earlier | None:
        """The records store's contact history of the conversation's texter."""
        try:
            found = await self.wrapups.history(conversation_id)
        except (ApiError, SQLAlchemyError, OSError) as exc:
            logger.info("conversation %s: no contact history: %s", conversation_id, exc)
            return None
        return _earlier(found)


def _earlier(found: History) -> Earlier:
    return Earlier(found.earlier_contacts, tuple(found.last_dispositions), tuple(found.flags))


class TelethonPledges:
    """The pledge form through the pledges service and its payment links through the payment
    desk, with the API's parsing and rules; a database that is away is 503
    records-unavailable."""

    def __init__(
        self, pledges: Pledges, payments: PaymentDesk, campaigns: Mapping[str, Campaign]
    ) -> None:
        self.pledges, self.payments = pledges, payments
        self._queues = frozenset(campaign.queue for campaign in campaigns.values())

    def queues(self) -> frozenset[str]:
        """The campaigns' operator queues."""
        return self._queues

    async def form(self, call_id: str, agent_id: str) -> Mapping[str, object]:
        """The service's prefilled form."""
        with _records_away():
            return (await self.pledges.prefill(call_id, agent_id)).to_dict()

    async def save(
        self, call_id: str, agent_id: str, client_key: str, body: Mapping[str, object]
    ) -> SavedPledge:
        """The service's save, once per ``client_key``."""
        form = parse_form(dict(body))
        with _records_away():
            saved = await self.pledges.save(call_id, agent_id, client_key, form)
        return SavedPledge(saved.pledge.to_dict(), saved.created)

    async def correct(
        self, pledge_id: str, agent_id: str, body: Mapping[str, object]
    ) -> Mapping[str, object]:
        """The service's correction."""
        form = parse_form(dict(body))
        with _records_away():
            return (await self.pledges.correct(pledge_id, agent_id, form)).to_dict()

    async def send_link(self, pledge_id: str, agent_id: str) -> Mapping[str, object]:
        """The payment desk's link, made and texted once."""
        with _records_away():
            return (await self.payments.send_link(pledge_id, agent_id)).to_dict()


@contextlib.contextmanager
def _records_away() -> Iterator[None]:
    try:
        yield
    except (SQLAlchemyError, OSError) as exc:
        raise ApiError(503, "records-unavailable", type(exc).__name__) from None


#: Most recently active conversations searched for the open ones a supervisor oversees.
OVERSEEN_CHATS: Final = 1000
#: Seconds a supervisor's reading of a conversation is audited once for.
READ_AUDIT_S: Final = 300


class SmsChats:
    """The volunteers' text conversations through the SMS conversation service, with their
    queue's canned replies in the conversation's language (``acd.config.canned_replies``;
    ``default_language`` is the line's)."""

    def __init__(
        self,
        conversations: Conversations,
        queues: Mapping[str, QueueConfig],
        default_language: str,
    ) -> None:
        self.conversations, self.queues = conversations, queues
        self.default_language = default_language

    async def held(self, agent_id: str) -> list[ChatView]:
        """The service's conversations of the agent, oldest first."""
        found = await self.conversations.of_agent(agent_id)
        return [await self._view(c) for c in sorted(found, key=lambda c: c.opened_at)]

    async def view(self, conversation_id: str) -> ChatView | None:
        """The conversation and its messages (numbers already cut out by the service)."""
        found = await self.conversations.get(conversation_id)
        return await self._view(found) if found else None

    async def open_ones(self) -> list[ChatView]:
        """The service's open conversations among the ``OVERSEEN_CHATS`` most recently
        active, without their messages."""
        found = await self.conversations.recent_open(OVERSEEN_CHATS)
        return [
            ChatView(c.id, c.pseudonym, c.queue, c.state.value, c.agent or "", ()) for c in found
        ]

    async def audit_reading(self, conversation_id: str, by: str, role: str) -> None:
        """A ``read-conversation`` entry in the staff audit stream, at most once per
        ``READ_AUDIT_S`` seconds per reader and conversation."""
        service = self.conversations
        key = service.keys.console_read(by, conversation_id)
        if not await service.redis.set(key, "1", nx=True, ex=READ_AUDIT_S):
            return
        await audit(
            service.redis,
            service.keys,
            actor=by,
            role=role,
            action=AuditAction.READ_CONVERSATION,
            target=conversation_id,
            reason="",
            now=datetime.fromtimestamp(service.clock(), UTC),
        )
        logger.info("conversation %s: read by %s", conversation_id, by)

    async def reply(self, conversation_id: str, agent_id: str, text: str) -> None:
        """The service's reply from the console: the outbox, its rate limits and its cap."""
        with _refused_conversation():
            await self.conversations.reply(conversation_id, agent_id, text, via="console")

    async def end(self, conversation_id: str, agent_id: str) -> None:
        """The service's end of the conversation."""
        with _refused_conversation():
            await self.conversations.end(conversation_id, agent_id)

    async def call_back(self, conversation_id: str, agent_id: str) -> str:
        """The service's call-back request, as ``#call`` makes it."""
        with _refused_conversation():
            request = await self.conversations.request_callback(conversation_id, agent_id)
        return request.reference

    async def _view(self, conversation: Conversation) -> ChatView:
        messages = await self.conversations.messages(conversation.id)
        queue = self.queues.get(conversation.queue)
        return ChatView(
            conversation.id,
            conversation.pseudonym,
            conversation.queue,
            conversation.state.value,
            conversation.agent or "",
            tuple(ChatLine(m.at, m.author, m.body) for m in messages),
            canned_replies(queue, conversation.language, self.default_language) if queue else (),
        )


@contextlib.contextmanager
def _refused_conversation() -> Iterator[None]:
    try:
        yield
    except ConversationError as exc:
        raise ApiError(exc.status, exc.error) from None


def console_accounts(profiles: Iterable[AgentProfile]) -> Accounts:
    """Every agent as a console account, with their role and the file's password hash."""
    return Accounts(
        Account(p.id, p.name, p.role, p.password_hash, frozenset(p.supervises)) for p in profiles
    )
