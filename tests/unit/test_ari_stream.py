"""AriEventStream against a local aiohttp websocket server that mimics /ari/events."""

import asyncio
import base64
import logging
import re
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from core.ari import (
    AriAppReplaced,
    AriEventStream,
    ChannelDtmfReceived,
    Event,
    StasisEnd,
    StasisStart,
    StreamConnected,
)

USER, PASSWORD = "hotline", "s3cret-pw"
CALLER = "+447700900123"
CHANNEL = {"id": "c1", "name": "PJSIP/t-1", "state": "Up", "caller": {"number": CALLER}}


@dataclass
class FakeEvents:
    """Hands accepted websockets to the test; the first ``reject`` handshakes get 503,
    the next ``deaf`` connections never answer pings."""

    sockets: asyncio.Queue[web.WebSocketResponse] = field(default_factory=asyncio.Queue)
    requests: list[tuple[str, dict[str, str], str]] = field(default_factory=list)
    deaf: int = 0
    reject: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        self.requests.append((str(request.url), dict(request.query), auth))
        if self.reject:
            self.reject -= 1
            return web.Response(status=503, reason="Busy")
        ws = web.WebSocketResponse(autoping=self.deaf == 0)
        self.deaf = max(0, self.deaf - 1)
        await ws.prepare(request)
        await self.sockets.put(ws)
        async for msg in ws:
            assert msg.type is not WSMsgType.TEXT
        return ws

    async def next_socket(self) -> web.WebSocketResponse:
        return await asyncio.wait_for(self.sockets.get(), 1.0)


@pytest.fixture
async def server() -> AsyncIterator[tuple[FakeEvents, str]]:
    fake = FakeEvents()
    app = web.Application()
    app.router.add_get("/ari/events", fake.handle)
    async with TestServer(app, host="127.0.0.1") as srv:
        yield fake, str(srv.make_url("")).rstrip("/")


