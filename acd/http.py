"""The ACD's HTTP API: agents sign in and out and pause, staff watch queues and move calls.

| method | path                          | role                    | body                       |
|--------|-------------------------------|-------------------------|----------------------------|
| POST   | /acd/agents/{agent_id}/login  | self, supervisor, admin | ``{"queues"?, "device"?}`` |
| POST   | /acd/agents/{agent_id}/logout | self, supervisor, admin |                            |
| POST   | /acd/agents/{agent_id}/pause  | self, supervisor, admin | ``{"reason", "queue"?}``   |
| POST   | /acd/agents/{agent_id}/resume | self, supervisor, admin | ``{"queue"?}``             |
| GET    | /acd/agents/{agent_id}        | self, supervisor, admin |                            |
| POST   | /acd/agents/{agent_id}/reset  | supervisor, admin       | ``{"reason"}``             |
| GET    | /acd/queues                   | any                     |                            |
| GET    | /acd/queues/{queue}           | any                     |                            |
| GET    | /acd/queue_log?count=N        | supervisor, admin       |                            |
| POST   | /acd/calls/{call_id}/transfer | call's agent, staff     | ``{"queue"}``/``{"agent"}``|
| GET    | /acd/calls/{call_id}/ref      | supervisor              |                            |
| POST   | /acd/calls/{call_id}/monitor  | supervisor              | ``{"mode"}``               |

Login's ``queues`` default to the profile's, ``device`` (an index into the profile's devices)
to 0. Pause and resume with a ``queue`` act on that queue only (``paused_in`` in the view).
Reset clears a stuck agent whatever its state (``AcdStore.reset``); the reason, with any phone
number in it redacted, goes to the queue log with the staff member's name.
A transfer is carried out by the app instance holding the call (202 Accepted): to a queue, the
call waits there with its priority and place by time; to an agent (a supervisor), that agent is
rung while the first stays on, and takes the call over on answering. Agent endpoints answer
with the agent's view (never its device, which may be a phone number); waiting calls appear
by pseudonym. A transfer by staff and a logout of someone else are written to the staff audit
stream (``core.audit``). A call's ref is the vault ref ``POST /privacy/unmask`` takes (never
the number), for a queued or connected caller or one to call back. A supervisor listens to,
whispers into or barges into a connected call of their queues (``mode`` listen, whisper or
barge; 202 Accepted) on their own phone, rung by the instance holding the call; each request
is audited first (``acd.monitoring``). Store refusals become
ApiError ids: 404 no-such-agent/queue/call, 409 with the store's code (not-member,
illegal-transition, ...).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, cast

from aiohttp import web

from acd.config import AgentProfile
from acd.model import AcdError, AgentView
from acd.monitor import MonitorMode
from acd.monitoring import SUPERVISES, request_monitor
from acd.records import Records
from acd.routing import AgentState, IllegalTransition
from acd.store import AcdStore
from acd.transfers import Transfer, TransferKind, parties, request_transfer
from core.api import ApiError, count_param, json_object
from core.audit import AuditAction, audit
from core.auth import PRINCIPAL_KEY, Handler, require_role

logger = logging.getLogger(__name__)

#: Roles that may act on any agent, read the queue log and transfer calls.
STAFF = ("supervisor", "admin")
#: Longest pause reason accepted.
MAX_REASON = 100
#: Store error codes that are not a 409 conflict: (HTTP status, API error id).
_ERRORS: Mapping[str, tuple[int, str]] = {
    "unknown-agent": (404, "no-such-agent"),
    "unknown-queue": (404, "no-such-queue"),
    "unknown-call": (404, "no-such-call"),
    "no-queues": (400, "bad-request"),
    "not-a-supervisor": (403, "not-a-supervisor"),
    "not-your-queue": (403, "not-your-queue"),
}


def _api(handler: Handler) -> Handler:
    """Turn the store's refusals into ApiErrors."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except IllegalTransition as exc:
            raise ApiError(409, IllegalTransition.code, str(exc)) from None
        except AcdError as exc:
            status, error = _ERRORS.get(exc.code, (409, exc.code))
            raise ApiError(status, error, exc.detail) from None

    return wrapped


def _agent_json(view: AgentView) -> dict[str, Any]:
    return {**asdict(view), "state": view.state.value, "queues": list(view.queues)}


