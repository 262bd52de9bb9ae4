"""A TCP proxy whose behaviour can be switched live (asyncio, in a daemon thread).

Modes: `pass` (forward both ways), `drop` (accept, then close at once; open links are aborted),
`blackhole` (accept and read, never forward or answer, on new and open links alike).
`kill_all()` aborts every open link with a RST, mid-command or not; `cut_replies = p` makes the
proxy swallow a fraction p of Redis's replies and RST the link instead (the command ran, the
client never learns it: the ambiguous-write case). In blackhole mode the proxy
records, per link, how long the client waited for an answer before it gave up and closed the link:
that is how long one Redis call blocked (`blackhole_waits`).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Any


class ChaosProxy:
    def __init__(self, listen_port: int, target_port: int, host: str = "127.0.0.1") -> None:
        self.host, self.listen_port, self.target_port = host, listen_port, target_port
        self.mode = "pass"
        self.cut_replies = 0.0
        self.cuts = 0
        self.random = random.Random(7)
        self.links: set[tuple[asyncio.Transport, Any]] = set()
        self.accepted = self.killed = 0
        self.blackhole_waits: list[float] = []  # seconds a client waited in vain, per closed link
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.AbstractServer | None = None
        self.thread = threading.Thread(target=self._main, name="chaos-proxy", daemon=True)
        self.thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("chaos proxy did not start")

    # -- control (from any thread) ---------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        assert mode in ("pass", "drop", "blackhole"), mode
        self.mode = mode
        if mode == "drop":
            self.kill_all()

    def kill_all(self) -> int:
        """Abort every open link (RST to both sides); returns how many."""
        fut = asyncio.run_coroutine_threadsafe(self._kill_all(), self.loop)
        return fut.result(5)

    def close(self) -> None:
        if self.loop.is_closed():
            return
        try:
            self.kill_all()
        except Exception:  # noqa: BLE001
            pass

        async def stop() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    # -- the event loop ------------------------------------------------------------------------
    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            self._server = await asyncio.start_server(self._handle, self.host, self.listen_port)
            self._ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    async def _kill_all(self) -> int:
        links = list(self.links)
        for client, upstream in links:
            client.abort()
            if upstream is not None:
                upstream.transport.abort()
        self.links.clear()
        self.killed += len(links)
        return len(links)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        client = writer.transport
        if self.mode == "drop":
            client.abort()
            return
        upstream_w = None
        if self.mode == "pass":
            try:
                up_r, upstream_w = await asyncio.open_connection(self.host, self.target_port)
            except OSError:
                client.abort()
                return
        link = (client, upstream_w)
        self.links.add(link)
        waiting: list[float | None] = [None]  # when the client's unanswered request was swallowed

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter | None, from_client: bool) -> None:
            try:
                while True:
                    data = await src.read(65536)
                    if not data:
                        break
                    if self.mode != "pass" or dst is None:
                        if waiting[0] is None:
                            waiting[0] = time.monotonic()
                        continue  # black hole: swallowed
                    if from_client:
                        waiting[0] = None
                    elif self.cut_replies and self.random.random() < self.cut_replies:
                        self.cuts += 1
                        break  # the reply is lost: both sides get a RST below
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError, RuntimeError):
                pass

        tasks = [asyncio.ensure_future(pump(reader, upstream_w, True))]
        if upstream_w is not None:
            tasks.append(asyncio.ensure_future(pump(up_r, writer, False)))
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if waiting[0] is not None and self.mode == "blackhole":
                self.blackhole_waits.append(time.monotonic() - waiting[0])
            for task in tasks:
                task.cancel()
            self.links.discard(link)
            client.abort()
            if upstream_w is not None:
                upstream_w.transport.abort()