class Collector:
    """Handler that queues what it is given."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[Event] = asyncio.Queue()

    async def __call__(self, event: Event) -> None:
        await self.events.put(event)

    async def next(self) -> Event:
        return await asyncio.wait_for(self.events.get(), 1.0)


StreamFactory = Callable[..., AriEventStream]


@pytest.fixture
async def make_stream(server: tuple[FakeEvents, str]) -> AsyncIterator[StreamFactory]:
    """Streams made here are closed before the server stops, also when a test fails."""
    streams: list[AriEventStream] = []

    def make(base_url: str, **kwargs: Any) -> AriEventStream:
        kwargs.setdefault("backoff_initial", 0.02)
        kwargs.setdefault("backoff_max", 0.05)
        streams.append(AriEventStream(base_url, USER, PASSWORD, "hotline", **kwargs))
        return streams[-1]

    yield make
    for stream in streams:
        await stream.close()


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "channel": CHANNEL, **fields}


async def test_connects_with_auth_header_and_app(
    server: tuple[FakeEvents, str], caplog: pytest.LogCaptureFixture, make_stream: StreamFactory
) -> None:
    caplog.set_level(logging.INFO, logger="core.ari.stream")
    fake, url = server
    stream, got = make_stream(url), Collector()
    task = asyncio.create_task(stream.run(got))
    assert await got.next() == StreamConnected(reconnect=False)
    assert stream.is_connected
    ws_url, query, auth = fake.requests[0]
    assert query == {"app": "hotline", "subscribeAll": "false"}
    expected = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert auth == f"Basic {expected}"
    assert PASSWORD not in ws_url
    assert PASSWORD not in repr(stream)
    assert f"{stream.url} connected for app hotline" in caplog.text
    assert PASSWORD not in caplog.text
    assert expected not in caplog.text
    await stream.close()
    assert task.done()
    assert task.result() is None
    assert not stream.is_connected


async def test_events_in_order_and_reconnect_after_server_close(
    server: tuple[FakeEvents, str], caplog: pytest.LogCaptureFixture, make_stream: StreamFactory
) -> None:
    fake, url = server
    stream, got = make_stream(url), Collector()
    task = asyncio.create_task(stream.run(got))
    ws = await fake.next_socket()
    await ws.send_json(event("StasisStart", args=["ivr"]))
    await ws.send_json(event("ChannelDtmfReceived", digit="7", duration_ms=100))
    await ws.close()
    ws2 = await fake.next_socket()
    await ws2.send_json(event("StasisEnd"))
    kinds = [await got.next() for _ in range(5)]
    assert kinds[0] == StreamConnected(reconnect=False)
    assert isinstance(kinds[1], StasisStart)
    assert kinds[1].args == ("ivr",)
    assert isinstance(kinds[2], ChannelDtmfReceived)
    assert kinds[2].digit == "7"
    assert kinds[3] == StreamConnected(reconnect=True)
    assert isinstance(kinds[4], StasisEnd)
    lost = [m for m in warnings(caplog) if "connection lost" in m]
    assert lost
    assert lost[0].startswith(f"ARI events at ws://{url.split('://')[1]}/ari/events ")
    await stream.close()
    assert task.result() is None


async def test_drop_reconnects(server: tuple[FakeEvents, str], make_stream: StreamFactory) -> None:
    fake, url = server
    stream, got = make_stream(url), Collector()
    task = asyncio.create_task(stream.run(got))
    assert await got.next() == StreamConnected(reconnect=False)
    await stream.drop()
    assert await got.next() == StreamConnected(reconnect=True)
    assert stream.is_connected
    assert len(fake.requests) == 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not stream.is_connected


async def test_backs_off_when_refused(
    caplog: pytest.LogCaptureFixture, make_stream: StreamFactory
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    stream = make_stream(f"http://127.0.0.1:{port}", backoff_initial=0.01, backoff_max=0.08)
    got = Collector()
    task = asyncio.create_task(stream.run(got))
    for _ in range(100):
        if len(warnings(caplog)) >= 5:
            break
        await asyncio.sleep(0.02)
    await stream.close()
    assert task.result() is None
    assert got.events.empty()
    messages = warnings(caplog)
    assert len(messages) >= 5
    pattern = (
        rf"ARI events at ws://127\.0\.0\.1:{port}/ari/events unreachable "
        r"\(Connection refused\); retrying in ([0-9.e-]+) s"
    )
    waits = []
    for message in messages:
        match = re.fullmatch(pattern, message)
        assert match, message
        waits.append(float(match[1]))
    assert waits[0] <= 0.01
    assert waits[1] <= 0.02
    assert 0.04 <= waits[3] <= 0.08
    assert all(0.005 <= w <= 0.08 for w in waits)


async def test_backoff_resets_after_successful_connect(
    server: tuple[FakeEvents, str], caplog: pytest.LogCaptureFixture, make_stream: StreamFactory
) -> None:
    fake, url = server
    fake.reject = 3
    stream = make_stream(url, backoff_initial=0.01, backoff_max=0.08)
    got = Collector()
    task = asyncio.create_task(stream.run(got))
    ws = await fake.next_socket()
    assert await got.next() == StreamConnected(reconnect=False)
    await ws.close()
    assert await got.next() == StreamConnected(reconnect=True)
    waits = [float(m) for m in re.findall(r"retrying in ([0-9.e-]+) s", caplog.text)]
    assert "unreachable (HTTP 503 " in warnings(caplog)[0]
    assert len(waits) == 4
    assert waits[2] >= 0.02
    assert waits[3] <= 0.01
    await stream.close()
    assert task.result() is None


async def test_application_replaced_is_fatal(
    server: tuple[FakeEvents, str], make_stream: StreamFactory
) -> None:
    fake, url = server
    stream, got = make_stream(url), Collector()
    task = asyncio.create_task(stream.run(got))
    ws = await fake.next_socket()
    await ws.send_json({"type": "ApplicationReplaced", "application": "hotline"})
    with pytest.raises(AriAppReplaced):
        await asyncio.wait_for(task, 1.0)
    assert await got.next() == StreamConnected(reconnect=False)
    assert got.events.empty()
    assert len(fake.requests) == 1


async def test_malformed_messages_are_skipped_without_payload_in_log(
    server: tuple[FakeEvents, str], caplog: pytest.LogCaptureFixture, make_stream: StreamFactory
) -> None:
    fake, url = server
    stream, got = make_stream(url), Collector()
    task = asyncio.create_task(stream.run(got))
    ws = await fake.next_socket()
    await ws.send_str("not json " + CALLER)
    await ws.send_json([CALLER])
    await ws.send_json({"type": "ChannelDtmfReceived", "channel": CHANNEL})
    await ws.send_json(event("StasisEnd"))
    assert await got.next() == StreamConnected(reconnect=False)
    assert isinstance(await got.next(), StasisEnd)
    log = caplog.text
    assert "ChannelDtmfReceived" in log
    assert CALLER not in log
    assert len(warnings(caplog)) == 3
    await stream.close()
    assert task.result() is None


async def test_dead_peer_is_detected_by_heartbeat(
    server: tuple[FakeEvents, str], make_stream: StreamFactory
) -> None:
    fake, url = server
    fake.deaf = 1
    stream, got = make_stream(url, heartbeat=0.1), Collector()
    task = asyncio.create_task(stream.run(got))
    assert await got.next() == StreamConnected(reconnect=False)
    assert await got.next() == StreamConnected(reconnect=True)
    await stream.close()
    assert task.result() is None


async def test_handler_error_propagates(
    server: tuple[FakeEvents, str], make_stream: StreamFactory
) -> None:
    _, url = server

    async def broken(event: Event) -> None:
        raise RuntimeError("handler bug")

    stream = make_stream(url)
    with pytest.raises(RuntimeError, match="handler bug"):
        await asyncio.wait_for(stream.run(broken), 1.0)
    assert not stream.is_connected


async def test_close_from_inside_handler(
    server: tuple[FakeEvents, str], make_stream: StreamFactory
) -> None:
    _, url = server
    stream = make_stream(url)
    seen: list[Event] = []

    async def stop(event: Event) -> None:
        seen.append(event)
        await stream.close()

    await asyncio.wait_for(stream.run(stop), 1.0)
    assert seen == [StreamConnected(reconnect=False)]
