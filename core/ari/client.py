"""Async ARI REST client on one pooled aiohttp session."""

from __future__ import annotations

import base64
import errno
import json as jsonlib
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import aiohttp
from yarl import URL

from .errors import AriError, AriRefused, AriUnavailable, describe_failure
from .events import Channel

_UNAVAILABLE = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError, OSError)


def _seg(value: str) -> str:
    """Quote one path segment (ids must not inject path components)."""
    return quote(value, safe="")


def ari_root(base_url: str) -> URL:
    """``base_url`` + ``/ari``; refuses credentials embedded in the URL."""
    url = URL(base_url)
    if url.user is not None or url.password is not None:
        raise ValueError("pass ARI credentials as username/password, not in base_url")
    return url.with_path(url.path.rstrip("/") + "/ari").with_query(None)


def basic_auth_header(username: str, password: str) -> dict[str, str]:
    """``Authorization: Basic`` header (credentials never go into URLs)."""
    if ":" in username:
        raise ValueError("ARI username must not contain ':'")
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


class AriClient:
    """ARI REST calls with Basic auth in a header and a bounded connection pool.

    Asterisk's HTTP server allows 100 sessions; the default pool of 90 leaves room
    for the event websocket and operators' tools.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        pool_size: int = 90,
        timeout: float = 10.0,
    ) -> None:
        self._root = str(ari_root(base_url))
        self._headers = basic_auth_header(username, password)
        self._pool_size = pool_size
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"AriClient({self._root!r})"

    async def start(self) -> None:
        """Create the HTTP session (otherwise created on first request)."""
        self._get_session()

    async def close(self) -> None:
        """Close the HTTP session and its pooled connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._pool_size),
            )
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
    ) -> Any:
        """Call ``/ari{path}``; return parsed JSON, or None for an empty body.

        Raises AriError on HTTP >= 400 and AriUnavailable when Asterisk is unreachable
        (AriRefused when nothing listens there).
        """
        session = self._get_session()
        try:
            async with session.request(
                method, URL(self._root + path, encoded=True), params=params, json=json
            ) as resp:
                text = await resp.text()
                status, reason = resp.status, resp.reason or ""
        except _UNAVAILABLE as exc:
            if isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED:
                raise AriRefused(describe_failure(exc), method, path) from None
            raise AriUnavailable(describe_failure(exc), method, path) from None
        body: Any = None
        if text:
            try:
                body = jsonlib.loads(text)
            except ValueError:
                if status < 400:
                    raise AriError(status, "invalid JSON in response", method, path) from None
        if status >= 400:
            message = reason
            if isinstance(body, dict):
                message = str(body.get("message") or body.get("error") or reason)
            raise AriError(status, message, method, path)
        return body

    async def answer(self, channel_id: str) -> None:
        """Answer a channel."""
        await self.request("POST", f"/channels/{_seg(channel_id)}/answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        """Hang up a channel."""
        await self.request("DELETE", f"/channels/{_seg(channel_id)}", params={"reason": reason})

    async def play(
        self,
        channel_id: str,
        media: Sequence[str],
        *,
        playback_id: str,
        lang: str | None = None,
    ) -> None:
        """Play one or more media URIs (e.g. ``sound:hello``) in sequence as one playback."""
        if not media:
            raise ValueError("play() needs at least one media URI")
        params: dict[str, str | int] = {"media": ",".join(media)}
        if lang is not None:
            params["lang"] = lang
        await self.request(
            "POST", f"/channels/{_seg(channel_id)}/play/{_seg(playback_id)}", params=params
        )

    async def stop_playback(self, playback_id: str) -> None:
        """Stop a playback."""
        await self.request("DELETE", f"/playbacks/{_seg(playback_id)}")

    async def playback_exists(self, playback_id: str) -> bool:
        """Whether Asterisk still knows the playback."""
        try:
            await self.request("GET", f"/playbacks/{_seg(playback_id)}")
        except AriError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def list_channels(self) -> list[Channel]:
        """All channels Asterisk knows."""
        data = await self.request("GET", "/channels")
        return [Channel.from_json(item) for item in data or ()]

    async def app_channels(self, app: str) -> frozenset[str]:
        """Ids of the channels subscribed to Stasis application ``app`` (in it, or rung by
        it); empty if Asterisk does not know the application."""
        try:
            data = await self.request("GET", f"/applications/{_seg(app)}")
        except AriError as exc:
            if exc.status == 404:
                return frozenset()
            raise
        return frozenset(str(cid) for cid in (data or {}).get("channel_ids") or ())

    async def bridged_channels(self) -> dict[str, frozenset[str]]:
        """Every bridge's channels, by bridge id."""
        data = await self.request("GET", "/bridges")
        return {
            str(b["id"]): frozenset(str(c) for c in b.get("channels") or ())
            for b in data or ()
            if isinstance(b, dict) and "id" in b
        }

    async def get_channel(self, channel_id: str) -> Channel | None:
        """One channel, or None if it does not exist."""
        try:
            data = await self.request("GET", f"/channels/{_seg(channel_id)}")
        except AriError as exc:
            if exc.status == 404:
                return None
            raise
        return Channel.from_json(data)

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        """Start music on hold (default class unless ``moh_class``)."""
        params = {"mohClass": moh_class} if moh_class else None
        await self.request("POST", f"/channels/{_seg(channel_id)}/moh", params=params)

    async def stop_moh(self, channel_id: str) -> None:
        """Stop music on hold."""
        await self.request("DELETE", f"/channels/{_seg(channel_id)}/moh")

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        """Set a channel variable."""
        await self.request(
            "POST",
            f"/channels/{_seg(channel_id)}/variable",
            params={"variable": name, "value": value},
        )

    async def ring(self, channel_id: str) -> None:
        """Indicate ringing to the channel."""
        await self.request("POST", f"/channels/{_seg(channel_id)}/ring")

    async def continue_in_dialplan(
        self, channel_id: str, context: str, extension: str, priority: int = 1
    ) -> None:
        """Leave Stasis and continue in the dialplan at context/extension/priority."""
        await self.request(
            "POST",
            f"/channels/{_seg(channel_id)}/continue",
            params={"context": context, "extension": extension, "priority": priority},
        )

    async def snoop(
        self,
        channel_id: str,
        *,
        app: str,
        snoop_id: str,
        spy: str,
        whisper: str,
        app_args: str = "",
    ) -> Channel:
        """A snoop channel on ``channel_id`` into Stasis ``app``: it hears the channel's audio
        in the ``spy`` direction and speaks into it in the ``whisper`` direction ("none",
        "in", "out" or "both"). It hangs up when the snooped channel does."""
        params: dict[str, str | int] = {
            "app": app,
            "snoopId": snoop_id,
            "spy": spy,
            "whisper": whisper,
            "appArgs": app_args,
        }
        data = await self.request("POST", f"/channels/{_seg(channel_id)}/snoop", params=params)
        return Channel.from_json(data)

    async def create_bridge(self, bridge_id: str, bridge_type: str = "mixing") -> None:
        """Create (or update) a bridge with a chosen id."""
        await self.request("POST", f"/bridges/{_seg(bridge_id)}", params={"type": bridge_type})

    async def add_to_bridge(self, bridge_id: str, *channel_ids: str) -> None:
        """Add channels to a bridge (none of them if one is missing or not in Stasis)."""
        await self.request(
            "POST",
            f"/bridges/{_seg(bridge_id)}/addChannel",
            params={"channel": ",".join(channel_ids)},
        )

    async def remove_from_bridge(self, bridge_id: str, channel_id: str) -> None:
        """Remove a channel from a bridge."""
        await self.request(
            "POST", f"/bridges/{_seg(bridge_id)}/removeChannel", params={"channel": channel_id}
        )

    async def destroy_bridge(self, bridge_id: str) -> None:
        """Destroy a bridge."""
        await self.request("DELETE", f"/bridges/{_seg(bridge_id)}")

    async def endpoint_state(self, tech: str, resource: str) -> str:
        """An endpoint's state (``GET /endpoints/{tech}/{resource}``): "online", "offline" or
        "unknown". A PJSIP endpoint reads "offline" only when its contacts are qualified (SIP
        OPTIONS) and none answers; without qualify it reads "online" whatever the peer does."""
        endpoint = await self.request("GET", f"/endpoints/{_seg(tech)}/{_seg(resource)}")
        return str(endpoint.get("state", "unknown")) if isinstance(endpoint, dict) else "unknown"

    async def send_message(
        self, to: str, from_: str, body: str, variables: Mapping[str, str] | None = None
    ) -> None:
        """Send an out-of-call text message (``PUT /endpoints/sendMessage``); ``to`` is a
        technology URI such as ``pjsip:carrier/sip:+15145550123@host``, ``variables`` become
        headers. Asterisk answers once it queued the message, not when it was delivered."""
        body_json = {"variables": dict(variables)} if variables else None
        await self.request(
            "PUT",
            "/endpoints/sendMessage",
            params={"to": to, "from": from_, "body": body},
            json=body_json,
        )

    async def subscribe(self, app: str, event_source: str) -> None:
        """Subscribe ``app`` to an event source, e.g. ``endpoint:PJSIP/carrier``."""
        await self.request(
            "POST", f"/applications/{_seg(app)}/subscription", params={"eventSource": event_source}
        )

    async def set_event_filter(self, app: str, allowed: Sequence[str]) -> None:
        """Deliver to ``app`` only the event types in ``allowed``."""
        await self.request(
            "PUT",
            f"/applications/{_seg(app)}/eventFilter",
            json={"allowed": [{"type": name} for name in allowed]},
        )

    async def originate(
        self,
        *,
        endpoint: str,
        app: str,
        channel_id: str,
        app_args: str = "",
        caller_id: str | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - ARI ring timeout in seconds
        variables: Mapping[str, str] | None = None,
    ) -> Channel:
        """Originate a call into Stasis ``app``; returns the new channel."""
        params: dict[str, str | int] = {
            "endpoint": endpoint,
            "app": app,
            "appArgs": app_args,
            "channelId": channel_id,
            "timeout": timeout,
        }
        if caller_id is not None:
            params["callerId"] = caller_id
        body = {"variables": dict(variables)} if variables else None
        data = await self.request("POST", "/channels", params=params, json=body)
        return Channel.from_json(data)
