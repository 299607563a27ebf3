"""What the features' HTTP handlers share: the API error and the request parsing helpers.

Errors cross the API as JSON with a machine-readable id (the app's error middleware renders
``ApiError``): ``{"error": "no-such-agent", ...}``.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from core.auth import Handler

logger = logging.getLogger(__name__)

#: Records or entries a listing returns without ``count``, and at most.
DEFAULT_COUNT, MAX_COUNT = 100, 1000
_COUNT = re.compile(r"[0-9]{1,4}")


class ApiError(Exception):
    """An error with an HTTP status and a machine-readable id."""

    def __init__(self, status: int, error: str, detail: str = "") -> None:
        super().__init__(f"{error}: {detail}" if detail else error)
        self.status, self.error, self.detail = status, error, detail


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON body, which must be an object (malformed JSON: 400 malformed-json)."""
    body = await request.json() if request.can_read_body else {}
    if not isinstance(body, dict):
        raise ApiError(400, "bad-request", "the body must be a JSON object")
    return body


def count_param(request: web.Request) -> int:
    """The ``count`` query parameter: 1 to MAX_COUNT, DEFAULT_COUNT if absent."""
    raw = request.query.get("count", str(DEFAULT_COUNT))
    if not _COUNT.fullmatch(raw) or not 1 <= int(raw) <= MAX_COUNT:
        raise ApiError(400, "bad-request", f"count must be an integer from 1 to {MAX_COUNT}")
    return int(raw)


def database_available(handler: Handler) -> Handler:
    """A records database that does not answer is a 503 ``records-unavailable``, not a
    traceback."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("records: %s failed: %s", request.path, exc)
            raise ApiError(503, "records-unavailable", type(exc).__name__) from None

    return wrapped
