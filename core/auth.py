"""Bearer tokens for the HTTP API: who is calling, in which role.

Tokens come from the environment (``HOTLINE_API_TOKENS``, comma-separated ``actor:role:token``
entries) and are compared in constant time. Roles: ``agent``, ``supervisor``, ``admin``.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

ROLES = ("agent", "supervisor", "admin")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of an API request."""

    actor: str
    role: str


@dataclass(frozen=True)
class TokenEntry:
    principal: Principal
    token: str


def parse_tokens(spec: str) -> tuple[TokenEntry, ...]:
    """Parse ``actor:role:token,...``; raise ValueError naming the bad entry's position."""
    entries = []
    for index, item in enumerate(filter(None, (part.strip() for part in spec.split(","))), 1):
        actor, _, rest = item.partition(":")
        role, _, token = rest.partition(":")
        if not actor or role not in ROLES or len(token) < 16:
            raise ValueError(
                f"HOTLINE_API_TOKENS entry {index}: expected actor:role:token with role in "
                f"{ROLES} and a token of at least 16 characters"
            )
        entries.append(TokenEntry(Principal(actor, role), token))
    return tuple(entries)


PRINCIPAL_KEY = web.RequestKey("principal", Principal)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def auth_middleware(tokens: tuple[TokenEntry, ...], public: tuple[str, ...]) -> Middleware:
    """Reject requests without a known bearer token, except to paths starting with ``public``."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(public):
            return await handler(request)
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and presented:
            for entry in tokens:
                if hmac.compare_digest(entry.token.encode(), presented.encode()):
                    request[PRINCIPAL_KEY] = entry.principal
                    return await handler(request)
        raise web.HTTPUnauthorized(
            text='{"error": "unauthorized"}',
            content_type="application/json",
            headers={"WWW-Authenticate": "Bearer"},
        )

    return middleware


def require_role(request: web.Request, *roles: str) -> Principal:
    """The request's principal, or 403 if its role is not one of ``roles``."""
    principal = request[PRINCIPAL_KEY]
    if principal.role not in roles:
        raise web.HTTPForbidden(
            text=json.dumps({"error": "forbidden", "needs": " or ".join(roles)}),
            content_type="application/json",
        )
    return principal
