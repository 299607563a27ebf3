"""SMS conversations between an anonymous caller and a volunteer, through the hotline number.

An inbound SMS from a caller opens a conversation (keyed by the caller's vault ref) or continues
the open one; a new conversation gets an automatic "message received" reply and is offered to a
volunteer as a chat task (the ACD's, through ``core.ports.ChatRouting``). A volunteer works it
from the console API (``sms.console``) or, if listed in the relay file, on their own phone: the
caller's texts are relayed to them prefixed with the caller's pseudonym, and their replies come
back to the hotline number and are relayed to the caller. The caller sees only the hotline
number, the volunteer only the pseudonym. A relayed volunteer's replies go to the conversation
last relayed to them; "#end" ends it and "#call" asks for a call-back, put on the
``{prefix}:voice:requests`` stream for the ARI side (refs only) and confirmed to the caller as a
recorded request.

Openings, assignments and ends go to the conversation log stream (``Keys.conversation_log``)
for the records, each in the same script as the state change (an assignment in the ACD's chat
script, ``acd/lua/chat.lua``), so a crash between the two cannot lose it: the caller by
keyed reference (``h:`` and the ref's first 12 hex digits, as the IVR journal names a caller),
never a number or a message.

Phone numbers written in messages are cut out (``sms.redact``) before anything is stored or
relayed. Each message and assignment also puts the conversation's id and its holder on the
conversation feed (``Keys.conversation_feed``), which the consoles' chat panels follow, and a
transfer its former holder.
Conversation content expires after ``sms.retention_seconds`` and is purged by
:func:`purge_conversations`.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, cast

import redis.asyncio as aioredis

from core import lua
from core.config import Settings
from core.keys import CONVERSATION_FEED_MAXLEN, CONVERSATION_LOG_MAXLEN, Keys
from core.ports import Assignment, ChatRouting, DropChat, Refused, TexterCalls
from core.privacy import InvalidNumber, Vault
from sms.inbound import InboundSms
from sms.outbox import Outbox
from sms.redact import redact_numbers
from sms.relay import RelayBook, RelayVolunteer
from sms.requests import Request, RequestDesk
from sms.segments import MAX_CHARS, clip
from sms.sip_devices import SipDevices
from sms.templates import Templates

logger = logging.getLogger(__name__)

SUBJECT = "conversation:"

#: Scripts in ``sms/lua/`` (their keys and arguments are documented there).
_OPEN: Final = lua.source("sms", "conversation_open")
_END: Final = lua.source("sms", "conversation_end")
_PURGE: Final = lua.source("sms", "conversation_purge")

# Volunteer commands, as a whole message (any case).
END_COMMAND = "#end"
CALL_COMMAND = "#call"
#: The refusal of a call-back asked by a volunteer who is not available for a call.
NOT_AVAILABLE = "not-available"


class ConversationState(StrEnum):
    """Whether a caller's texts still go to this conversation."""

    OPEN = "open"
    ENDED = "ended"


@dataclass(frozen=True)
class Conversation:
    """A conversation as staff see it: pseudonym, never a number or a ref."""

    id: str
    pseudonym: str
    language: str
    state: ConversationState
    queue: str
    agent: str | None
    opened_at: float
    last_at: float

    def public(self) -> dict[str, Any]:
        """The JSON the console API answers."""
        return {**asdict(self), "state": self.state.value}


@dataclass(frozen=True)
class ChatMessage:
    """One message: ``author`` is "caller", "agent" (``agent`` says who) or "system"."""

    at: float
    author: str
    agent: str
    body: str
    via: str


