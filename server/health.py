"""Reachability of the database and Redis, each bounded by a short timeout."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tortoise import connections

log = logging.getLogger("haibei.health")


async def _db() -> bool:
    conn = connections.get("default")
    await conn.execute_query("SELECT 1")
    return True


async def _redis(redis: Any) -> bool:
    return bool(await redis.ping())


async def check(*, redis: Any, change_feed: Any = None, timeout: float = 2.0) -> dict[str, Any]:
    """``{"status": "ok"|"degraded", "db": bool, "redis": bool}``, and with ``change_feed`` whether
    this process is subscribed to it (its caches in use; server/feed.py). A feed that is down only
    makes reads slower, so it does not make the status degraded."""
    results = {}
    # Each probe's coroutine is made only when it runs: one never started (the request cancelled
    # while the first ran) is not left behind un-awaited.
    for name, probe in (("db", _db), ("redis", lambda: _redis(redis))):
        try:
            results[name] = await asyncio.wait_for(probe(), timeout)
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
            log.warning("health probe failed", extra={"probe": name, "error": type(exc).__name__})
            results[name] = False
    report = {"status": "ok" if all(results.values()) else "degraded", **results}
    if change_feed is not None:
        report["change_feed"] = change_feed.live
    return report
