"""The app's HTTP server: health, and the routes each feature adds (ACD, statistics, SMS).

Errors cross the API as JSON with a machine-readable id: ``{"error": "no-such-agent", ...}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from aiohttp import web

from core.api import ApiError
from core.auth import auth_middleware, parse_tokens
from core.config import Settings
from core.frozen import FrozenMap

logger = logging.getLogger(__name__)

#: Paths reachable without a bearer token (webhooks authenticate by signature instead, the
#: console by its own sessions).
PUBLIC_PATHS = ("/healthz", "/metrics", "/sms/", "/console/", "/pledges/webhooks/", "/tote/")


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn ApiError (and malformed JSON bodies) into JSON responses."""
    try:
        return await handler(request)
    except ApiError as exc:
        body = {"error": exc.error, **({"detail": exc.detail} if exc.detail else {})}
        return web.json_response(body, status=exc.status)
    except json.JSONDecodeError:
        return web.json_response({"error": "malformed-json"}, status=400)


def build_web_app(
    settings: Settings,
    health: Callable[[], Awaitable[dict[str, bool]]],
    routes: Sequence[web.AbstractRouteDef] = (),
    subapps: Mapping[str, web.Application] = FrozenMap(),
) -> web.Application:
    """The aiohttp application with authentication, health, the features' ``routes`` and
    ``subapps`` mounted at their prefixes."""
    tokens = parse_tokens(settings.secrets.api_tokens)
    app = web.Application(middlewares=[error_middleware, auth_middleware(tokens, PUBLIC_PATHS)])

    async def healthz(_: web.Request) -> web.Response:
        checks = await health()
        return web.json_response(checks, status=200 if all(checks.values()) else 503)

    app.router.add_get("/healthz", healthz)
    app.router.add_routes(routes)
    for prefix, subapp in subapps.items():
        app.add_subapp(prefix, subapp)
    return app
