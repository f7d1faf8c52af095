"""Prometheus metrics of the API and the outbox worker.

Counters and histograms live in prometheus_client. With several worker processes behind one port
(``sanic --workers N``), set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before start
(``scripts/run`` does) and every process writes its samples there, so whichever process answers
``/metrics`` reports all of them. State that lives in the database (outbox depth and age, dead
letters) and the answering process's connection pool are read at scrape time.
"""

from __future__ import annotations

import gc
import os
import time
from datetime import datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess,
)
from models import OutboxMessage
from server import feed

CONTENT_TYPE = CONTENT_TYPE_LATEST

REQUESTS = Counter("haibei_http_requests_total", "HTTP requests by route, method and status",
                   ["route", "method", "status"])
LATENCY = Histogram("haibei_http_request_duration_seconds", "HTTP request latency by route", ["route", "method"],
                    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
RATELIMIT_FAIL_OPEN = Counter("haibei_ratelimit_fail_open_total", "Rate-limit checks skipped: Redis unavailable",
                              ["action"])
BATCH_SIZE = Histogram("haibei_batch_size", "Items handled together in one round trip or transaction (server/batching.py)",
                       ["kind"], buckets=(1, 2, 4, 8, 16, 32, 64))
# Each collection stops every request in flight in its process: what the p99 of a busy worker is
# made of once its own work is small (100-300 ms full collections, found by timing them).
GC_PAUSE = Histogram("haibei_gc_pause_seconds", "Cyclic garbage collections of the process, by generation",
                     ["generation"], buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0))
OUTBOX_SENDS = Counter("haibei_outbox_sends_total", "Outbox messages handled by the worker, by outcome",
                       ["outcome"])


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def _line(name: str, value: float, labels: dict[str, Any] | None = None) -> str:
    if labels:
        inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
        return f"{name}{{{inner}}} {value}"
    return f"{name} {value}"


async def _database_state(now: datetime) -> list[str]:
    """Outbox depth, oldest pending age and dead letters, from the database; the pool of this process."""
    from tortoise import connections


    lines = [
        "# HELP haibei_outbox_pending Outbox messages waiting to be sent",
        "# TYPE haibei_outbox_pending gauge",
        _line("haibei_outbox_pending", await OutboxMessage.filter(status="pending").count()),
        "# HELP haibei_outbox_oldest_pending_age_seconds Age of the oldest waiting message",
        "# TYPE haibei_outbox_oldest_pending_age_seconds gauge",
    ]
    oldest = await OutboxMessage.filter(status="pending").order_by("id").first()
    lines.append(_line("haibei_outbox_oldest_pending_age_seconds",
                       round((now - oldest.created_at).total_seconds(), 3) if oldest else 0))
    lines += [
        "# HELP haibei_outbox_dead_letters Messages given up on (see /api/v1/admin/outbox/dead)",
        "# TYPE haibei_outbox_dead_letters gauge",
        _line("haibei_outbox_dead_letters", await OutboxMessage.filter(status="dead").count()),
    ]
    pool = getattr(connections.get("default"), "_pool", None)
    if pool is not None and hasattr(pool, "maxsize"):
        pid = os.getpid()
        lines += [
            "# HELP haibei_db_pool_connections Database connections of the answering process",
            "# TYPE haibei_db_pool_connections gauge",
            _line("haibei_db_pool_connections", pool.size - pool.freesize, {"state": "in_use", "pid": pid}),
            _line("haibei_db_pool_connections", pool.freesize, {"state": "free", "pid": pid}),
            _line("haibei_db_pool_connections", pool.maxsize, {"state": "max", "pid": pid}),
        ]
    return lines


def _cache_state() -> list[str]:
    """The answering process's change feed and caches (server/feed.py)."""
    change_feed = feed.current()
    pid = os.getpid()
    lines = [
        "# HELP haibei_change_feed_live Whether the answering process is subscribed (its caches in use)",
        "# TYPE haibei_change_feed_live gauge",
        _line("haibei_change_feed_live", int(change_feed.live), {"pid": pid}),
        "# HELP haibei_cache_entries Entries held by the answering process, by cache",
        "# TYPE haibei_cache_entries gauge",
    ]
    stats = change_feed.stats()
    lines += [_line("haibei_cache_entries", s["entries"], {"cache": topic, "pid": pid}) for topic, s in stats.items()]
    lines += ["# HELP haibei_cache_lookups_total Lookups in the answering process's caches, by outcome",
              "# TYPE haibei_cache_lookups_total counter"]
    for topic, s in stats.items():
        lines.append(_line("haibei_cache_lookups_total", s["hits"], {"cache": topic, "outcome": "hit", "pid": pid}))
        lines.append(_line("haibei_cache_lookups_total", s["misses"], {"cache": topic, "outcome": "miss", "pid": pid}))
    lines += ["# HELP haibei_cache_refreshes_total Background reloads of entries still read near their age limit",
              "# TYPE haibei_cache_refreshes_total counter"]
    lines += [_line("haibei_cache_refreshes_total", s["refreshes"], {"cache": topic, "pid": pid})
              for topic, s in stats.items()]
    return lines


async def render(now: datetime) -> bytes:
    """The whole exposition: process metrics, the caches, then the database-backed gauges."""
    record_gc_pauses()
    text = generate_latest(_registry()) + ("\n".join(_cache_state()) + "\n").encode()
    try:
        extra = await _database_state(now)
    except Exception:  # noqa: BLE001 - a scrape during a database outage still reports the rest
        extra = ["# database state unavailable", _line("haibei_database_up", 0)]
    else:
        extra.append(_line("haibei_database_up", 1))
    return text + ("\n".join(extra) + "\n").encode()


def observe_request(*, route: str, method: str, status: int, started: float) -> None:
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route, method).observe(time.perf_counter() - started)
    if _gc_pauses:
        record_gc_pauses()


# Collections timed by ``_on_gc`` as (generation, seconds), recorded into GC_PAUSE by the next
# request (or scrape): the callback itself only appends, because prometheus_client takes a lock to
# record, and a collection may start inside code that holds it.
_gc_pauses: list[tuple[str, float]] = []
_gc_started = [0.0]


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _gc_started[0] = time.perf_counter()
    elif len(_gc_pauses) < 10_000:
        _gc_pauses.append((str(info["generation"]), time.perf_counter() - _gc_started[0]))


def watch_gc() -> None:
    """Time this process's garbage collections into ``haibei_gc_pause_seconds``."""
    if _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)


def record_gc_pauses() -> None:
    while _gc_pauses:
        generation, seconds = _gc_pauses.pop()
        GC_PAUSE.labels(generation).observe(seconds)