class ConversationError(Exception):
    """A refused operation: an HTTP status and a machine-readable id."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status, self.error = status, error


class Conversations:
    """The conversation service: inbound SMS in, chat tasks, relays and replies out."""

    def __init__(
        self,
        *,
        redis: aioredis.Redis,
        settings: Settings,
        vault: Vault,
        outbox: Outbox,
        router: ChatRouting,
        templates: Templates,
        requests: RequestDesk,
        relay: RelayBook,
        devices: SipDevices | None = None,
        texter_calls: TexterCalls | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``texter_calls``: holds a volunteer who asks to call a texter (None: no ACD here,
        nobody is held)."""
        self.redis, self.settings, self.vault, self.outbox = redis, settings, vault, outbox
        self.devices, self.texter_calls = devices, texter_calls
        self.router, self.templates, self.requests, self.relay = router, templates, requests, relay
        self.keys = Keys(settings.redis.prefix)
        self.clock = clock
        self.ttl = settings.sms.retention_seconds
        self._open = redis.register_script(_OPEN)
        self._end = redis.register_script(_END)

    # Inbound SMS

    async def on_inbound(self, message: InboundSms) -> None:
        """``sms.http``'s handover: a volunteer's reply or command, or a caller's text."""
        agent_id = self.relay.by_sender.get(message.sender_key)
        if agent_id is not None:
            await self._from_volunteer(agent_id, message.sid, message.body)
            return
        now = self.clock()
        try:  # A first contact by SMS is taken to speak the first configured language.
            entry = await self.vault.store(
                message.sender, self.settings.ivr.languages[0], now=_dt(now)
            )
        except InvalidNumber:
            logger.warning("sms inbound %s: the sender is not a phone number; ignored", message.sid)
            return
        conv_id, new = await self._open_for(entry.ref, entry.pseudonym, entry.language, now)
        index = await self._append(conv_id, now, "caller", "", message.body, "sms")
        logger.info("conversation %s: message from %s (%s)", conv_id, entry.pseudonym, message.sid)
        if new:
            await self.outbox.enqueue_ref(
                entry.ref,
                self.settings.sms.from_number,
                self.templates.render("message_received", entry.language),
                idempotency_key=f"auto:{conv_id}",
                kind="auto-reply",
                language=entry.language,
                subject=f"{SUBJECT}{conv_id}",
            )
            result = await self.router.offer(conv_id, self.settings.sms.chat_queue, now)
            logger.info("conversation %s: opened, %s", conv_id, result.state)
            await self._assigned(result.assigned)
            return
        agent = await self.router.agent_of(conv_id)
        if agent is not None:
            await self._relay(conv_id, agent, index)

    async def open_from_call(
        self,
        caller_ref: str,
        pseudonym: str,
        language: str,
        waiting_since: float,
        context: Mapping[str, str],
    ) -> str:
        """A caller leaves the voice queue to go on by text: open (or continue) their
        conversation with the call's context, placed by when they started waiting so that they
        keep their place, and tell them by SMS that they can write. Returns its id."""
        now = self.clock()
        conv_id, _ = await self._open_for(caller_ref, pseudonym, language, now)
        summary = ", ".join(f"{name}={value}" for name, value in sorted(context.items()))
        await self._append(conv_id, now, "system", "", f"from a call: {summary}", "voice")
        await self.outbox.enqueue_ref(
            caller_ref,
            self.settings.sms.from_number,
            self.templates.render("switched_to_text", language),
            idempotency_key=f"voice:{conv_id}:{context.get('call', '')}",
            kind="auto-reply",
            language=language,
            subject=f"{SUBJECT}{conv_id}",
        )
        result = await self.router.offer(conv_id, self.settings.sms.chat_queue, waiting_since)
        await self._assigned(result.assigned)
        return conv_id

    async def _open_for(
        self, caller_ref: str, pseudonym: str, language: str, now: float
    ) -> tuple[str, bool]:
        """The caller's open conversation, or a new one: (id, whether it is new)."""
        fields = {
            "id": uuid.uuid4().hex,
            "caller_ref": caller_ref,
            "pseudonym": pseudonym,
            "language": language,
            "queue": self.settings.sms.chat_queue,
            "state": ConversationState.OPEN.value,
            "opened_at": str(now),
            "last_at": str(now),
        }
        logged = {
            "event": "open",
            "id": fields["id"],
            "caller": f"h:{caller_ref[:12]}",
            "pseudonym": pseudonym,
            "language": language,
            "queue": fields["queue"],
            "at": str(now),
        }
        conv_id, new = cast(
            list[Any],
            await self._open(
                keys=[
                    self.keys.open_conversation(caller_ref),
                    self.keys.conversation(fields["id"]),
                    self.keys.conversation_index,
                    self.keys.conversation_log,
                ],
                args=[
                    fields["id"],
                    self.ttl,
                    now,
                    json.dumps(fields),
                    json.dumps(logged),
                    CONVERSATION_LOG_MAXLEN,
                ],
            ),
        )
        return str(conv_id), bool(new)

    async def on_device_text(self, sid: str, device: str, body: str) -> None:
        """A text from a SIP device, authenticated as ``device`` by the SIP proxy: the reply
        or command of the volunteer relayed to it, else ignored."""
        agent_id = next(
            (v.agent_id for v in self.relay.by_agent.values() if v.device == device), None
        )
        if agent_id is None:
            logger.warning("sms inbound %s: device %s relays no volunteer; ignored", sid, device)
            return
        await self._from_volunteer(agent_id, sid, clip(body))

    async def _from_volunteer(self, agent_id: str, sid: str, body: str) -> None:
        current = cast(str | None, await self.redis.get(self.keys.relay_current(agent_id)))
        if current is None or await self.router.agent_of(current) != agent_id:
            logger.info("sms inbound %s: relay volunteer %s has no conversation", sid, agent_id)
            await self._to_volunteer(agent_id, "relay_unknown", f"none:{sid}")
            return
        command = body.strip().casefold()
        if command == END_COMMAND:
            await self.end(current, agent_id)
            logger.info("conversation %s: %s ended it by SMS", current, agent_id)
        elif command == CALL_COMMAND:
            template = "relay_callback"
            try:
                await self.request_callback(current, agent_id)
            except ConversationError as exc:
                if exc.error != NOT_AVAILABLE:
                    raise
                template = "relay_callback_refused"
            conversation = await self._require(current)
            await self._to_volunteer(
                agent_id, template, f"call:{sid}", pseudonym=conversation.pseudonym
            )
        else:
            await self.reply(current, agent_id, body, via="sms")

    async def dispatch(self) -> None:
        """Hand waiting conversations to agents who became free (call it on the ACD's tick:
        logins and resumes do not assign chats by themselves)."""
        now = self.clock()
        await self._assigned(await self.router.dispatch(self.settings.sms.chat_queue, now))

    # Console and relay operations

    async def get(self, conversation_id: str) -> Conversation | None:
        """A conversation, or None if unknown or purged."""
        raw = cast(
            dict[str, str], await self.redis.hgetall(self.keys.conversation(conversation_id))
        )
        if not raw:
            return None
        return Conversation(
            id=raw["id"],
            pseudonym=raw["pseudonym"],
            language=raw["language"],
            state=ConversationState(raw["state"]),
            queue=raw["queue"],
            agent=await self.router.agent_of(conversation_id),
            opened_at=float(raw["opened_at"]),
            last_at=float(raw["last_at"]),
        )

    async def of_agent(self, agent_id: str) -> list[Conversation]:
        """The conversations an agent holds."""
        found = [await self.get(c) for c in await self.router.conversations(agent_id)]
        return [c for c in found if c is not None]

    async def recent_open(self, most: int) -> list[Conversation]:
        """The open conversations among the ``most`` most recently active, most recent
        first."""
        index = self.keys.conversation_index
        ids = cast(list[str], await self.redis.zrevrange(index, 0, most - 1))
        found = [await self.get(c) for c in ids]
        return [c for c in found if c is not None and c.state is ConversationState.OPEN]

    async def messages(self, conversation_id: str) -> list[ChatMessage]:
        """A conversation's messages, oldest first."""
        await self._require(conversation_id)
        raw = cast(
            list[str],
            await self.redis.lrange(self.keys.conversation_messages(conversation_id), 0, -1),
        )
        return [ChatMessage(**json.loads(item)) for item in raw]

    async def reply(self, conversation_id: str, agent_id: str, text: str, *, via: str) -> str:
        """Send ``text`` from the agent holding the conversation to its caller, from the
        hotline number; the outbound message id."""
        conversation = await self._held(conversation_id, agent_id)
        if not text.strip():
            raise ConversationError(400, "empty-text")
        if len(text) > MAX_CHARS:
            raise ConversationError(413, "text-too-long")
        now = self.clock()
        index = await self._append(conversation_id, now, "agent", agent_id, text, via)
        body = redact_numbers(text, self.settings.privacy.default_region)
        message_id = await self.outbox.enqueue_ref(
            await self.caller_ref(conversation_id),
            self.settings.sms.from_number,
            body,
            idempotency_key=f"reply:{conversation_id}:{index}",
            kind="reply",
            language=conversation.language,
            subject=f"{SUBJECT}{conversation_id}",
        )
        logger.info(
            "conversation %s: %s replied (%s), sms %s", conversation_id, agent_id, via, message_id
        )
        return message_id

    async def end(self, conversation_id: str, agent_id: str | None) -> Conversation:
        """End a conversation (``agent_id`` None: a supervisor); its slot goes to the next
        waiting conversation. The caller's next text opens a new conversation."""
        conversation = (
            await self._held(conversation_id, agent_id)
            if agent_id is not None
            else await self._require(conversation_id)
        )
        now = self.clock()
        keys = [
            self.keys.conversation(conversation_id),
            self.keys.open_conversation(await self.caller_ref(conversation_id)),
            self.keys.conversation_log,
        ]
        args: list[str | float] = [conversation_id, now, agent_id or "", CONVERSATION_LOG_MAXLEN]
        if not await self._end(keys=keys, args=args):
            raise ConversationError(409, "conversation-ended")
        await self._append(conversation_id, now, "system", agent_id or "", "ended", "console")
        result = await self.router.finish(conversation_id, now, self.ttl)
        holder = conversation.agent
        if holder is not None and holder in self.relay.by_agent:
            await self._to_volunteer(
                holder, "relay_ended", f"end:{conversation_id}", pseudonym=conversation.pseudonym
            )
        logger.info("conversation %s: ended by %s", conversation_id, agent_id or "a supervisor")
        await self._assigned(result.assigned)
        return await self._require(conversation_id)

    async def transfer(
        self, conversation_id: str, agent_id: str | None, *, to_agent: str = "", to_queue: str = ""
    ) -> Conversation:
        """Move a conversation to another agent or queue (``agent_id`` None: a supervisor)."""
        if agent_id is not None:
            await self._held(conversation_id, agent_id)
        conversation = await self._require(conversation_id)
        if conversation.state is not ConversationState.OPEN:
            raise ConversationError(409, "conversation-ended")
        try:
            result = await self.router.transfer(
                conversation_id, self.clock(), queue=to_queue, agent=to_agent
            )
        except Refused as exc:
            raise ConversationError(409, exc.code) from None
        logger.info("conversation %s: transferred, %s", conversation_id, result.state)
        if conversation.agent is not None and conversation.agent != result.agent_id:
            await _feed(self.redis, self.keys, conversation_id, conversation.agent)  # gone
        await self._assigned(result.assigned)
        return await self._require(conversation_id)

    async def request_callback(self, conversation_id: str, agent_id: str) -> Request:
        """Take the volunteer out of queue routing for the call (409 ``not-available`` if
        they are paused, on a call or logged out: nothing is recorded), record a call-back
        request for the caller (confirmed to them by SMS) and put it on the voice request
        stream for the ARI side."""
        conversation = await self._held(conversation_id, agent_id)
        now = self.clock()
        caller_ref = await self.caller_ref(conversation_id)
        call_id = f"txt{uuid.uuid4().hex[:12]}"
        if self.texter_calls is not None:
            try:
                await self.texter_calls.hold(call_id, agent_id, now)
            except Refused as exc:
                logger.info("conversation %s: call-back refused: %s", conversation_id, exc)
                raise ConversationError(409, NOT_AVAILABLE) from None
        try:
            request = await self._put_callback(conversation, caller_ref, call_id, agent_id, now)
        except Exception:
            if self.texter_calls is not None:
                await self.texter_calls.release(call_id, agent_id, now)
            raise
        await self._append(conversation_id, now, "system", agent_id, "call-back requested", "sms")
        logger.info(
            "conversation %s: call-back %s requested by %s", conversation_id, request.id, agent_id
        )
        return request

    async def _put_callback(
        self, conversation: Conversation, caller_ref: str, call_id: str, agent_id: str, now: float
    ) -> Request:
        """Record the request and put it on the voice request stream."""
        conversation_id = conversation.id
        request = await self.requests.record_request(
            "callback",
            caller_ref,
            conversation.language,
            {"conversation": conversation_id, "agent": agent_id},
            _dt(now),
        )
        await self.redis.xadd(
            self.keys.voice_requests,
            {
                "kind": "callback",
                "call": call_id,
                "request": request.id,
                "reference": request.reference,
                "conversation": conversation_id,
                "caller_ref": caller_ref,
                "pseudonym": conversation.pseudonym,
                "language": conversation.language,
                "agent": agent_id,
                "queue": conversation.queue,
                "requested_at": str(now),
            },
            maxlen=100_000,
            approximate=True,
        )
        return request

    # Internals

    async def _append(
        self, conversation_id: str, now: float, author: str, agent: str, body: str, via: str
    ) -> int:
        """Store a message (numbers cut out) and tell the feed; its index in the
        conversation."""
        text = redact_numbers(body, self.settings.privacy.default_region)
        record = {"at": now, "author": author, "agent": agent, "body": text, "via": via}
        messages = self.keys.conversation_messages(conversation_id)
        holder = await self.router.agent_of(conversation_id) or ""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(messages, json.dumps(record, ensure_ascii=False))
            _feed(pipe, self.keys, conversation_id, holder)
            pipe.expire(messages, self.ttl)
            pipe.hset(self.keys.conversation(conversation_id), "last_at", str(now))
            pipe.expire(self.keys.conversation(conversation_id), self.ttl)
            pipe.zadd(self.keys.conversation_index, {conversation_id: now})
            length, *_ = await pipe.execute()
        return int(length) - 1

    async def _assigned(self, assignments: tuple[Assignment, ...]) -> None:
        """Newly assigned conversations (the chat script has logged them for the records): a
        relayed volunteer gets the caller's texts so far."""
        for assignment in assignments:
            await _feed(self.redis, self.keys, assignment.conversation_id, assignment.agent_id)
            logger.info(
                "conversation %s: assigned to %s", assignment.conversation_id, assignment.agent_id
            )
            if assignment.agent_id not in self.relay.by_agent:
                continue
            for index, message in enumerate(await self.messages(assignment.conversation_id)):
                if message.author == "caller":
                    await self._relay(assignment.conversation_id, assignment.agent_id, index)

    async def _relay(self, conversation_id: str, agent_id: str, index: int) -> None:
        """Text message ``index`` of a conversation to its relayed volunteer, prefixed with
        the caller's pseudonym; their replies now go to this conversation."""
        volunteer = self.relay.by_agent.get(agent_id)
        if volunteer is None:
            return
        conversation = await self._require(conversation_id)
        raw = await self.redis.lindex(self.keys.conversation_messages(conversation_id), index)
        message = ChatMessage(**json.loads(cast(str, raw)))
        await self.redis.set(self.keys.relay_current(agent_id), conversation_id, ex=self.ttl)
        body = clip(f"[{conversation.pseudonym}] {message.body}")
        await self._send(volunteer, body, f"relay:{conversation_id}:{agent_id}:{index}")

    async def _to_volunteer(self, agent_id: str, template: str, key: str, **values: str) -> None:
        volunteer = self.relay.by_agent[agent_id]
        body = self.templates.render(template, volunteer.language, **values)
        await self._send(volunteer, body, f"volunteer:{agent_id}:{key}")

    async def _send(self, volunteer: RelayVolunteer, body: str, key: str) -> None:
        """Text a relayed volunteer from the hotline number: by SMS through the outbox, or as a
        SIP MESSAGE to their device (at most once: ``key`` only dedupes SMS)."""
        if not volunteer.device:
            await self.outbox.enqueue(
                volunteer.number,
                self.settings.sms.from_number,
                body,
                idempotency_key=key,
                kind="relay",
                language=volunteer.language,
            )
        elif self.devices is None:
            logger.error("sms relay: %s has a device but no ARI sends to it", volunteer.agent_id)
        else:
            await self.devices.send(volunteer.device, body)

    async def _require(self, conversation_id: str) -> Conversation:
        conversation = await self.get(conversation_id)
        if conversation is None:
            raise ConversationError(404, "no-such-conversation")
        return conversation

    async def _held(self, conversation_id: str, agent_id: str) -> Conversation:
        """The conversation if it is open and ``agent_id`` holds it."""
        conversation = await self._require(conversation_id)
        if conversation.agent != agent_id:
            raise ConversationError(403, "not-your-conversation")
        if conversation.state is not ConversationState.OPEN:
            raise ConversationError(409, "conversation-ended")
        return conversation

    async def caller_ref(self, conversation_id: str) -> str:
        """The vault ref of the conversation's caller."""
        ref = await self.redis.hget(self.keys.conversation(conversation_id), "caller_ref")
        if ref is None:
            raise ConversationError(404, "no-such-conversation")
        return cast(str, ref)


