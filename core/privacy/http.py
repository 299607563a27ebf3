"""The privacy API: a supervisor unmasks a caller's number, staff read the audit trail.

| method | path               | role                | returns                                  |
|--------|--------------------|---------------------|------------------------------------------|
| POST   | /privacy/unmask    | supervisor          | ``{"number", "pseudonym"}``, not cached  |
| GET    | /privacy/audit     | supervisor or admin | ``{"records": [...]}`` newest first      |

The actor and role of an unmask come from the bearer token, never from the request body; a
refused request reaches neither the vault nor its audit stream. The ref to unmask comes from
the supervisor-only ``GET /acd/calls/{id}/ref`` or ``GET /chat/conversations/{id}/ref``; a
reason is at most ``MAX_REASON`` characters.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from core.api import ApiError, count_param, json_object
from core.auth import require_role
from core.privacy.vault import SUPERVISOR, NotInVault, Vault

#: Longest unmask reason accepted (it is kept in the audit stream).
MAX_REASON = 500


def privacy_routes(vault: Vault, clock: Callable[[], datetime]) -> list[web.RouteDef]:
    """The unmask and audit endpoints over ``vault``; ``clock`` stamps audit records."""

    async def unmask(request: web.Request) -> web.Response:
        principal = require_role(request, SUPERVISOR)
        body = await json_object(request)
        ref, reason = body.get("ref"), body.get("reason")
        if not isinstance(ref, str) or not ref:
            raise ApiError(400, "bad-request", "ref must be a non-empty string")
        if not isinstance(reason, str) or not reason.strip():
            raise ApiError(400, "reason-required", "say why the number must be shown")
        if len(reason) > MAX_REASON:
            raise ApiError(400, "reason-too-long", f"at most {MAX_REASON} characters")
        try:
            pseudonym = await vault.display(ref, mask_numbers=True)
            number = await vault.unmask(
                ref, actor=principal.actor, role=principal.role, reason=reason, now=clock()
            )
        except NotInVault:
            raise ApiError(404, "no-such-ref", ref) from None
        return web.json_response(
            {"number": number, "pseudonym": pseudonym},
            headers={"Cache-Control": "no-store"},
        )

    async def audit(request: web.Request) -> web.Response:
        require_role(request, SUPERVISOR, "admin")
        records = await vault.audit_log(count_param(request))
        return web.json_response(
            {
                "records": [
                    {
                        "id": r.id,
                        "at": r.at.isoformat(),
                        "actor": r.actor,
                        "role": r.role,
                        "reason": r.reason,
                        "ref": r.ref,
                        "pseudonym": r.pseudonym,
                    }
                    for r in records
                ]
            }
        )

    return [web.post("/privacy/unmask", unmask), web.get("/privacy/audit", audit)]
