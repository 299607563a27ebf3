"""The ceiling of any ARI ACD: answer the caller (unless the dialplan did), ring the longest-idle
free agent, bridge the two when the agent answers, hang up the other side when one leaves.
Nothing else.

Run as ``python -m bench.bare_acd URL USER APP AGENTS`` (agents ``PJSIP/agent001`` to
``PJSIP/agent{AGENTS}``) with the password in ``BARE_ARI_PASSWORD``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import deque
from collections.abc import Coroutine
from typing import Any

import aiohttp


async def main(url: str, user: str, app: str, agents: int) -> None:
    auth = aiohttp.BasicAuth(user, os.environ["BARE_ARI_PASSWORD"])
    ws_url = url.replace("http", "ws", 1) + f"/ari/events?app={app}"
    idle = deque(f"agent{n:03d}" for n in range(1, agents + 1))  # longest idle first
    waiting: deque[str] = deque()
    peer: dict[str, str] = {}  # caller <-> agent leg, both ways
    agent_of: dict[str, str] = {}  # agent leg -> agent
    async with (
        aiohttp.ClientSession(auth=auth, connector=aiohttp.TCPConnector(limit=90)) as http,
        http.ws_connect(ws_url) as ws,
    ):
        tasks: set[asyncio.Task[object]] = set()

        def spawn(coro: Coroutine[Any, Any, object]) -> None:
            task = asyncio.create_task(coro)
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        async def call(method: str, path: str) -> bool:
            async with http.request(method, f"{url}/ari{path}") as response:
                await response.read()
                return response.ok

        def offer() -> None:
            while waiting and idle:
                caller, agent = waiting.popleft(), idle.popleft()
                leg = f"leg-{caller}"
                peer[caller], peer[leg], agent_of[leg] = leg, caller, agent
                spawn(call("POST", f"/channels/{leg}?endpoint=PJSIP/{agent}&app={app}&appArgs=leg"))

        async def on_caller(caller: str, up: bool) -> None:
            # Answered by the dialplan, as ours; else answer (False: the caller left).
            if up or await call("POST", f"/channels/{caller}/answer"):
                waiting.append(caller)
                offer()

        async def on_leg(leg: str) -> None:
            if leg not in peer:  # the caller left while it rang
                await call("DELETE", f"/channels/{leg}")
                return
            bridge = f"br-{leg}"
            await call("POST", f"/bridges?type=mixing&bridgeId={bridge}")
            await call("POST", f"/bridges/{bridge}/addChannel?channel={peer[leg]},{leg}")

        async def on_end(channel: str) -> None:
            other = peer.pop(channel, None)
            if channel in waiting:
                waiting.remove(channel)
            if other is not None:
                peer.pop(other, None)
                await call("DELETE", f"/channels/{other}")
                leg = channel if channel.startswith("leg-") else other
                await call("DELETE", f"/bridges/br-{leg}")

        async for message in ws:
            event = json.loads(message.data)
            kind, channel = event["type"], event.get("channel", {}).get("id", "")
            if kind == "StasisStart":
                if event["args"] == ["leg"]:
                    spawn(on_leg(channel))
                else:
                    spawn(on_caller(channel, event["channel"]["state"] == "Up"))
            elif kind == "StasisEnd" or (kind == "ChannelDestroyed" and channel in agent_of):
                if kind == "ChannelDestroyed":  # the agent's phone is free again
                    idle.append(agent_of.pop(channel))
                    offer()
                spawn(on_end(channel))


if __name__ == "__main__":
    url, user, app, agents = sys.argv[1:5]
    asyncio.run(main(url, user, app, int(agents)))