async def purge_conversations(
    client: aioredis.Redis, keys: Keys, cutoff: float, drop_chat: DropChat
) -> int:
    """Remove conversations last active before ``cutoff`` (epoch seconds), their messages and
    chat tasks (``drop_chat``); how many were removed. ``client`` decodes responses."""
    script = client.register_script(_PURGE)
    index = keys.conversation_index
    stale = cast(list[str], await client.zrangebyscore(index, "-inf", f"({cutoff}"))
    purged = 0
    prefix = keys.open_conversation("")
    for conversation_id in stale:
        conv_keys = [
            keys.conversation(conversation_id),
            keys.conversation_messages(conversation_id),
            keys.conversation_index,
        ]
        if await script(keys=conv_keys, args=[conversation_id, cutoff, prefix]):
            await drop_chat(client, keys, conversation_id)
            purged += 1
    return purged


def _feed(
    client: aioredis.Redis, keys: Keys, conversation_id: str, agent_id: str
) -> Awaitable[Any]:
    """Put a change to a conversation held by ``agent_id`` ("" if none) on the feed."""
    return client.xadd(
        keys.conversation_feed,
        {"conversation": conversation_id, "agent": agent_id},
        maxlen=CONVERSATION_FEED_MAXLEN,
        approximate=True,
    )


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
