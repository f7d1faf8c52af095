"""The worker process: sends the WeChat outbox and runs the scheduled jobs.

``python -m server.worker`` (several may run beside the API). Rows are taken with
``SELECT … FOR UPDATE SKIP LOCKED`` and leased: a worker killed after taking a row leaves it
``sending`` until the lease runs out, then another worker takes it. A lost lease is detected when
marking (the row's attempt counter moved on), so a late worker never overwrites a newer result.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import timedelta
from typing import Any, Callable

from tortoise.exceptions import OperationalError
from tortoise.transactions import in_transaction

from models import OutboxMessage, SubscriptionQuota
from redis.exceptions import RedisError

from server import feed, metrics
from server.clock import utc_now
from server.notifications import notify
from server.notifications.outbox import DEAD_ERRCODES
from server.ops import jobs
from server.points import leaderboard
from server.wechat import WeChatError, WeChatUnavailable

log = logging.getLogger("haibei.worker")

NO_QUOTA = 43101


def due_rows(now: Any, batch: int) -> tuple[Any, Any]:
    """What a worker takes, in two reads each through its own index (models.OutboxMessage): rows
    whose lease ran out (a worker died sending them), oldest lease first, then pending rows that
    are due, soonest first. Rows another worker holds are skipped, not waited for."""
    expired = (OutboxMessage.filter(status="sending", lease_until__lt=now).order_by("lease_until", "id")
               .limit(batch).select_for_update(skip_locked=True))
    due = (OutboxMessage.filter(status="pending", next_attempt_at__lte=now).order_by("next_attempt_at", "id")
           .limit(batch).select_for_update(skip_locked=True))
    return expired, due


class OutboxWorker:
    def __init__(self, *, wechat: Any, clock: Callable, batch: int = 50, lease_seconds: int = 60,
                 max_attempts: int = 8, name: str = "worker", backoff_base: float = 30.0) -> None:
        self.backoff_base = backoff_base
        self.wechat = wechat
        self.clock = clock
        self.batch = batch
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.name = name

    async def claim(self) -> list[OutboxMessage]:
        """Lease up to ``batch`` due rows; other workers skip the ones locked here."""
        now = self.clock()
        for _ in range(5):
            try:
                async with in_transaction():
                    expired, due = due_rows(now, self.batch)
                    rows = []
                    for row in await expired:
                        if row.attempts >= self.max_attempts:
                            # Its lease ran out that often: something kills the worker sending it
                            # (or hangs it). Taking it again would only do that again.
                            await OutboxMessage.filter(id=row.id).update(
                                status="dead", last_error=f"lease ran out {row.attempts} times"[:200])
                        else:
                            rows.append(row)
                    if len(rows) < self.batch:
                        rows += await due.limit(self.batch - len(rows))
                    for row in rows:
                        row.attempts += 1
                        await OutboxMessage.filter(id=row.id).update(status="sending", lease_until=now + self.lease,
                                                                     attempts=row.attempts)
                return rows
            except OperationalError as exc:  # a deadlock between two claimers: try again
                if "1213" not in str(exc):
                    raise
                await asyncio.sleep(random.uniform(0.01, 0.05))
        return []

    async def _mark(self, row: OutboxMessage, **changes: Any) -> bool:
        # Only if this worker still holds the lease (nobody re-took the row after it expired).
        return bool(await OutboxMessage.filter(id=row.id, status="sending", attempts=row.attempts).update(**changes))

    async def send(self, row: OutboxMessage) -> str:
        """Send one leased row; returns what became of it."""
        now = self.clock()
        try:
            await self.wechat.send_subscribe_message(openid=row.openid, template_id=row.template_id, data=row.data,
                                                     page=row.page)
        except WeChatUnavailable as exc:
            return await self._retry(row, f"unavailable: {exc.errcode}")
        except WeChatError as exc:
            if exc.errcode == NO_QUOTA:
                # The user has no subscription left after all: stop counting on one; the inbox has it.
                # Only while this worker holds the row: a late answer to a lost lease says nothing of
                # what was granted since.
                if await self._mark(row, status="skipped", last_error="43101 no quota"):
                    await SubscriptionQuota.filter(user_id=row.user_id, template_id=row.template_id).update(remaining=0)
                return "skipped"
            if exc.errcode in DEAD_ERRCODES:
                if await self._mark(row, status="dead", last_error=f"{exc.errcode} {exc.errmsg}"[:200]):
                    # WeChat spends a consent only on a message it delivers: this one is still there.
                    await notify.give_back(user_id=row.user_id, template_id=row.template_id)
                return "dead"
            return await self._retry(row, f"{exc.errcode} {exc.errmsg}")
        await self._mark(row, status="sent", sent_at=now, last_error=None)
        return "sent"

    async def _retry(self, row: OutboxMessage, error: str) -> str:
        if row.attempts >= self.max_attempts:
            await self._mark(row, status="dead", last_error=f"gave up after {row.attempts}: {error}"[:200])
            return "dead"
        delay = notify.backoff(row.attempts, base=self.backoff_base, jitter=random.uniform(0, self.backoff_base / 6))
        await self._mark(row, status="pending", next_attempt_at=self.clock() + delay, last_error=error[:200])
        return "retry"

    async def run_once(self) -> dict[str, int]:
        rows = await self.claim()
        outcomes: dict[str, int] = {}
        for outcome in await asyncio.gather(*(self.send(r) for r in rows)):
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            metrics.OUTBOX_SENDS.labels(outcome).inc()
        return outcomes


async def run_forever(*, worker: OutboxWorker, settings: Any, stop: asyncio.Event, jobs_every: int = 60,
                      redis: Any = None) -> None:
    last_jobs = None
    while not stop.is_set():
        try:
            outcomes = await worker.run_once()
            now = worker.clock()
            if last_jobs is None or (now - last_jobs).total_seconds() >= jobs_every:
                # Set first: a run that fails is tried again at the next jobs round, not every second.
                last_jobs = now
                log.info("scheduled jobs", extra=await jobs.run_all(settings=settings, now=now))
                # Tasks expired, released or generated: tell the API processes' caches.
                await feed.current().flush()
                if redis is not None:
                    # Keep the leaderboards in step with the ledger even if nobody reads them.
                    try:
                        await leaderboard.ensure_fresh(redis=redis, prefix=settings.redis_prefix, now=now)
                    except RedisError:
                        log.warning("leaderboard check skipped: Redis unreachable")
        except Exception:  # noqa: BLE001 - the loop must outlive any one bad round
            log.exception("worker round failed")
            outcomes = {}
        if not outcomes:
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except TimeoutError:
                pass


async def serve_metrics(port: int, host: str = "127.0.0.1") -> asyncio.Server:
    """A minimal HTTP endpoint answering every request with the worker's metrics (loopback only)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            body = await metrics.render(utc_now())
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: " + metrics.CONTENT_TYPE.encode()
                         + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(answer, host, port)


