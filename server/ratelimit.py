"""Rate limits on the actions worth abusing (OWASP API4): login, need submission, claims, uploads,
redemptions. Fixed windows counted in Redis (INCR + EXPIRE in one round trip), per user and per
client address, limits from ``config/rate_limits.json`` (the running app keeps its own copy in
``app.ctx.rate_limits``).

Over the limit → 429 ``RATE_LIMITED`` with ``Retry-After``. When Redis does not answer, limits
fail open: an elderly resident's request for help must not fail because a counter is missing; the
database constraints still hold everything that matters, and the failure is logged and counted.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis.exceptions import RedisError
from sanic import Request

from server import metrics
from server.batching import Batcher
from server.errors import DomainError

log = logging.getLogger("haibei.ratelimit")


class RateLimited(DomainError):
    status = 429
    code = "RATE_LIMITED"
    message = "操作太频繁,请稍后再试"

    def __init__(self, *, retry_after: int, action: str, scope: str, limit: int, window: int) -> None:
        super().__init__(details={"action": action, "scope": scope, "limit": limit, "window_seconds": window,
                                  "retry_after": retry_after})
        self.headers = {"Retry-After": str(retry_after)}


def client_address(request: Request) -> str:
    """The caller's address: from the proxy headers Sanic trusts (``SANIC_PROXIES_COUNT`` /
    ``SANIC_REAL_IP_HEADER`` behind nginx), else the socket peer."""
    return request.remote_addr or request.ip or "unknown"


async def hit(request: Request, action: str, *, user_id: int | None = None) -> None:
    """Count one ``action`` for the caller; raise ``RateLimited`` when a window is full."""
    app = request.app
    limits: dict[str, list[int]] = app.ctx.rate_limits.get(action) or {}
    if not limits:
        return
    subjects = {"user": user_id, "ip": client_address(request)}
    now = time.time()
    checks: list[tuple[str, str, int, int]] = []
    for scope, (limit, window) in limits.items():
        subject = subjects.get(scope)
        if subject is None:
            continue
        bucket = int(now // window)
        key = f"{app.ctx.settings.redis_prefix}rl:{action}:{scope}:{subject}:{bucket}"
        checks.append((key, scope, limit, window))
    if not checks:
        return
    try:
        counts = await _COUNTS.submit((app.ctx.redis.aio, [(key, window) for key, _, _, window in checks]))
    except (RedisError, OSError) as exc:
        log.warning("rate limit not checked, redis unavailable: %s", type(exc).__name__, extra={"action": action})
        metrics.RATELIMIT_FAIL_OPEN.labels(action).inc()
        return
    for count, (_, scope, limit, window) in zip(counts, checks, strict=True):
        if count > limit:
            retry_after = max(1, int(window - now % window) + 1)
            raise RateLimited(retry_after=retry_after, action=action, scope=scope, limit=limit, window=window)


async def _count(asks: list[tuple[Any, list[tuple[str, int]]]]) -> list[list[int]]:
    """Count every window of several requests in one pipeline per Redis client (INCR, EXPIRE)."""
    by_client: dict[int, list[int]] = {}
    for k, (client, _) in enumerate(asks):
        by_client.setdefault(id(client), []).append(k)
    out: list[list[int]] = [[] for _ in asks]
    for members in by_client.values():
        pipe = asks[members[0]][0].pipeline(transaction=False)
        for k in members:
            for key, window in asks[k][1]:
                pipe.incr(key)
                pipe.expire(key, window + 1)
        replies = iter(await pipe.execute())
        for k in members:
            for _ in asks[k][1]:
                out[k].append(int(next(replies)))
                next(replies)
    return out


# Under load the counts of concurrent requests go to Redis together (server.batching).
_COUNTS: Batcher[tuple[Any, list[tuple[str, int]]], list[int]] = Batcher(
    "ratelimit", _count, max_batch=200, unreachable=lambda exc: isinstance(exc, (RedisError, OSError)))
