"""A local stand-in for Twilio's Messages REST API and its status callbacks, over real HTTP.

It follows Twilio's documented shapes: ``POST /2010-04-01/Accounts/{sid}/Messages.json`` (form
To, From or MessagingServiceSid, Body, StatusCallback; HTTP Basic auth), ``GET
.../Messages/{Sid}.json``, ``GET .../Messages.json`` (To, From, DateSent filters, paging), error
bodies ``{"code", "message", "more_info", "status"}``, and status callbacks (sent, then delivered)
signed with ``X-Twilio-Signature`` like Twilio signs them. Tests inject faults (429, 5xx, a hang,
an accepted message whose answer is late) and read every accepted message.

``StandIn(...).start()`` runs it on its own event loop in a thread; ``python -m
bench.twilio_standin --port N`` runs it in the foreground.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import aiohttp
import phonenumbers
import redis.asyncio as aioredis
from aiohttp import web
from twilio.request_validator import RequestValidator

from core import redisconn
from core.config import Settings
from hotline.harness import free_port
from sms.recipients import ResolveNumber
from sms.segments import segment_count

API = "/2010-04-01/Accounts/{account}"
MORE_INFO = "https://www.twilio.com/docs/errors/{code}"


@dataclass(frozen=True)
class Fault:
    """What the next request gets instead of a normal answer: an HTTP ``status`` (with
    Twilio's code for it), a hang of ``seconds``, or (``accept_then_wait``) the message is
    accepted and recorded but the answer comes ``seconds`` late."""

    status: int = 0
    seconds: float = 0.0
    accept_then_wait: bool = False


@dataclass
class StandIn:
    """The stand-in server; its state is read and changed from any thread."""

    account_sid: str = field(default_factory=lambda: "AC" + secrets.token_hex(16))
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    port: int = 0
    #: Post status callbacks (sent, then delivered) to a message's StatusCallback URL.
    callbacks: bool = True
    callback_delay: float = 0.02
    #: Numbers answered with 21211 (invalid), 21610 (unsubscribed), 21614 (not a mobile).
    invalid: set[str] = field(default_factory=set)
    unsubscribed: set[str] = field(default_factory=set)
    landlines: set[str] = field(default_factory=set)
    #: How many create requests came in (accepted or not).
    create_requests: int = 0
    _messages: list[dict[str, Any]] = field(default_factory=list)
    _faults: deque[Fault] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _accepted: threading.Condition = field(init=False)
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    _thread: threading.Thread | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _session: aiohttp.ClientSession | None = None
    callback_statuses: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._accepted = threading.Condition(self._lock)

    @property
    def base_url(self) -> str:
        """What to point the twilio library at."""
        return f"http://127.0.0.1:{self.port}"

    # -- control, from the test's thread -------------------------------------------------

    def fail_next(self, count: int, status: int) -> None:
        """The next ``count`` requests answer ``status`` (429 → code 20429; 500, 503...)."""
        with self._lock:
            self._faults.extend(Fault(status=status) for _ in range(count))

    def hang_next(self, count: int, seconds: float) -> None:
        """The next ``count`` requests get no answer for ``seconds`` (then a 503)."""
        with self._lock:
            self._faults.extend(Fault(status=503, seconds=seconds) for _ in range(count))

    def accept_then_wait(self, seconds: float) -> None:
        """The next message is accepted and recorded, but answered ``seconds`` later."""
        with self._lock:
            self._faults.append(Fault(seconds=seconds, accept_then_wait=True))

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every accepted message, oldest first (Twilio's JSON plus ``accepted_at``)."""
        with self._lock:
            return [dict(m) for m in self._messages]

    def wait_for_messages(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until at least ``count`` messages were accepted; return them."""
        with self._accepted:
            if not self._accepted.wait_for(lambda: len(self._messages) >= count, timeout):
                raise TimeoutError(f"{len(self._messages)} message(s) accepted, not {count}")
            return [dict(m) for m in self._messages]

    def start(self) -> StandIn:
        """Serve on a free loopback port from a background thread."""
        self.port = self.port or free_port()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._serve(ready)), name="twilio-standin", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("Twilio stand-in did not start")
        return self

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread:
            self._thread.join(10)

    # -- server ---------------------------------------------------------------------------

    async def _serve(self, ready: threading.Event | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = web.Application()
        base = API.format(account="{account}")
        app.router.add_post(base + "/Messages.json", self._create)
        app.router.add_get(base + "/Messages.json", self._list)
        app.router.add_get(base + "/Messages/{sid}.json", self._fetch)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        if ready:
            ready.set()
        async with aiohttp.ClientSession() as self._session:
            await self._stop.wait()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await runner.cleanup()

    async def _guard(self, request: web.Request) -> web.Response | Fault | None:
        """Authentication, then an injected fault if one is pending."""
        if request.match_info["account"] != self.account_sid or not self._authorized(request):
            return _error(20003, "Authenticate", 401)
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        if fault is None or fault.accept_then_wait:
            return fault
        if fault.seconds:
            await asyncio.sleep(fault.seconds)
        if fault.status == 429:
            return _error(20429, "Too Many Requests", 429)
        return _error(20500, "Internal Server Error", fault.status)

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        expected = f"{self.account_sid}:{self.auth_token}".encode()
        return secrets.compare_digest(base64.b64decode(value or b"="), expected)

    async def _create(self, request: web.Request) -> web.Response:
        with self._lock:
            self.create_requests += 1
        guard = await self._guard(request)
        if isinstance(guard, web.Response):
            return guard
        form = await request.post()
        to, sender, body = (str(form.get(k, "")) for k in ("To", "From", "Body"))
        service = str(form.get("MessagingServiceSid", ""))
        if not to:
            return _error(21604, "A 'To' phone number is required.", 400)
        if not sender and not service:
            return _error(21603, "A 'From' phone number is required.", 400)
        if not body:
            return _error(21602, "Message body is required.", 400)
        try:
            number = phonenumbers.parse(to)
            valid = phonenumbers.is_valid_number(number)
        except phonenumbers.NumberParseException:
            valid = False
        if not valid or to in self.invalid:
            return _error(21211, f"The 'To' number {to} is not a valid phone number.", 400)
        if to in self.unsubscribed:
            return _error(21610, "Attempt to send to unsubscribed recipient", 400)
        if to in self.landlines or phonenumbers.number_type(number) == 0:
            return _error(21614, f"'To' number {to} is not a valid mobile number", 400)
        now = datetime.now(UTC)
        sid = "SM" + uuid.uuid4().hex
        message = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": format_datetime(now, usegmt=True),
            "date_sent": None,
            "date_updated": format_datetime(now, usegmt=True),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender or None,
            "messaging_service_sid": service or None,
            "num_media": "0",
            "num_segments": str(segment_count(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{API.format(account=self.account_sid)}/Messages/"
                                 f"{sid}/Media.json"},
            "to": to,
            "uri": f"{API.format(account=self.account_sid)}/Messages/{sid}.json",
            "accepted_at": time.time(),
        }  # fmt: skip
        with self._accepted:
            self._messages.append(message)
            self._accepted.notify_all()
        callback = str(form.get("StatusCallback", ""))
        if callback and self.callbacks:
            task = asyncio.create_task(self._callbacks(message, callback))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if isinstance(guard, Fault):
            await asyncio.sleep(guard.seconds)
        return web.json_response(_public(message), status=201)

    async def _callbacks(self, message: dict[str, Any], url: str) -> None:
        validator = RequestValidator(self.auth_token)
        for status in ("sent", "delivered"):
            await asyncio.sleep(self.callback_delay)
            with self._lock:
                message["status"] = status
                if status == "sent":
                    message["date_sent"] = format_datetime(datetime.now(UTC), usegmt=True)
            params = {
                "MessageSid": message["sid"],
                "SmsSid": message["sid"],
                "MessageStatus": status,
                "SmsStatus": status,
                "To": message["to"],
                "From": message["from"] or "",
                "AccountSid": self.account_sid,
                "ApiVersion": "2010-04-01",
            }
            headers = {"X-Twilio-Signature": validator.compute_signature(url, params)}
            assert self._session is not None
            try:
                async with self._session.post(url, data=params, headers=headers) as resp:
                    self.callback_statuses.append(resp.status)
            except aiohttp.ClientError:
                self.callback_statuses.append(0)

    async def _fetch(self, request: web.Request) -> web.Response:
        guard = await self._guard(request)
        if isinstance(guard, web.Response):
            return guard
        with self._lock:
            found = [m for m in self._messages if m["sid"] == request.match_info["sid"]]
        if not found:
            return _error(20404, "The requested resource was not found", 404)
        return web.json_response(_public(found[0]))

    async def _list(self, request: web.Request) -> web.Response:
        guard = await self._guard(request)
        if isinstance(guard, web.Response):
            return guard
        q = request.query
        with self._lock:
            found = [_public(m) for m in reversed(self._messages)]
        for param, key in (("To", "to"), ("From", "from")):
            if param in q:
                found = [m for m in found if m[key] == q[param]]
        for param, sign in (("DateSent", 0), ("DateSent<", -1), ("DateSent>", 1)):
            if param in q:
                ref = q[param][:10]
                found = [m for m in found if m["date_sent"] and _compare(m["date_sent"], ref, sign)]
        size = int(q.get("PageSize", "50"))
        page = int(q.get("Page", "0"))
        chunk = found[page * size : (page + 1) * size]
        uri = f"{API.format(account=self.account_sid)}/Messages.json"
        more = len(found) > (page + 1) * size
        return web.json_response(
            {
                "messages": chunk,
                "page": page,
                "page_size": size,
                "start": page * size,
                "end": page * size + max(len(chunk) - 1, 0),
                "uri": f"{uri}?PageSize={size}&Page={page}",
                "first_page_uri": f"{uri}?PageSize={size}&Page=0",
                "previous_page_uri": f"{uri}?PageSize={size}&Page={page - 1}" if page else None,
                "next_page_uri": f"{uri}?PageSize={size}&Page={page + 1}" if more else None,
            }
        )


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != "accepted_at"}


def _compare(rfc2822: str, day: str, sign: int) -> bool:
    """Whether the date of ``rfc2822`` is ``day`` (0), on or before it (-1) or after it (1)."""
    sent = parsedate_to_datetime(rfc2822).date().isoformat()
    return sent == day or (sent < day if sign < 0 else sent > day if sign > 0 else False)


def _error(code: int, message: str, status: int) -> web.Response:
    body = {"code": code, "message": message, "more_info": MORE_INFO.format(code=code)}
    return web.json_response({**body, "status": status}, status=status)


@dataclass
class VaultStandIn:
    """Until the number vault exists: refs are keyed hashes, numbers sit in one Redis hash.
    For tests and benchmarks only."""

    client: aioredis.Redis
    key: bytes = field(repr=False)
    hash_name: str = "hotline-test:numbers"

    async def store(self, number: str, language: str) -> str:
        """The ref of ``number``."""
        ref = hmac.new(self.key, number.encode(), hashlib.sha256).hexdigest()
        await self.client.hset(self.hash_name, ref, number)
        return ref

    async def reveal(self, ref: str) -> str:
        """The number behind ``ref``."""
        number = await self.client.hget(self.hash_name, ref)
        if number is None:
            raise KeyError(f"unknown recipient ref {ref[:12]}")
        return number.decode() if isinstance(number, bytes) else str(number)


def vault_resolver(settings: Settings) -> ResolveNumber:
    """``hotline worker --resolver bench.twilio_standin:vault_resolver``."""
    client = redisconn.connect(settings.redis, max_connections=2)
    return VaultStandIn(client, settings.secrets.hash_key).reveal


def main() -> None:
    """Run the stand-in in the foreground until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--account-sid", default="AC" + "0" * 32)
    parser.add_argument("--auth-token", default="0" * 32)
    parser.add_argument("--no-callbacks", action="store_true")
    args = parser.parse_args()
    standin = StandIn(
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        port=args.port or free_port(),
        callbacks=not args.no_callbacks,
    )
    print(f"Twilio stand-in on {standin.base_url} account {standin.account_sid}", flush=True)
    asyncio.run(standin._serve())


if __name__ == "__main__":
    main()
