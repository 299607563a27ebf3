"""AriClient against a local aiohttp server that mimics ARI REST."""

import asyncio
import base64
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from core.ari import AriClient, AriError, AriRefused, AriUnavailable

USER, PASSWORD = "hotline", "s3cret-pw"
CALLER = "+447700900123"
CHANNEL = {
    "id": "c1",
    "name": "PJSIP/trunk-1",
    "state": "Up",
    "caller": {"name": "", "number": CALLER},
    "dialplan": {"exten": "116123"},
    "language": "en",
}


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    url: str
    authorization: str
    body: Any


@dataclass
class FakeAri:
    """Records requests; answers from ``responses`` keyed by (method, path), default 204."""

    seen: list[Seen] = field(default_factory=list)
    responses: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    delay: float = 0.0
    in_flight: int = 0
    max_in_flight: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.seen.append(
            Seen(
                request.method,
                request.path,
                dict(request.query),
                str(request.url),
                request.headers.get("Authorization", ""),
                body,
            )
        )
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"message": "Authentication required"}, status=401)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        status, payload = self.responses.get((request.method, request.path), (204, None))
        if isinstance(payload, str):
            return web.Response(status=status, text=payload)
        if payload is None:
            return web.Response(status=status)
        return web.json_response(payload, status=status)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeAri, str]]:
    ari = FakeAri()
    app = web.Application()
    app.router.add_route("*", "/ari/{tail:.*}", ari.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        yield ari, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def client(fake: tuple[FakeAri, str]) -> AsyncIterator[AriClient]:
    async with AriClient(fake[1], USER, PASSWORD) as ari:
        yield ari


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_basic_auth_header_and_no_password_in_url(
    fake: tuple[FakeAri, str], client: AriClient
) -> None:
    await client.answer("c1")
    (seen,) = fake[0].seen
    assert (seen.method, seen.path) == ("POST", "/ari/channels/c1/answer")
    assert seen.authorization.startswith("Basic ")
    assert PASSWORD not in seen.url
    assert "api_key" not in seen.query


async def test_404_raises_ari_error_with_asterisk_message(
    fake: tuple[FakeAri, str], client: AriClient
) -> None:
    fake[0].responses[("POST", "/ari/channels/gone/answer")] = (
        404,
        {"message": "Channel not found"},
    )
    with pytest.raises(AriError) as info:
        await client.answer("gone")
    err = info.value
    assert not isinstance(err, AriUnavailable)
    assert (err.status, err.message, err.method, err.path) == (
        404,
        "Channel not found",
        "POST",
        "/channels/gone/answer",
    )
    assert str(err) == "ARI POST /channels/gone/answer -> 404: Channel not found"


async def test_error_field_and_non_json_error_body(
    fake: tuple[FakeAri, str], client: AriClient
) -> None:
    fake[0].responses[("DELETE", "/ari/bridges/b1")] = (400, {"error": "Invalid bridge"})
    fake[0].responses[("POST", "/ari/bridges/b2")] = (500, "<html>boom</html>")
    with pytest.raises(AriError, match="400: Invalid bridge"):
        await client.destroy_bridge("b1")
    with pytest.raises(AriError, match="500: Internal Server Error"):
        await client.create_bridge("b2")


async def test_wrong_password_is_not_echoed(fake: tuple[FakeAri, str]) -> None:
    async with AriClient(fake[1], USER, "wrong-pw") as ari:
        with pytest.raises(AriError) as info:
            await ari.ring("c1")
    assert info.value.status == 401
    assert "wrong-pw" not in str(info.value)
    assert "wrong-pw" not in repr(ari)


async def test_connection_refused_raises_refused_a_kind_of_unavailable() -> None:
    async with AriClient(f"http://127.0.0.1:{free_port()}", USER, PASSWORD) as ari:
        with pytest.raises(AriRefused) as info:
            await ari.hangup("c1")
    assert isinstance(info.value, AriUnavailable)
    assert info.value.status == 0
    assert info.value.path == "/channels/c1"
    assert "Connection refused" in str(info.value)
    assert PASSWORD not in str(info.value)


async def test_timeout_raises_unavailable_without_query(fake: tuple[FakeAri, str]) -> None:
    fake[0].delay = 1.0
    async with AriClient(fake[1], USER, PASSWORD, timeout=0.1) as ari:
        with pytest.raises(AriUnavailable) as info:
            await ari.originate(
                endpoint="PJSIP/x", app="hotline", channel_id="o1", caller_id=CALLER
            )
    assert info.value.message == "timed out"
    assert not isinstance(info.value, AriRefused)
    assert CALLER not in str(info.value)


async def test_credentials_in_base_url_are_refused() -> None:
    with pytest.raises(ValueError, match="username/password") as info:
        AriClient(f"http://{USER}:{PASSWORD}@127.0.0.1:8088", USER, PASSWORD)
    assert PASSWORD not in str(info.value)


async def test_play_joins_media_and_quotes_ids(
    fake: tuple[FakeAri, str], client: AriClient
) -> None:
    await client.play("c/1", ["sound:hello", "digits:42"], playback_id="pb 1", lang="fr")
    (seen,) = fake[0].seen
    assert seen.url.split("?")[0].endswith("/ari/channels/c%2F1/play/pb%201")
    assert seen.query == {"media": "sound:hello,digits:42", "lang": "fr"}
    with pytest.raises(ValueError, match="media"):
        await client.play("c1", [], playback_id="pb2")


async def test_originate_sends_variables_as_json(
    fake: tuple[FakeAri, str], client: AriClient
) -> None:
    fake[0].responses[("POST", "/ari/channels")] = (200, CHANNEL)
    channel = await client.originate(
        endpoint="PJSIP/1001",
        app="hotline",
        channel_id="c1",
        app_args="callback",
        caller_id="Helpline <116123>",
        variables={"HOTLINE_TICKET": "42"},
    )
    assert channel.id == "c1"
    assert channel.caller_number == CALLER
    (seen,) = fake[0].seen
    assert seen.body == {"variables": {"HOTLINE_TICKET": "42"}}
    assert seen.query == {
        "endpoint": "PJSIP/1001",
        "app": "hotline",
        "appArgs": "callback",
        "channelId": "c1",
        "timeout": "30",
        "callerId": "Helpline <116123>",
    }


async def test_lookups_map_404_to_none_or_false(
    fake: tuple[FakeAri, str], client: AriClient
) -> None:
    responses = fake[0].responses
    responses[("GET", "/ari/channels")] = (200, [CHANNEL])
    responses[("GET", "/ari/channels/c1")] = (200, CHANNEL)
    responses[("GET", "/ari/channels/nope")] = (404, {"message": "Channel not found"})
    responses[("GET", "/ari/playbacks/pb1")] = (200, {"id": "pb1"})
    responses[("GET", "/ari/playbacks/old")] = (404, {"message": "Playback not found"})
    responses[("GET", "/ari/playbacks/err")] = (500, {"message": "oops"})
    assert [c.id for c in await client.list_channels()] == ["c1"]
    assert (await client.get_channel("c1")) == (await client.list_channels())[0]
    assert await client.get_channel("nope") is None
    assert await client.playback_exists("pb1") is True
    assert await client.playback_exists("old") is False
    with pytest.raises(AriError, match="500"):
        await client.playback_exists("err")


async def test_helpers_hit_the_ari_paths(fake: tuple[FakeAri, str], client: AriClient) -> None:
    await client.hangup("c1", reason="busy")
    await client.stop_playback("pb1")
    await client.start_moh("c1", "calm")
    await client.start_moh("c1")
    await client.stop_moh("c1")
    await client.set_variable("c1", "LANG", "cy")
    await client.continue_in_dialplan("c1", "after-ivr", "s", 2)
    await client.create_bridge("b1")
    await client.add_to_bridge("b1", "c1")
    await client.add_to_bridge("b1", "c1", "c2")
    await client.remove_from_bridge("b1", "c1")
    assert [(s.method, s.path, s.query) for s in fake[0].seen] == [
        ("DELETE", "/ari/channels/c1", {"reason": "busy"}),
        ("DELETE", "/ari/playbacks/pb1", {}),
        ("POST", "/ari/channels/c1/moh", {"mohClass": "calm"}),
        ("POST", "/ari/channels/c1/moh", {}),
        ("DELETE", "/ari/channels/c1/moh", {}),
        ("POST", "/ari/channels/c1/variable", {"variable": "LANG", "value": "cy"}),
        (
            "POST",
            "/ari/channels/c1/continue",
            {"context": "after-ivr", "extension": "s", "priority": "2"},
        ),
        ("POST", "/ari/bridges/b1", {"type": "mixing"}),
        ("POST", "/ari/bridges/b1/addChannel", {"channel": "c1"}),
        ("POST", "/ari/bridges/b1/addChannel", {"channel": "c1,c2"}),
        ("POST", "/ari/bridges/b1/removeChannel", {"channel": "c1"}),
    ]


async def test_send_message_subscribe_and_event_filter(
    fake: tuple[FakeAri, str], client: AriClient
) -> None:
    fake[0].responses[("PUT", "/ari/endpoints/sendMessage")] = (202, None)
    to = f"pjsip:carrier/sip:{CALLER}@192.0.2.1:5060"
    await client.send_message(to, "+18005550100", "Ça va ?", {"X-Ref": "m1"})
    await client.send_message(to, "+18005550100", "plain")
    await client.subscribe("hotline sms", "endpoint:PJSIP/carrier")
    await client.set_event_filter("hotline sms", ["TextMessageReceived"])
    assert [(s.method, s.path, s.query, s.body) for s in fake[0].seen] == [
        (
            "PUT",
            "/ari/endpoints/sendMessage",
            {"to": to, "from": "+18005550100", "body": "Ça va ?"},
            {"variables": {"X-Ref": "m1"}},
        ),
        (
            "PUT",
            "/ari/endpoints/sendMessage",
            {"to": to, "from": "+18005550100", "body": "plain"},
            None,
        ),
        (
            "POST",
            "/ari/applications/hotline sms/subscription",
            {"eventSource": "endpoint:PJSIP/carrier"},
            None,
        ),
        (
            "PUT",
            "/ari/applications/hotline sms/eventFilter",
            {},
            {"allowed": [{"type": "TextMessageReceived"}]},
        ),
    ]
    assert "%20" in fake[0].seen[2].url


async def test_send_message_error_does_not_echo_the_number(
    fake: tuple[FakeAri, str], client: AriClient
) -> None:
    fake[0].responses[("PUT", "/ari/endpoints/sendMessage")] = (404, {"message": "not found"})
    with pytest.raises(AriError) as info:
        await client.send_message(f"pjsip:nope/sip:{CALLER}@h", "+18005550100", "hi")
    assert info.value.status == 404
    assert CALLER not in str(info.value)
    assert CALLER.lstrip("+") not in str(info.value)


async def test_pool_size_bounds_concurrent_requests(fake: tuple[FakeAri, str]) -> None:
    fake[0].delay = 0.05
    async with AriClient(fake[1], USER, PASSWORD, pool_size=2) as ari:
        await asyncio.gather(*(ari.ring(f"c{i}") for i in range(6)))
    assert fake[0].max_in_flight == 2
    assert len(fake[0].seen) == 6
