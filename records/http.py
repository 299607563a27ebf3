"""The records API: wrap-ups, contact history and queue reports.

| method | path                               | role                  | body                     |
|--------|------------------------------------|-----------------------|--------------------------|
| POST   | /acd/calls/{call_id}/wrapup        | the call's volunteer  | ``{disposition, notes?,   |
|        |                                    |                       | flags?}``                |
| GET    | /acd/calls/{call_id}/wrapup        | supervisor, admin     |                          |
| GET    | /acd/calls/{call_id}/history       | volunteer rung, staff |                          |
| GET    | /reports/queues?from&to&queue?&by? | supervisor, admin     |                          |

A wrap-up answers 201 with what was stored, ``removed`` counting the phone and card numbers
taken out of the notes. Refusals: 400 invalid-disposition, 413 notes-too-long, 403
not-your-call, 404 no-such-call, 409 wrapup-closed (after the wrap-up time and its grace);
while the database is away, a wrap-up the queue log in Redis shows to be the volunteer's is
accepted (202, ``id`` naming where it waits in Redis) and written once the database is back;
otherwise 503 records-unavailable (the call's events wait in Redis).
A report covers [from, to) (ISO 8601, UTC unless given), by hour (default) or day, for one
queue or each: the figures per bucket and in total, and per volunteer; 400 bad-period,
404 no-such-queue. Each report served is written to the staff audit stream as an export.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from core.api import ApiError, database_available, json_object
from core.audit import AuditAction, audit
from core.auth import PRINCIPAL_KEY, require_role
from records.reports import By, parse_time, queue_report
from records.wrapups import QueueRules, Wrapups

STAFF = ("supervisor", "admin")


def records_routes(
    wrapups: Wrapups, engine: AsyncEngine, queues: Mapping[str, QueueRules]
) -> list[web.RouteDef]:
    """The wrap-up, history and report endpoints."""

    async def write(request: web.Request) -> web.Response:
        principal = request[PRINCIPAL_KEY]
        body = await json_object(request)
        disposition, notes = body.get("disposition"), body.get("notes", "")
        flags = body.get("flags", [])
        if not isinstance(disposition, str) or not isinstance(notes, str):
            raise ApiError(400, "bad-request", "disposition and notes must be strings")
        if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
            raise ApiError(400, "bad-request", "flags must be a list of strings")
        call_id = request.match_info["call_id"]
        written = await wrapups.write(call_id, principal.actor, disposition, notes, flags)
        if written.kept:
            return web.json_response({**written.to_dict(), "id": written.kept}, status=202)
        return web.json_response(written.to_dict(), status=201)

    async def read(request: web.Request) -> web.Response:
        require_role(request, *STAFF)
        found = await wrapups.read(request.match_info["call_id"])
        return web.json_response({"wrapups": [w.to_dict() for w in found]})

    async def history(request: web.Request) -> web.Response:
        principal = request[PRINCIPAL_KEY]
        agent = None if principal.role in STAFF else principal.actor
        found = await wrapups.history(request.match_info["call_id"], agent)
        return web.json_response(
            {
                **asdict(found),
                "last_dispositions": list(found.last_dispositions),
                "flags": list(found.flags),
            }
        )

    async def reports(request: web.Request) -> web.Response:
        require_role(request, *STAFF)
        query = request.query
        try:
            start, end = parse_time(query["from"]), parse_time(query["to"])
            by = By(query.get("by", "hour"))
        except (KeyError, ValueError):
            raise ApiError(
                400, "bad-period", "from and to (ISO 8601) are required; by is hour or day"
            ) from None
        if end <= start:
            raise ApiError(400, "bad-period", "to must come after from")
        names = [query["queue"]] if "queue" in query else sorted(queues)
        if any(name not in queues for name in names):
            raise ApiError(404, "no-such-queue", query.get("queue", ""))
        principal = request[PRINCIPAL_KEY]
        drain = wrapups.drain
        await audit(
            drain.redis,
            drain.keys,
            actor=principal.actor,
            role=principal.role,
            action=AuditAction.EXPORT,
            target=",".join(names)[:64],
            reason=f"report {query['from']}..{query['to']} by {by.value}",
            now=datetime.fromtimestamp(wrapups.clock(), UTC),
        )
        await wrapups.catch_up()  # what the streams hold yet counts too
        found = [await queue_report(engine, q, queues[q], start, end, by) for q in names]
        return web.json_response({"reports": [r.to_dict() for r in found]})

    return [
        web.get("/reports/queues", database_available(reports)),
        web.post("/acd/calls/{call_id}/wrapup", database_available(write)),
        web.get("/acd/calls/{call_id}/wrapup", database_available(read)),
        web.get("/acd/calls/{call_id}/history", database_available(history)),
    ]