def acd_routes(
    store: AcdStore,
    agents: Mapping[str, AgentProfile],
    clock: Callable[[], float],
    redact: Callable[[str], str],
) -> list[web.RouteDef]:
    """The ACD endpoints over ``store``; ``agents`` are the agent file's profiles by id,
    ``clock`` gives epoch seconds and ``redact`` cuts phone numbers out of a staff reason."""

    async def staff_audit(
        request: web.Request, action: AuditAction, target: str, reason: str
    ) -> None:
        principal = request[PRINCIPAL_KEY]
        when = datetime.fromtimestamp(clock(), UTC)
        await audit(
            store.redis,
            store.keys,
            actor=principal.actor,
            role=principal.role,
            action=action,
            target=target,
            reason=reason,
            now=when,
        )

    def profile_of(request: web.Request) -> AgentProfile:
        """The path's agent, if the principal may act on it (an agent only on itself)."""
        agent_id = request.match_info["agent_id"]
        principal = request[PRINCIPAL_KEY]
        if principal.role not in STAFF and principal.actor != agent_id:
            raise ApiError(403, "forbidden", "an agent may act only on itself")
        try:
            return agents[agent_id]
        except KeyError:
            raise ApiError(404, "no-such-agent", agent_id) from None

    def reason_of(body: Mapping[str, Any], what: str) -> str:
        """The body's required ``reason``, stripped."""
        reason = body.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise ApiError(400, "reason-required", f"a {what} needs a reason")
        if len(reason) > MAX_REASON:
            raise ApiError(400, "bad-request", f"reason is longer than {MAX_REASON} characters")
        return reason.strip()

    def queue_of(body: Mapping[str, Any]) -> str | None:
        """The body's optional ``queue``: pause or resume in that queue only."""
        queue = body.get("queue")
        if queue is not None and not isinstance(queue, str):
            raise ApiError(400, "bad-request", "queue must be a queue name")
        return queue

    async def view(agent_id: str) -> web.Response:
        found = await store.agent(agent_id)
        if found is None:
            raise ApiError(404, "no-such-agent", agent_id)
        return web.json_response(_agent_json(found))

    async def login(request: web.Request) -> web.Response:
        profile = profile_of(request)
        body = await json_object(request)
        queues = body.get("queues", list(profile.queues))
        if not isinstance(queues, list) or not all(isinstance(q, str) for q in queues):
            raise ApiError(400, "bad-request", "queues must be a list of queue names")
        device = body.get("device", 0)
        if type(device) is not int or not 0 <= device < len(profile.devices):
            raise ApiError(
                400, "bad-request", f"device must be an index below {len(profile.devices)}"
            )
        await store.login(profile.id, queues, profile.devices[device], clock())
        return await view(profile.id)

    async def logout(request: web.Request) -> web.Response:
        profile = profile_of(request)
        principal = request[PRINCIPAL_KEY]
        await store.logout(profile.id, clock())
        if principal.actor != profile.id:
            await staff_audit(request, AuditAction.FORCED_LOGOUT, profile.id, "")
        return await view(profile.id)

    async def pause(request: web.Request) -> web.Response:
        profile = profile_of(request)
        body = await json_object(request)
        await store.pause(profile.id, reason_of(body, "pause"), clock(), queue_of(body))
        return await view(profile.id)

    async def reset(request: web.Request) -> web.Response:
        principal = require_role(request, *STAFF)
        profile = profile_of(request)
        reason = redact(reason_of(await json_object(request), "reset"))
        before, after = await store.reset(profile.id, principal.actor, reason, clock())
        logger.info(
            "agent %s reset by %s: %s -> %s", profile.id, principal.actor, before.value, after.value
        )
        return await view(profile.id)

    async def resume(request: web.Request) -> web.Response:
        profile = profile_of(request)
        await store.resume(profile.id, clock(), queue_of(await json_object(request)))
        return await view(profile.id)

    async def get_agent(request: web.Request) -> web.Response:
        return await view(profile_of(request).id)

    async def queues(_: web.Request) -> web.Response:
        now = clock()
        stats = await asyncio.gather(*(store.queue_stats(name, now) for name in store.queues))
        return web.json_response({"queues": [s.to_dict() for s in stats]})

    async def queue(request: web.Request) -> web.Response:
        name = request.match_info["queue"]
        now = clock()
        stats = await store.queue_stats(name, now)
        waiting = await store.waiting(name)
        return web.json_response(
            {
                "stats": stats.to_dict(),
                "calls": [
                    {
                        "call_id": call.call_id,
                        "pseudonym": call.pseudonym,
                        "position": position,
                        "waited_s": round(max(0.0, now - call.enqueued_at), 3),
                        "kind": call.kind.value,
                    }
                    for position, call in enumerate(waiting, 1)
                ],
            }
        )

    async def queue_log(request: web.Request) -> web.Response:
        require_role(request, *STAFF)
        entries = cast(
            list[tuple[str, dict[str, str]]],
            await store.redis.xrevrange(store.keys.acd_queue_log, count=count_param(request)),
        )
        return web.json_response({"entries": [{"id": i, **fields} for i, fields in entries]})

    async def transfer(request: web.Request) -> web.Response:
        call_id = request.match_info["call_id"]
        principal = request[PRINCIPAL_KEY]
        if principal.role not in STAFF:
            found = await parties(store, call_id)
            if principal.actor != found.agent or found.state != "connected":
                raise ApiError(403, "forbidden", "only staff or the call's agent may transfer it")
        body = await json_object(request)
        if (body.get("queue") is None) == (body.get("agent") is None):
            raise ApiError(400, "bad-request", "give either a queue or an agent")
        kind = TransferKind.QUEUE if body.get("queue") is not None else TransferKind.AGENT
        target = body[kind.value]
        if not isinstance(target, str) or not target:
            raise ApiError(400, "bad-request", f"{kind.value} must be a name")
        if kind is TransferKind.AGENT:
            if target not in agents:
                raise ApiError(404, "no-such-agent", target)
            if agents[target].nailed_up:
                raise ApiError(409, "nailed-up", f"{target} takes queue calls on a standing line")
            found_agent = await store.agent(target)
            if found_agent is None or found_agent.state is not AgentState.AVAILABLE:
                raise ApiError(409, "agent-not-available", target)
        await request_transfer(store, call_id, Transfer(kind, target))
        if principal.role in STAFF:
            await staff_audit(request, AuditAction.TRANSFER, call_id, f"{kind.value}:{target}")
        return web.json_response(
            {"call_id": call_id, "transfer": {"kind": kind.value, "target": target}}, status=202
        )

    async def call_ref(request: web.Request) -> web.Response:
        require_role(request, "supervisor")
        call_id = request.match_info["call_id"]
        records = Records(store.redis, store.keys)
        caller = await records.caller(call_id) or await records.callback(call_id)
        if caller is None or not caller.caller_ref:
            raise ApiError(404, "no-such-call", call_id)
        return web.json_response(
            {"call_id": call_id, "ref": caller.caller_ref, "pseudonym": caller.pseudonym}
        )

    async def monitor(request: web.Request) -> web.Response:
        principal = require_role(request, SUPERVISES)
        call_id = request.match_info["call_id"]
        body = await json_object(request)
        try:
            mode = MonitorMode(str(body.get("mode")))
        except ValueError:
            raise ApiError(400, "bad-request", "mode must be listen, whisper or barge") from None
        session = await request_monitor(
            store, agents, call_id, principal.actor, principal.role, mode, clock()
        )
        return web.json_response(
            {"call_id": call_id, "mode": mode.value, "session": session}, status=202
        )

    return [
        web.post("/acd/agents/{agent_id}/login", _api(login)),
        web.post("/acd/agents/{agent_id}/logout", _api(logout)),
        web.post("/acd/agents/{agent_id}/pause", _api(pause)),
        web.post("/acd/agents/{agent_id}/resume", _api(resume)),
        web.post("/acd/agents/{agent_id}/reset", _api(reset)),
        web.get("/acd/agents/{agent_id}", _api(get_agent)),
        web.get("/acd/queues", _api(queues)),
        web.get("/acd/queues/{queue}", _api(queue)),
        web.get("/acd/queue_log", _api(queue_log)),
        web.post("/acd/calls/{call_id}/transfer", _api(transfer)),
        web.get("/acd/calls/{call_id}/ref", _api(call_ref)),
        web.post("/acd/calls/{call_id}/monitor", _api(monitor)),
    ]
