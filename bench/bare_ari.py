"""The ceiling of any ARI app: answer (unless the dialplan did), play the greeting, hang up when
it ends. Nothing else.

Run as ``python -m bench.bare_ari URL USER APP`` with the password in ``BARE_ARI_PASSWORD``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import aiohttp


async def main(url: str, user: str, app: str) -> None:
    auth = aiohttp.BasicAuth(user, os.environ["BARE_ARI_PASSWORD"])
    ws_url = url.replace("http", "ws", 1) + f"/ari/events?app={app}"
    async with (
        aiohttp.ClientSession(auth=auth, connector=aiohttp.TCPConnector(limit=90)) as http,
        http.ws_connect(ws_url) as ws,
    ):
        tasks: set[asyncio.Task[None]] = set()

        async def call(method: str, path: str) -> None:
            async with http.request(method, f"{url}/ari{path}") as response:
                await response.read()

        async def on_start(channel: str, up: bool) -> None:
            if not up:  # else answered by the dialplan, as ours
                await call("POST", f"/channels/{channel}/answer")
            await call("POST", f"/channels/{channel}/play/{channel}?media=sound:hello-world")

        async for message in ws:
            event = json.loads(message.data)
            kind = event["type"]
            if kind == "StasisStart":
                coro = on_start(event["channel"]["id"], event["channel"]["state"] == "Up")
            elif kind == "PlaybackFinished":
                coro = call("DELETE", f"/channels/{event['playback']['target_uri'][8:]}")
            else:
                continue
            task = asyncio.create_task(coro)
            tasks.add(task)
            task.add_done_callback(tasks.discard)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
