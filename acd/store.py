"""The ACD's shared state in Redis. Every state change is one Lua script (``acd/lua``), so two
app instances claiming at once can never offer one agent two calls or one call to two agents.

Routing does not scan agents: each queue keeps sorted sets of its AVAILABLE agents, one for
all of them and one per (skill, level), scored by the queue's strategy (idle-since, calls
taken, or file order); a claim reads the head of at most five of them per skill of the waiting
calls. RING_ALL (offer to everyone eligible) is the only linear case. Agents whose wrap-up has
ended become available lazily at the next claim (or explicitly with ``end_wrapup``).

The scripts that count calls count them twice in the same step: since the counters began (the
metrics' counters) and in the day's counters, a hash per queue and local day in the line's time
zone (``zone``), which expires three days after its last change; so today's figures start
again at local midnight without a scan or a job.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any, Final, cast
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from acd.config import NAME, AgentProfile, Device, DeviceKind, QueueConfig
from acd.model import (
    AbandonResult,
    AcceptResult,
    AcdError,
    AgentView,
    CallKind,
    EnqueueResult,
    Exit,
    ExitReason,
    Expiry,
    JoinRefusal,
    MissReason,
    Offer,
    OfferedAgent,
    Party,
    RejectResult,
    WaitingCall,
)
from acd.records import SAVE_RECORDS
from acd.routing import (
    TRANSITIONS,
    AgentEvent,
    AgentState,
    IllegalTransition,
    estimated_wait,
)
from acd.stats import QueueStats, from_snapshot
from core import lua
from core.keys import Keys

_SCRIPTS: Final = (
    "accept",
    "abandon",
    "agent",
    "callback",
    "claim",
    "complete",
    "enqueue",
    "expire",
    "handover",
    "reject",
    "stats",
    "texter",
    "transfer",
)
#: Shared functions a script needs beyond common.lua (the claim, also made by enqueue).
_LIBS: Final = {"claim": ("claiming",), "enqueue": ("claiming",)}
#: Seconds an offer may outlive its ring time (whisper, press-1, slow events) before the store
#: expires it: only an offer that no process settles gets there.
OFFER_GRACE_S: Final = 30.0
_UTC: Final = ZoneInfo("UTC")
#: Scores put priority before time: -priority * 10**13 + enqueue time in ms (exact in a double).
_PRIORITY_WEIGHT: Final = 10**13


@cache
def script_source(name: str) -> str:
    """The full Lua source of one script: the adapter's record writes that ride along
    (``acd.records``), the shared helpers (with the agent transition table compiled from
    ``acd.routing.TRANSITIONS``), then the script itself."""
    table = ", ".join(
        f"['{state.value}|{event.value}'] = '{target.value}'"
        for (state, event), target in TRANSITIONS.items()
    )
    common = lua.source("acd", "common").replace("__TRANSITIONS__", "{" + table + "}")
    libs = [lua.source("acd", lib) for lib in _LIBS.get(name, ())]
    return "\n".join((SAVE_RECORDS, common, *libs, lua.source("acd", name)))


def _ms(now: float) -> str:
    """A time as Lua will keep it exactly: epoch seconds rounded to the millisecond."""
    return f"{round(now * 1000) / 1000:.3f}"


class AcdStore:
    """Queues, agents, calls and offers of every app instance, shared through one Redis."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        queues: Mapping[str, QueueConfig],
        *,
        confirm_timeout_s: float = 10.0,
        zone: ZoneInfo = _UTC,
    ) -> None:
        self.redis, self.keys, self.queues = redis, keys, queues
        #: The line's time zone, whose midnight starts a new day of queue statistics.
        self.zone = zone
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(script_source(name)) for name in _SCRIPTS
        }
        self._config = json.dumps(
            {
                q.name: {
                    "strategy": q.strategy.value,
                    "wrapup_s": q.wrapup_s,
                    "max_misses": q.max_misses,
                    "join_empty": q.join_empty,
                    "leave_when_empty": q.leave_when_empty,
                    "max_len": q.max_len,
                    "max_wait_s": q.max_wait_s,
                    "offer_life_s": q.ring_timeout_s + confirm_timeout_s + OFFER_GRACE_S,
                    "service_level_s": q.service_level_s,
                    "short_abandon_s": q.short_abandon_s,
                    "widening": [[rule.after_s, rule.min_level] for rule in q.widening],
                }
                for q in queues.values()
            }
        )

    async def _run(
        self, script: str, now: float, records: Sequence[str | int] = (), **args: Any
    ) -> Any:
        """Run ``script``; ``records``: the adapter's encoded writes (``Records.encode``) for
        the scripts that make them (enqueue, accept, complete), in the same round trip."""
        try:
            day = datetime.fromtimestamp(now, self.zone).date().isoformat()
            return await self._scripts[script](
                keys=[self.keys.acd],
                args=[_ms(now), self._config, json.dumps(args), day, *records],
            )
        except ResponseError as exc:
            raise _error(exc) from None

    def _queue(self, name: str) -> QueueConfig:
        try:
            return self.queues[name]
        except KeyError:
            raise AcdError("unknown-queue", name) from None

    # Agents

    async def upsert_agent(self, profile: AgentProfile, order: int) -> AgentState:
        """Store an agent's profile (``order``: its place for LINEAR and ROUND_ROBIN) without
        changing its state; an available agent is re-indexed with its new skills."""
        state = await self._run(
            "agent",
            0,
            op="upsert",
            agent=profile.id,
            name=profile.name,
            skills=json.dumps(dict(profile.skills)),
            allowed=json.dumps(list(profile.queues)),
            wrapup_s="" if profile.wrapup_s is None else profile.wrapup_s,
            order=order,
            auto_answer=int(profile.auto_answer),
        )
        return AgentState(state)

    async def sync_agents(self, profiles: Sequence[AgentProfile]) -> None:
        """Upsert every agent of an agent file, in file order."""
        for order, profile in enumerate(profiles):
            await self.upsert_agent(profile, order)

    async def login(
        self, agent_id: str, queues: Sequence[str], device: Device, now: float
    ) -> AgentState:
        """Log an agent into ``queues`` (each must be in its profile), reachable at ``device``."""
        if not queues:
            raise AcdError("no-queues", agent_id)
        for queue in queues:
            self._queue(queue)
        return AgentState(
            await self._run(
                "agent",
                now,
                op="login",
                agent=agent_id,
                queues=list(dict.fromkeys(queues)),
                device_kind=device.kind.value,
                device=device.address,
            )
        )

    async def logout(self, agent_id: str, now: float) -> AgentState:
        """Log an agent out of every queue (not while a call rings or is connected)."""
        return AgentState(await self._run("agent", now, op="logout", agent=agent_id))

    async def pause(
        self, agent_id: str, reason: str, now: float, queue: str | None = None
    ) -> AgentState:
        """Pause an available or wrapping-up agent (or change a paused agent's reason). With
        ``queue``, pause it in that queue only: it keeps its state and its other queues."""
        if queue is not None:
            self._queue(queue)
        return AgentState(
            await self._run(
                "agent", now, op="pause", agent=agent_id, reason=reason, queue=queue or ""
            )
        )

    async def resume(self, agent_id: str, now: float, queue: str | None = None) -> AgentState:
        """Make a paused agent available again (its miss count restarts); with ``queue``, end
        its pause in that queue only."""
        if queue is not None:
            self._queue(queue)
        return AgentState(
            await self._run("agent", now, op="resume", agent=agent_id, queue=queue or "")
        )

    async def end_wrapup(self, agent_id: str, now: float) -> AgentState:
        """End an agent's wrap-up early."""
        return AgentState(await self._run("agent", now, op="end_wrapup", agent=agent_id))

    async def extend_wrapup(self, agent_id: str, seconds: float, now: float) -> float:
        """Make an agent's wrap-up, not yet over, last ``seconds`` longer; its new end.
        AcdError ``not-wrapping-up`` otherwise."""
        return float(
            await self._run("agent", now, op="extend_wrapup", agent=agent_id, seconds=seconds)
        )

    async def reset(
        self, agent_id: str, by: str, reason: str, now: float
    ) -> tuple[AgentState, AgentState]:
        """Return a stuck agent to a clean state, whatever it was (RESET, with ``by`` and
        ``reason``): a ringing offer is let go (the call waits again at its place once no
        other agent rings it), a connected call ends for the agent without wrap-up, a pause or
        wrap-up ends; a logged-in agent is AVAILABLE, a logged-out one stays logged out.
        Returns the agent's state before and after."""
        before, after = await self._run(
            "agent", now, op="reset", agent=agent_id, by=by, reason=reason
        )
        return AgentState(before), AgentState(after)

    # Calls

    async def enqueue(
        self,
        call: WaitingCall,
        now: float,
        records: Sequence[str | int] = (),
        *,
        claim: bool = False,
        draw: float | None = None,
    ) -> EnqueueResult:
        """Put a call in its queue, or refuse it (full, or empty with join_empty off) and name
        the overflow. The position and estimated wait are for announcements. ``records``:
        the adapter's writes (``Records.encode``), made first. With ``claim``, an accepted
        call is followed in the same script by ``claim(call.queue)``, whose answer is the
        result's ``offer``."""
        queue = self._queue(call.queue)
        route = call.skill or queue.skill or "*"
        if route != "*" and not NAME.fullmatch(route):
            raise AcdError("bad-skill", route)
        priority = queue.priority if call.priority is None else call.priority
        score = -priority * _PRIORITY_WEIGHT + round(call.enqueued_at * 1000)
        accepted, reason, position, staffed, handle_sum, handle_n, offer = json.loads(
            await self._run(
                "enqueue",
                now,
                records,
                claim=claim,
                draw=random.random() if draw is None else draw,
                call={
                    "id": call.call_id,
                    "queue": call.queue,
                    "owner": call.owner_instance,
                    "pseudonym": call.pseudonym,
                    "language": call.language,
                    "skill": call.skill or "",
                    "route": route,
                    "priority": priority,
                    "kind": call.kind.value,
                    "enqueued_at": _ms(call.enqueued_at),
                    "score": str(score),
                    "line": call.line,
                    "ivr_path": call.ivr_path,
                },
            )
        )
        n = int(float(handle_n))
        if not accepted:
            return EnqueueResult(False, 0, 0.0, JoinRefusal(reason), queue.overflow)
        mean = float(handle_sum) / n if n else None
        ewt = estimated_wait(position, staffed, mean)
        return EnqueueResult(
            True, position, ewt, claimed=claim, offer=_offer_of(offer) if offer else None
        )

    async def claim(self, queue: str, now: float, *, draw: float | None = None) -> Offer | None:
        """Offer the queue's best waiting call (priority, then time) that an AVAILABLE member
        can take (skill at or above the call's current widening level, wrap-up over) to the
        agent the strategy picks, or to all of them for RING_ALL; both become OFFERED.
        ``draw`` in [0, 1) picks for RANDOM (default: a random number). An offer whose
        ``more`` is False left no call waiting: claiming again would find nothing."""
        self._queue(queue)
        raw = await self._run(
            "claim", now, queue=queue, draw=random.random() if draw is None else draw
        )
        return _offer(raw) if raw else None

    async def handover_offer(self, call_id: str, agent_id: str, now: float) -> Offer:
        """Ring AVAILABLE ``agent_id`` for connected ``call_id`` (a transfer to a supervisor,
        say): the agent becomes OFFERED while the call stays with its first agent."""
        return _offer(await self._run("handover", now, op="offer", call=call_id, agent=agent_id))

    async def handover_accept(self, offer_id: str, agent_id: str, now: float) -> str | None:
        """The transfer's agent took the call: the first agent wraps up (TRANSFER) and the call
        is connected to the new one. The first agent's id; None if the call or offer is gone."""
        first = await self._run("handover", now, op="accept", offer=offer_id, agent=agent_id)
        return str(first) if first else None

    async def handover_release(self, offer_id: str, agent_id: str, now: float) -> None:
        """The transfer's agent did not take the call: available again, the call stays."""
        await self._run("handover", now, op="release", offer=offer_id, agent=agent_id)

    async def accept(
        self, offer_id: str, agent_id: str, now: float, records: Sequence[str | int] = ()
    ) -> AcceptResult:
        """The agent took the call (press-1 or auto-answer): the first accept of an offer wins
        and connects; for a loser, or an offer already withdrawn, ``won`` is False.
        ``records``: the adapter's writes (``Records.encode``), made only if ``won``."""
        won, call_id, released = json.loads(
            await self._run("accept", now, records, offer=offer_id, agent=agent_id)
        )
        return AcceptResult(won, call_id or None, tuple(released or ()))

    async def reject(
        self, offer_id: str, agent_id: str, reason: MissReason, now: float
    ) -> RejectResult:
        """The agent did not take the call: it counts a miss (paused after the queue's
        max_misses), and once no agent still rings the call waits again at its old place."""
        requeued, position, paused = json.loads(
            await self._run("reject", now, offer=offer_id, agent=agent_id, reason=reason.value)
        )
        return RejectResult(requeued, position, paused)

    async def abandon(self, call_id: str, now: float) -> AbandonResult:
        """The caller left while waiting or ringing; returns the agents to stop ringing."""
        released, waited = json.loads(await self._run("abandon", now, call=call_id))
        return AbandonResult(tuple(released or ()), float(waited))

    async def complete(
        self,
        call_id: str,
        agent_id: str,
        now: float,
        by: Party = Party.CALLER,
        records: Sequence[str | int] = (),
    ) -> float:
        """A connected call ended; the agent wraps up (its own wrap-up time, else the
        queue's). Returns when the wrap-up ends. ``records``: the adapter's writes
        (``Records.encode``), made first, even if the call was not connected."""
        return float(
            await self._run("complete", now, records, call=call_id, agent=agent_id, by=by.value)
        )

    async def transfer(self, call_id: str, to_queue: str, now: float) -> int:
        """Move a waiting or connected call to another queue with its priority and original
        enqueue time (a connected call's agent wraps up). Returns the new position."""
        call = await self.redis.hmget(self.keys.acd_call(call_id), ["skill"])
        route = call[0] or self._queue(to_queue).skill or "*"
        return int(await self._run("transfer", now, call=call_id, to=to_queue, route=route))

    async def to_callback(self, call_id: str, now: float) -> None:
        """Turn a waiting call into a callback entry that keeps its place in the line."""
        await self._run("callback", now, call=call_id)

    async def expire(self, queue: str, owner_instance: str, now: float) -> Expiry:
        """Expire the queue's offers that nobody settled within their life (ring time, the
        press-1 wait and ``OFFER_GRACE_S``): their agents are available again, their calls
        wait again. Then remove ``owner_instance``'s calls that waited max_wait_s, or all of
        them when leave_when_empty applies; the owner sends each to the queue's overflow."""
        config = self._queue(queue)
        exits, offers = json.loads(
            await self._run("expire", now, queue=queue, owner=owner_instance)
        )
        return Expiry(
            tuple(Exit(cid, ExitReason(reason), config.overflow) for cid, reason in exits or ()),
            tuple((oid, call_id) for oid, call_id in offers or ()),
        )

    # Calls a volunteer asks for (to a texter): no queue's, but the volunteer is busy

    async def hold_for_texter(self, call_id: str, agent_id: str, owner: str, now: float) -> None:
        """Take AVAILABLE ``agent_id`` out of queue routing for ``call_id``, a call they asked
        for, owned by app instance ``owner`` (AcdError ``not-available`` otherwise)."""
        await self._run("texter", now, op="hold", call=call_id, agent=agent_id, owner=owner)

    async def claim_texter_call(self, call_id: str, agent_id: str, owner: str, now: float) -> bool:
        """``owner`` is about to ring the agent for ``call_id``: whether they are still held
        for it (False: freed meanwhile, do not ring)."""
        held = await self._run("texter", now, op="claim", call=call_id, agent=agent_id, owner=owner)
        return bool(held)

    async def release_texter_call(
        self, call_id: str, agent_id: str, now: float, owner: str = ""
    ) -> bool:
        """``call_id`` ended: its agent, if still held by it, is AVAILABLE again (no wrap-up);
        with ``owner``, only if that instance owns the call. Whether they were released."""
        released = await self._run(
            "texter", now, op="release", call=call_id, agent=agent_id, owner=owner
        )
        return bool(released)

    # Repairs

    async def note_repair(
        self, repair: str, channel_id: str, now: float, agent_id: str = ""
    ) -> None:
        """Log a reconciler's repair (RECONCILE in the queue log) and count it by kind."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(
                self.keys.acd_queue_log,
                {
                    "time": _ms(now),
                    "event": "RECONCILE",
                    "queue": "NONE",
                    "call": channel_id,
                    "agent": agent_id or "NONE",
                    "repair": repair,
                },
                maxlen=100_000,
                approximate=True,
            )
            pipe.hincrby(self.keys.acd_reconciled, repair, 1)
            await pipe.execute()

    async def repairs(self) -> dict[str, int]:
        """How many repairs of each kind the reconcilers (and the offers' expiry) made."""
        counts = cast(dict[str, str], await self.redis.hgetall(self.keys.acd_reconciled))
        return {kind: int(n) for kind, n in counts.items()}

    # Views

    async def position(self, call_id: str) -> int | None:
        """A waiting call's place in its queue (1 = next), None if it is not waiting."""
        queue = cast(str | None, await self.redis.hget(self.keys.acd_call(call_id), "queue"))
        if queue is None:
            return None
        rank = cast(int | None, await self.redis.zrank(self.keys.acd_queue(queue, "wait"), call_id))
        return None if rank is None else rank + 1

    async def waiting(self, queue: str) -> tuple[WaitingCall, ...]:
        """The calls waiting in ``queue``, next first."""
        ids = cast(list[str], await self.redis.zrange(self.keys.acd_queue(queue, "wait"), 0, -1))
        async with self.redis.pipeline(transaction=False) as pipe:
            for call_id in ids:
                pipe.hgetall(self.keys.acd_call(call_id))
            rows = await pipe.execute()
        return tuple(_call({**row, "id": cid}) for cid, row in zip(ids, rows, strict=True) if row)

    async def agent(self, agent_id: str) -> AgentView | None:
        """An agent's live state, None if unknown."""
        h = cast(dict[str, str], await self.redis.hgetall(self.keys.acd_agent(agent_id)))
        if not h:
            return None
        return AgentView(
            agent_id=agent_id,
            state=AgentState(h["state"]),
            queues=tuple(json.loads(h.get("queues_in", "[]"))),
            pause_reason=h.get("pause_reason", ""),
            paused_in=json.loads(h.get("paused_in") or "{}"),
            misses=int(h.get("misses") or 0),
            offer_id=h.get("offer", ""),
            call_id=h.get("call", ""),
            idle_since=float(h["idle_since"]) if h.get("idle_since") else None,
            wrapup_until=float(h["wrapup_until"]) if h.get("wrapup_until") else None,
            wrapup_call=h.get("wrapup_call", ""),
        )

    async def queue_stats(self, queue: str, now: float) -> QueueStats:
        """The queue's live statistics (one consistent snapshot), with those of ``now``'s day
        in the store's time zone."""
        config = self._queue(queue)
        return from_snapshot(config, json.loads(await self._run("stats", now, queue=queue)), now)


def _offer(raw: str) -> Offer:
    """An offer as the claim and handover scripts return it (``more``: claim's only)."""
    return _offer_of(json.loads(raw))


def _offer_of(data: Mapping[str, Any]) -> Offer:
    """An offer decoded from the scripts' JSON."""
    agents = tuple(
        OfferedAgent(
            a["id"], Device(DeviceKind(a["device_kind"]), a["device"]), a["auto_answer"] == "1"
        )
        for a in data["agents"]
    )
    call, offered_at = _call(data["call"]), float(data["offered_at"])
    return Offer(data["offer"], call, agents, offered_at, more=bool(data.get("more")))


def _call(h: Mapping[str, str]) -> WaitingCall:
    return WaitingCall(
        call_id=h["id"],
        queue=h["queue"],
        owner_instance=h["owner"],
        pseudonym=h["pseudonym"],
        language=h["language"],
        enqueued_at=float(h["enqueued_at"]),
        skill=h["skill"] or None,
        priority=int(h["priority"]),
        kind=CallKind(h["kind"]),
    )


def _error(exc: ResponseError) -> Exception:
    """The typed error for a script's "ACD <code> <detail>" error reply."""
    parts = str(exc).split(" script:")[0].split()
    if len(parts) < 2 or parts[0] != "ACD":
        return exc
    code, detail = parts[1], parts[2:]
    if code == IllegalTransition.code and len(detail) >= 3:
        return IllegalTransition(AgentState(detail[1]), AgentEvent(detail[2]))
    return AcdError(code, " ".join(detail))
