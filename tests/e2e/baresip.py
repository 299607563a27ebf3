"""Debian's baresip as a headless softphone for the tests (TLS and SRTP, which Debian's SIPp
lacks), driven over its ``ctrl_tcp`` module: JSON commands and events in netstrings."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from hotline.harness import free_port, spawn, stop_process

MODULES = "/usr/lib/baresip/modules"


class Softphone:
    """One baresip with one account (a line of baresip's ``accounts`` file), listening on
    ``address``; ``event`` waits for what it reports, ``command`` drives it."""

    def __init__(self, root: Path, account: str, ca_file: Path, address: str) -> None:
        self.root, self.account, self.ca_file, self.address = root, account, ca_file, address
        self.ctrl_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._token = 0

    @property
    def log(self) -> Path:
        return self.root / "baresip.log"

    async def __aenter__(self) -> Self:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "config").write_text(
            "poll_method epoll\n"
            f"sip_listen {self.address}:{free_port()}\n"
            f"sip_cafile {self.ca_file}\n"
            # A tone both ways: no sound card, and RTP flows in both directions.
            "audio_source ausine,440\naudio_player ausine,440\naudio_alert ausine,440\n"
            "ausrc_srate 48000\nauplay_srate 48000\nausrc_channels 2\nauplay_channels 2\n"
            f"module_path {MODULES}\nmodule g711.so\nmodule ausine.so\nmodule srtp.so\n"
            "module_app account.so\nmodule_app menu.so\nmodule_app ctrl_tcp.so\n"
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}\n"
        )
        (self.root / "accounts").write_text(self.account + "\n")
        self.proc = spawn(["baresip", "-f", str(self.root), "-v"], self.log, cwd=self.root)
        deadline = time.monotonic() + 10
        while self._writer is None:
            assert self.proc.poll() is None, self.log.read_text(errors="replace")
            assert time.monotonic() < deadline, f"baresip not listening; see {self.log}"
            with contextlib.suppress(OSError):
                self._reader, self._writer = await asyncio.open_connection(
                    "127.0.0.1", self.ctrl_port
                )
            if self._writer is None:
                await asyncio.sleep(0.1)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        if self.proc is not None:
            await asyncio.to_thread(stop_process, self.proc)

    async def command(self, command: str, params: str = "") -> None:
        """Send one command (baresip's long command names: dial, hangup, ...)."""
        assert self._writer is not None
        self._token += 1
        body = json.dumps({"command": command, "params": params, "token": str(self._token)})
        self._writer.write(f"{len(body)}:{body},".encode())
        await self._writer.drain()

    async def event(self, *types: str, within: float = 15) -> dict[str, Any]:
        """The next event of one of ``types`` (e.g. REGISTER_OK, CALL_CLOSED); others are
        skipped."""
        async with asyncio.timeout(within):
            while True:
                message = await self._next()
                if message.get("event") and message.get("type") in types:
                    return message

    async def _next(self) -> dict[str, Any]:
        assert self._reader is not None
        length = int((await self._reader.readuntil(b":"))[:-1])
        body = await self._reader.readexactly(length + 1)  # the netstring's trailing comma
        message: dict[str, Any] = json.loads(body[:-1])
        return message
