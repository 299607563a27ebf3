"""Requests callers make (shelter, call-back, pledge...): recorded with a short reference and
confirmed by SMS.

A request gets a 4-digit reference unique among open requests, reserved atomically in Redis
(``SET NX`` of the first free candidate, inside one script with the request's hash), and its
confirmation goes through the outbox with the request id as idempotency key, so recording the
same request twice never texts twice. The request's ``confirmation`` is the message's live
state: a failed or undelivered confirmation shows on the request and in
:meth:`RequestDesk.failed_confirmations`.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final, cast

import redis.asyncio as aioredis

from core import lua
from core.config import Settings
from core.keys import Keys
from sms.outbox import Outbox, load_message
from sms.redact import redact_numbers
from sms.state import MessageState
from sms.templates import Templates

logger = logging.getLogger(__name__)

#: Digits of a reference, and candidates tried per script call.
REFERENCE_DIGITS = 4
_CANDIDATES = 16
_ROUNDS = 8
SUBJECT = "request:"

#: Scripts in ``sms/lua/`` (their keys and arguments are documented there).
_RECORD: Final = lua.source("sms", "request_record")
_CLOSE: Final = lua.source("sms", "request_close")
_PURGE: Final = lua.source("sms", "request_purge")


class RequestState(StrEnum):
    """Whether a request still holds its reference."""

    OPEN = "open"
    CLOSED = "closed"


class RequestError(RuntimeError):
    """A request could not be recorded; ``code`` is machine-readable."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail = code, detail


@dataclass(frozen=True)
class Request:
    """A recorded request (the caller is a vault ref). ``confirmation`` is the state of its
    confirmation SMS, None once the message record has expired."""

    id: str
    kind: str
    caller_ref: str
    language: str
    details: Mapping[str, str]
    reference: str
    state: RequestState
    created_at: float
    message_id: str
    confirmation: MessageState | None

    @property
    def confirmation_failed(self) -> bool:
        """Whether the confirmation SMS failed or was not delivered."""
        return self.confirmation in (MessageState.FAILED, MessageState.UNDELIVERED)


class RequestDesk:
    """Records requests and sends their confirmations."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        outbox: Outbox,
        templates: Templates,
        settings: Settings,
    ) -> None:
        self.redis, self.keys, self.outbox = redis, keys, outbox
        self.templates, self.settings = templates, settings
        self._record = redis.register_script(_RECORD)
        self._close = redis.register_script(_CLOSE)

    async def record_request(
        self,
        kind: str,
        caller_ref: str,
        language: str,
        details: Mapping[str, str],
        now: datetime,
    ) -> Request:
        """Store a request with a fresh reference and queue its confirmation SMS. Phone
        numbers written in ``details`` are cut out."""
        request_id = uuid.uuid4().hex
        region = self.settings.privacy.default_region
        clean = {name: redact_numbers(value, region) for name, value in details.items()}
        fields = {
            "id": request_id,
            "kind": kind,
            "caller_ref": caller_ref,
            "language": language,
            "details": json.dumps(clean, ensure_ascii=False),
            "state": RequestState.OPEN.value,
            "created_at": str(now.timestamp()),
        }
        ttl = self.settings.sms.retention_seconds
        code = await self._reserve(request_id, ttl, now, fields)
        body = self.templates.render("request_recorded", language, reference=code)
        message_id = await self.outbox.enqueue_ref(
            caller_ref,
            self.settings.sms.from_number,
            body,
            idempotency_key=f"{SUBJECT}{request_id}",
            kind="confirmation",
            language=language,
            subject=f"{SUBJECT}{request_id}",
        )
        await self.redis.hset(self.keys.request(request_id), "message_id", message_id)
        logger.info(
            "request %s: %s recorded as %s, confirmation %s", request_id, kind, code, message_id
        )
        found = await self.get(request_id)
        assert found is not None
        return found

    async def get(self, request_id: str) -> Request | None:
        """The request, with its confirmation's current state; None if unknown or purged."""
        raw = cast(dict[str, str], await self.redis.hgetall(self.keys.request(request_id)))
        if not raw or "reference" not in raw:
            return None
        message = None
        if raw.get("message_id"):
            message = await load_message(self.redis, self.keys, raw["message_id"])
        return Request(
            id=raw["id"],
            kind=raw["kind"],
            caller_ref=raw["caller_ref"],
            language=raw["language"],
            details=json.loads(raw["details"]),
            reference=raw["reference"],
            state=RequestState(raw["state"]),
            created_at=float(raw["created_at"]),
            message_id=raw.get("message_id", ""),
            confirmation=message.state if message is not None else None,
        )

    async def close(self, request_id: str, now: datetime) -> bool:
        """Close an open request, freeing its reference; False if it was not open."""
        request = await self.get(request_id)
        if request is None:
            return False
        keys = [self.keys.request(request_id), self.keys.request_code(request.reference)]
        return bool(await self._close(keys=keys, args=[request_id, now.timestamp()]))

    async def failed_confirmations(self, limit: int = 100) -> list[Request]:
        """Requests whose confirmation failed or was not delivered, newest failure first."""
        ids = cast(list[str], await self.redis.zrevrange(self.keys.sms_failed, 0, -1))
        found: list[Request] = []
        for message_id in ids:
            message = await load_message(self.redis, self.keys, message_id)
            if message is None or not message.subject.startswith(SUBJECT):
                continue
            request = await self.get(message.subject.removeprefix(SUBJECT))
            if request is not None:
                found.append(request)
            if len(found) >= limit:
                break
        return found

    async def _reserve(
        self, request_id: str, ttl: int, now: datetime, fields: Mapping[str, str]
    ) -> str:
        for _ in range(_ROUNDS):
            codes = [
                f"{secrets.randbelow(10**REFERENCE_DIGITS):0{REFERENCE_DIGITS}d}"
                for _ in range(_CANDIDATES)
            ]
            taken = await self._record(
                keys=[
                    self.keys.request(request_id),
                    self.keys.request_index,
                    *(self.keys.request_code(code) for code in codes),
                ],
                args=[request_id, ttl, now.timestamp(), json.dumps(fields), *codes],
            )
            if taken is not None:
                return str(taken)
        raise RequestError("no-free-reference", f"{_ROUNDS * _CANDIDATES} references all taken")


async def purge_requests(client: aioredis.Redis, keys: Keys, cutoff: float) -> int:
    """Remove requests created before ``cutoff`` (epoch seconds); how many were removed."""
    script = client.register_script(_PURGE)
    stale = cast(list[str], await client.zrangebyscore(keys.request_index, "-inf", f"({cutoff}"))
    prefix = keys.request_code("")
    purged = 0
    for rid in stale:
        request_keys = [keys.request(rid), keys.request_index]
        purged += int(await script(keys=request_keys, args=[rid, cutoff, prefix]))
    return purged
