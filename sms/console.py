"""The volunteers' console API for SMS conversations (aiohttp routes under ``/chat/``).

The app's middleware has checked the bearer token; each handler requires the ``agent`` or
``supervisor`` role. An agent (its API actor name is its ACD agent id) acts on the
conversations it holds; a supervisor may read, end and transfer any (``?agent=ID`` lists an
agent's). Answers carry pseudonyms, never a number; a vault ref only from ``GET
/chat/conversations/{id}/ref``, for a supervisor, who unmasks with it (``POST
/privacy/unmask``).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from aiohttp import web

from core.api import ApiError
from core.auth import Principal, require_role
from sms.conversations import ConversationError, Conversations

ROLES = ("agent", "supervisor")
SUPERVISOR = "supervisor"
T = TypeVar("T")


def console_routes(conversations: Conversations) -> list[web.RouteDef]:
    """The console routes, to be added to the app's router."""
    api = _Console(conversations)
    base = "/chat/conversations"
    return [
        web.get(base, api.list),
        web.get(base + "/{id}", api.show),
        web.get(base + "/{id}/ref", api.ref),
        web.get(base + "/{id}/messages", api.messages),
        web.post(base + "/{id}/messages", api.reply),
        web.post(base + "/{id}/end", api.end),
        web.post(base + "/{id}/transfer", api.transfer),
        web.post(base + "/{id}/callback", api.callback),
    ]


class _Console:
    def __init__(self, conversations: Conversations) -> None:
        self.conversations = conversations

    async def list(self, request: web.Request) -> web.Response:
        """GET: the caller's conversations (a supervisor: ``?agent=ID``'s)."""
        who = require_role(request, *ROLES)
        agent = request.query.get("agent", who.actor) if who.role == SUPERVISOR else who.actor
        found = await self.conversations.of_agent(agent)
        return web.json_response({"conversations": [c.public() for c in found]})

    async def show(self, request: web.Request) -> web.Response:
        """GET: one conversation."""
        who = require_role(request, *ROLES)
        conversation = await self._visible(request, who)
        return web.json_response(conversation)

    async def ref(self, request: web.Request) -> web.Response:
        """GET (supervisor): the caller's vault ref, for ``POST /privacy/unmask``."""
        who = require_role(request, SUPERVISOR)
        conversation = await self._visible(request, who)
        ref = await _call(self.conversations.caller_ref(conversation["id"]))
        return web.json_response(
            {"conversation": conversation["id"], "ref": ref, "pseudonym": conversation["pseudonym"]}
        )

    async def messages(self, request: web.Request) -> web.Response:
        """GET: a conversation's messages, oldest first."""
        who = require_role(request, *ROLES)
        await self._visible(request, who)
        found = await _call(self.conversations.messages(request.match_info["id"]))
        return web.json_response({"messages": [vars(m) for m in found]})

    async def reply(self, request: web.Request) -> web.Response:
        """POST {"text"}: a reply to the caller from the agent holding the conversation (413
        ``text-too-long`` past 1,600 characters)."""
        who = require_role(request, *ROLES)
        text = await _field(request, "text")
        message_id = await _call(
            self.conversations.reply(request.match_info["id"], who.actor, text, via="console")
        )
        return web.json_response({"message_id": message_id}, status=202)

    async def end(self, request: web.Request) -> web.Response:
        """POST: end the conversation."""
        who = require_role(request, *ROLES)
        conversation = await _call(self.conversations.end(request.match_info["id"], _acting(who)))
        return web.json_response(conversation.public())

    async def transfer(self, request: web.Request) -> web.Response:
        """POST {"agent"} or {"queue"}: hand the conversation over."""
        who = require_role(request, *ROLES)
        body = await _body(request)
        agent, queue = str(body.get("agent", "")), str(body.get("queue", ""))
        if bool(agent) == bool(queue):
            raise ApiError(400, "bad-transfer", "give either 'agent' or 'queue'")
        conversation = await _call(
            self.conversations.transfer(
                request.match_info["id"], _acting(who), to_agent=agent, to_queue=queue
            )
        )
        return web.json_response(conversation.public())

    async def callback(self, request: web.Request) -> web.Response:
        """POST: ask for a call-back to the caller (the ARI side places it)."""
        who = require_role(request, *ROLES)
        recorded = await _call(
            self.conversations.request_callback(request.match_info["id"], who.actor)
        )
        return web.json_response(
            {"request": recorded.id, "reference": recorded.reference}, status=202
        )

    async def _visible(self, request: web.Request, who: Principal) -> dict[str, Any]:
        conversation = await self.conversations.get(request.match_info["id"])
        if conversation is None:
            raise ApiError(404, "no-such-conversation")
        if who.role != SUPERVISOR and conversation.agent != who.actor:
            raise ApiError(403, "not-your-conversation")
        return conversation.public()


def _acting(who: Principal) -> str | None:
    """The agent acting, or None for a supervisor (who may act on any conversation)."""
    return None if who.role == SUPERVISOR else who.actor


async def _body(request: web.Request) -> dict[str, Any]:
    body = await request.json()
    if not isinstance(body, dict):
        raise ApiError(400, "bad-body", "expected a JSON object")
    return body


async def _field(request: web.Request, name: str) -> str:
    value = (await _body(request)).get(name)
    if not isinstance(value, str):
        raise ApiError(400, "bad-body", f"'{name}' must be a string")
    return value


async def _call(operation: Awaitable[T]) -> T:
    try:
        return await operation
    except ConversationError as exc:
        raise ApiError(exc.status, exc.error) from None
