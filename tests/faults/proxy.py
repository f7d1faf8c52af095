"""A small TCP proxy the fault tests put between the app and MariaDB, Redis or the WeChat
stand-in, and then cut, slow down or restore.

- ``cut()``: every open connection is closed and new ones are closed as soon as they arrive, the
  way a crashed server or a dropped network looks to the client (connection reset, not a hang);
- ``slow(seconds)``: every chunk of the server's answers waits that long first (the request
  arrives at once: a slow server, not a slow network before it);
- ``restore()``: back to a plain pass-through.
"""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.delay = 0.0
        self.down = False
        self._server: asyncio.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self.accepted = 0

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    def cut(self) -> None:
        self.down = True
        for a, b in list(self._pairs):
            for w in (a, b):
                with contextlib.suppress(Exception):
                    w.transport.abort()
        self._pairs.clear()

    def slow(self, seconds: float) -> None:
        self.delay = seconds

    def restore(self) -> None:
        self.down = False
        self.delay = 0.0

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.down:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        try:
            await asyncio.gather(self._pipe(reader, up_writer, slow=False), self._pipe(up_reader, writer, slow=True))
        finally:
            self._pairs.discard(pair)
            for w in pair:
                with contextlib.suppress(Exception):
                    w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, slow: bool) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if slow and self.delay:
                    await asyncio.sleep(self.delay)
                if self.down:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