def main() -> None:
    import signal

    from config import load
    from server import db
    from server.logs import log_config
    from server.pii import install_cipher
    from server.redis import make_clients
    from server.wechat import RedisTokenStorage, WeChatGateway

    import logging.config

    settings = load()
    logging.config.dictConfig(log_config(settings.log_level))
    install_cipher(settings)  # the jobs read sealed columns

    async def run() -> None:
        await db.connect_when_ready(settings.db_url, wait_s=settings.db_startup_wait_s,
                                    pool_size=settings.db_pool_size,
                                    statement_timeout_s=settings.db_statement_timeout_s,
                                    connect_timeout_s=settings.db_connect_timeout_s)
        clients = make_clients(settings.redis_url)
        # This process caches nothing; it publishes what its jobs change to the API processes.
        feed.install(feed.ChangeFeed(redis=clients.aio, channel=feed.channel(settings), max_age_s=0,
                                     local_only=clients.fake))
        gateway = WeChatGateway(appid=settings.wechat_appid, secret=settings.wechat_secret,
                                api_base=settings.wechat_api_base, timeout=settings.worker_wechat_timeout_s,
                                max_workers=32,
                                token_storage=RedisTokenStorage(clients.sync, prefix=settings.redis_prefix + "wechat:"))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        metrics.watch_gc()  # recorded at each scrape (render)
        server = await serve_metrics(settings.worker_metrics_port) if settings.worker_metrics_port else None
        try:
            worker = OutboxWorker(wechat=gateway, clock=utc_now, lease_seconds=settings.outbox_lease_s,
                                  backoff_base=settings.outbox_backoff_base_s)
            await run_forever(worker=worker, settings=settings, stop=stop, redis=clients.aio)
        finally:
            if server is not None:
                server.close()
            await gateway.close()
            await clients.close()
            await db.disconnect()

    asyncio.run(run())


if __name__ == "__main__":
    main()
