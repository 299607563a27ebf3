"""The ARI event websocket with reconnect, backoff and dead-peer detection.

Calls in Stasis survive a websocket drop, but Asterisk does not replay events
from the gap: handlers get ``StreamConnected(reconnect=True)`` to resynchronise.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable

import aiohttp

from .client import ari_root, basic_auth_header
from .errors import AriAppReplaced, describe_failure
from .events import ApplicationReplaced, Event, StreamConnected, parse_event

logger = logging.getLogger(__name__)

_CONNECT_TIMEOUT = 10.0

Handler = Callable[[Event], Awaitable[None]]


class AriEventStream:
    """Subscribes to ``/ari/events`` for one Stasis app and feeds events to a handler."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        app: str,
        *,
        heartbeat: float = 5.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
    ) -> None:
        root = ari_root(base_url)
        ws_scheme = "wss" if root.scheme == "https" else "ws"
        self.url = root.with_scheme(ws_scheme).with_path(root.path + "/events")
        self._headers = basic_auth_header(username, password)
        self.app = app
        self._heartbeat = heartbeat
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self.connected = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def __repr__(self) -> str:
        return f"AriEventStream({str(self.url)!r}, app={self.app!r})"

    @property
    def is_connected(self) -> bool:
        """Whether the websocket is currently open."""
        return self.connected.is_set()

    async def run(self, handle: Handler) -> None:
        """Deliver events to ``handle`` in order, reconnecting forever.

        Returns after ``close()``; raises AriAppReplaced if another websocket takes
        the app over. Exceptions from ``handle`` propagate.
        """
        self._task = asyncio.current_task()
        self._closing = False
        try:
            async with aiohttp.ClientSession(
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=None, connect=_CONNECT_TIMEOUT),
            ) as session:
                await self._loop(session, handle)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not self._closing or task is None or task.uncancel() > 0:
                raise
        finally:
            self._task = None

    async def _loop(self, session: aiohttp.ClientSession, handle: Handler) -> None:
        delay = self._backoff_initial
        reconnect = False
        while True:
            try:
                ws = await session.ws_connect(
                    self.url,
                    params={"app": self.app, "subscribeAll": "false"},
                    heartbeat=self._heartbeat,
                    timeout=aiohttp.ClientWSTimeout(ws_close=self._heartbeat),
                )
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                what = "unreachable"
                reason = describe_failure(exc)
            else:
                delay = self._backoff_initial
                what = "connection lost"
                reason = await self._consume(ws, handle, reconnect)
                reconnect = True
            if self._closing:
                return
            wait = random.uniform(delay / 2, delay)
            logger.warning(
                "ARI events at %s %s (%s); retrying in %.2g s", self.url, what, reason, wait
            )
            await asyncio.sleep(wait)
            delay = min(delay * 2, self._backoff_max)

    async def _consume(
        self, ws: aiohttp.ClientWebSocketResponse, handle: Handler, reconnect: bool
    ) -> str:
        """Read one connection until it ends; return why it ended."""
        self._ws = ws
        self.connected.set()
        logger.info("ARI events at %s connected for app %s", self.url, self.app)
        try:
            await handle(StreamConnected(reconnect=reconnect))
            while True:
                msg = await ws.receive()
                if msg.type is aiohttp.WSMsgType.TEXT:
                    event = self._parse(msg.data)
                    if isinstance(event, ApplicationReplaced):
                        raise AriAppReplaced(f"ARI application {self.app!r} was taken over")
                    if event is not None:
                        await handle(event)
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    return describe_failure(msg.data)
                elif msg.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.CLOSED,
                ):
                    exc = ws.exception()
                    return describe_failure(exc) if exc else f"closed, code {ws.close_code}"
        finally:
            self.connected.clear()
            self._ws = None
            await ws.close()

    @staticmethod
    def _parse(text: str) -> Event | None:
        try:
            data = json.loads(text)
        except ValueError:
            logger.warning("skipping ARI message that is not JSON")
            return None
        if not isinstance(data, dict):
            logger.warning("skipping ARI message that is not a JSON object")
            return None
        try:
            return parse_event(data)
        except ValueError as exc:
            logger.warning("skipping ARI event: %s", exc)
            return None

    async def drop(self) -> None:
        """Close the current websocket as a network drop would; ``run`` reconnects."""
        ws = self._ws
        if ws is not None:
            await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)

    async def close(self) -> None:
        """Stop ``run`` (which then returns), closing the websocket and session."""
        self._closing = True
        task = self._task
        if task is None:
            return
        if task is asyncio.current_task():
            await self.drop()
            return
        task.cancel()
        await asyncio.wait({task})
