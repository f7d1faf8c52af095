"""Work that concurrent requests ask of the same dependency, done together.

Under load, many requests in one process want the same kind of round trip at once: the caller's
account read from the database, a rate-limit count in Redis, a claim decided under row locks.
Each round trip costs the process far more than the work it carries (the driver, the socket, a
loopback wake-up), so a ``Batcher`` sends them together: the first item starts a run at once;
while a run is out, what arrives waits and goes in the next run, up to ``max_batch`` at a time.
One request at a time makes runs of one with no wait added.

``run(items)`` returns one result per item, in order. If it raises, every item of that run gets
the exception — or, with ``isolate``, a run of several is tried again item by item, so that what
one item brought on fails only that item (a statement stopped at the time limit fails them all at
once: trying each alone would only wait the limit again, one after another). When the error says
the dependency cannot be reached (``unreachable``: by default a lost database connection), the
items already waiting for the next run get it too, at once: otherwise each run would wait its own
timeout while the queue behind it grows.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from server import metrics
from server.errors import is_connection_lost, is_statement_timeout

log = logging.getLogger("haibei.batching")

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(self, kind: str, run: Callable[[list[T]], Awaitable[list[R]]], *, max_batch: int = 64,
                 isolate: bool = False, unreachable: Callable[[Exception], bool] = is_connection_lost) -> None:
        self.kind, self._run = kind, run
        self.max_batch, self.isolate, self.unreachable = max_batch, isolate, unreachable
        self._waiting: list[tuple[T, asyncio.Future]] = []
        self._runner: asyncio.Task | None = None

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if self._runner is not None and self._runner.get_loop() is not loop:
            self._runner, self._waiting = None, []  # left by a loop that has ended (scripts, tests)
        self._waiting.append((item, future))
        if self._runner is None:
            # A context of its own: a run is no one request's (its log lines, its transaction).
            self._runner = loop.create_task(self._drain(), context=contextvars.Context())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[:self.max_batch]
                del self._waiting[:self.max_batch]
                # An item whose request was cancelled before its run starts is not done at all.
                batch = [(item, future) for item, future in batch if not future.done()]
                if batch:
                    await self._settle(batch)
        finally:
            # Here, not in a done callback: between the empty queue and this there is no await,
            # so an item arriving meanwhile always finds the runner or starts one.
            self._runner = None

    async def _settle(self, batch: list[tuple[T, asyncio.Future]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
        except Exception as exc:  # noqa: BLE001 - handed to the requests that asked
            if self.unreachable(exc):
                # The dependency is gone: what waits meanwhile would only meet the same wait and
                # error, one run after another (a queue growing by a timeout each run). Now, all.
                batch, self._waiting = batch + self._waiting, []
            elif self.isolate and len(batch) > 1 and not is_statement_timeout(exc):
                log.warning("batch failed, settling its items one by one",
                            extra={"kind": self.kind, "items": len(batch), "error": type(exc).__name__})
                for one in batch:
                    await self._settle([one])
                return
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        metrics.BATCH_SIZE.labels(self.kind).observe(len(batch))
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
