"""The Redis clients: one asyncio client for the app, one sync client for wechatpy's token storage.

Unset ``HAIBEI_REDIS_URL`` means the embedded mode: both clients share one in-process fakeredis
server. That is only correct with a single worker process, which start-up logs loudly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis


@dataclass
class RedisClients:
    aio: Any
    sync: Any
    fake: bool

    async def close(self) -> None:
        await self.aio.aclose()
        self.sync.close()


def make_clients(redis_url: str) -> RedisClients:
    if not redis_url:
        import fakeredis

        server = fakeredis.FakeServer()
        return RedisClients(
            aio=fakeredis.FakeAsyncRedis(server=server, decode_responses=True),
            sync=fakeredis.FakeRedis(server=server, decode_responses=True),
            fake=True,
        )
    return RedisClients(
        aio=aioredis.from_url(redis_url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2),
        sync=redis.from_url(redis_url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2),
        fake=False,
    )
