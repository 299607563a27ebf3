"""Chat tasks on the ACD: SMS conversations offered to volunteers, several at once.

One Lua script (``acd/lua/chat.lua``) does every change atomically, so two app instances never
give one agent more conversations than its ``chat_capacity`` nor one conversation to two
agents; it logs each assignment on the conversation log for the records in the same step.
An agent takes chats of a queue while the ACD's agent hash (written by ``acd/lua/agent.lua``)
shows it logged into that queue and not paused; the least-loaded agent is picked first.
Conversations with no free agent wait in the queue and are handed out when a slot frees (a
conversation ends or moves) or on :meth:`ChatRouter.dispatch`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, cast

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from acd.config import AgentProfile
from acd.model import AcdError
from core import lua
from core.keys import CONVERSATION_LOG_MAXLEN, Keys
from core.ports import Assignment, ChatResult, ChatState

SCRIPT: Final = lua.source("acd", "chat")


class ChatRouter:
    """Assigns conversations to agents of chat queues (``core.ports.ChatRouting``); ``agents``
    are the agent file's."""

    def __init__(
        self, redis: aioredis.Redis, keys: Keys, agents: Mapping[str, AgentProfile]
    ) -> None:
        self.redis, self.keys = redis, keys
        self._script = redis.register_script(SCRIPT)
        members: dict[str, list[list[str | int]]] = {}
        for profile in agents.values():
            for queue in profile.queues:
                members.setdefault(queue, []).append([profile.id, profile.chat_capacity])
        self._members = json.dumps(members)

    async def offer(self, conversation_id: str, queue: str, now: float) -> ChatResult:
        """Give a new conversation to the least-loaded free agent of ``queue``, or let it wait
        (offering an assigned or waiting conversation again changes nothing)."""
        return _result(await self._run(now, op="offer", conv=conversation_id, queue=queue))

    async def finish(self, conversation_id: str, now: float, ttl: int) -> ChatResult:
        """End a conversation, freeing its agent's slot for the queue's next waiting one; the
        task is kept ``ttl`` seconds."""
        return _result(await self._run(now, op="finish", conv=conversation_id, ttl=ttl))

    async def transfer(
        self, conversation_id: str, now: float, *, queue: str = "", agent: str = ""
    ) -> ChatResult:
        """Move a conversation to ``agent`` (who needs a free slot in the queue, AcdError
        "agent-unavailable" otherwise) or to the next free agent of ``queue``."""
        raw = await self._run(now, op="transfer", conv=conversation_id, queue=queue, agent=agent)
        return _result(raw)

    async def dispatch(self, queue: str, now: float) -> tuple[Assignment, ...]:
        """Hand waiting conversations of ``queue`` to agents with free slots (after logins)."""
        return _assigned(await self._run(now, op="dispatch", queue=queue))

    async def agent_of(self, conversation_id: str) -> str | None:
        """The agent holding a conversation, or None."""
        agent = cast(str | None, await self.redis.hget(self.keys.chat(conversation_id), "agent"))
        return agent or None

    async def conversations(self, agent_id: str) -> list[str]:
        """The conversations an agent holds."""
        return sorted(cast(set[str], await self.redis.smembers(self.keys.chat_agent(agent_id))))

    async def _run(self, now: float, **args: Any) -> dict[str, Any]:
        try:
            raw = await self._script(
                keys=[self.keys.acd, self.keys.conversation_log],
                args=[now, json.dumps(args), self._members, CONVERSATION_LOG_MAXLEN],
            )
        except ResponseError as exc:
            raise _error(exc) from None
        return cast(dict[str, Any], json.loads(raw))


async def drop(client: aioredis.Redis, keys: Keys, conversation_id: str) -> None:
    """Forget a conversation's task and free its slot (retention)."""
    script = client.register_script(SCRIPT)
    args: list[str | int] = [
        0,
        json.dumps({"op": "drop", "conv": conversation_id}),
        "{}",
        CONVERSATION_LOG_MAXLEN,
    ]
    try:
        await script(keys=[keys.acd, keys.conversation_log], args=args)
    except ResponseError as exc:
        raise _error(exc) from None


def _assigned(data: Mapping[str, Any]) -> tuple[Assignment, ...]:
    # cjson encodes an empty array as {}.
    return tuple(Assignment(conv, agent) for conv, agent in data["assigned"] or [])


def _result(data: Mapping[str, Any]) -> ChatResult:
    return ChatResult(
        state=ChatState(data["state"]),
        queue=data["queue"],
        agent_id=data["agent"] or None,
        assigned=_assigned(data),
    )


def _error(exc: ResponseError) -> AcdError:
    code, _, detail = str(exc).partition("ACD ")[2].partition(" ")
    return AcdError(code or "chat-script", detail or str(exc))
