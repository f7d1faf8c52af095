"""Process-local caches for the hottest reads, kept honest by a change feed over Redis.

Volunteers browse far more often than anything they see changes, and every request asks who is
calling. Each API process keeps what those reads need in memory — the caller's account (user,
roles, volunteer profile), a volunteer's active claims, the open tasks of a map cell — and drops an
entry the moment any process commits a change to it:

* A writer calls ``changed(topic, key)`` for what it changed. The keys are collected per request
  and published on one Redis channel **after** the request's transaction has committed (the
  response hook, or ``flush`` in jobs and scripts); every process, the writer included, drops them.
* A cache is trusted only while this process is subscribed to the channel. Redis down, or the
  subscription lost: every cache is cleared and bypassed (the reads go to the database, as they
  would without caches) until the subscription is back. Nothing is ever read from a cache that
  could have missed an invalidation, except for the moment a message is in flight between
  processes.
* A load that raced with an invalidation of its key is not stored (the sequence check in
  ``LocalCache.store``), so a reader can never put back what a writer just dropped.
* Every entry also ages out after ``max_age_s`` — the bound if a publication is lost (the writer
  could not reach Redis while its readers could). An entry still read past ¾ of that age is
  reloaded in the background (``refresh_later``) while readers keep the current one: what is read
  all the time never expires under them, so a busy process does not fall back to the database in
  waves every ``max_age_s``.

With the embedded in-process Redis there is one process: the feed is local and always live.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from operator import itemgetter
from typing import Any

from server import geo

log = logging.getLogger("haibei.feed")

PING_EVERY_S = 2.0
SILENCE_LIMIT_S = 5.0
# Entries read when older than this share of the age limit are reloaded in the background, by one
# task per cache, at most REFRESH_BATCH keys per load.
REFRESH_AT = 0.75
REFRESH_BATCH = 200



def _now() -> float:
    """The caches' clock (tests replace this, not ``time.monotonic``, which the event loop uses)."""
    return time.monotonic()


def _spread() -> float:
    """How much of a quarter of the age limit a store is aged by, in [0, 1) (tests fix it)."""
    return random.random()


# The caches every process keeps, made with its feed: at the app's start, before its gc.freeze(),
# which puts their containers out of the collector's sight for good. A full collection walks every
# entry of a dict it sees, untracked values or not (~15 ms per 100 000 on this project's 2-core
# machine); entries themselves are plain tuples of plain values, untracked (see their modules).
CACHES: dict[str, dict[str, Any]] = {
    "user": {"max_entries": 50_000},  # callers (server/auth.py)
    "claims": {"max_entries": 50_000},  # each volunteer's active claims (server/workflow/browse.py)
    # Open tasks by map cell, weighed by their number of tasks (server/workflow/browse.py).
    "cell": {"max_entries": 100_000, "weigh": itemgetter(0), "max_weight": 300_000},
    # Each browsed cell's neighbourhood, its square of cells merged (server/workflow/browse.py):
    # made only of "cell" entries, and gone with any of them (``follows``).
    "hood": {"max_entries": 20_000, "follows": ("cell", partial(geo.square, half=geo.HOOD_HALF))},
}

_pending: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar("haibei_feed_pending", default=None)


class LocalCache:
    """One topic's entries in this process: bounded (least recently used out first), aged out,
    and consulted only while the feed is live."""

    def __init__(self, feed: ChangeFeed, topic: str, *, max_entries: int, weigh: Callable[[Any], int] | None = None,
                 max_weight: int | None = None) -> None:
        self.feed, self.topic = feed, topic
        self.max_entries = max_entries
        self.weigh, self.max_weight = weigh, max_weight
        self._entries: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._weight = 0
        self._dropped_at: dict[Any, int] = {}  # key -> feed sequence of its last invalidation
        self._floor = 0  # loads started before this sequence may not be stored (after a clear)
        self.hits = self.misses = self.refreshes = 0
        self._reloading: set[Any] = set()  # due, waiting for or in the background reload
        self._queue: list[Any] = []
        self._load: Callable[[list[Any]], Awaitable[None]] | None = None
        self._tasks: set[asyncio.Task] = set()
        # Caches whose entries are made of this one's: (cache, the keys there that hold a key here).
        self._followers: list[tuple[LocalCache, Callable[[Any], Iterable[Any]]]] = []

    def follow(self, source: LocalCache, keys_of: Callable[[Any], Iterable[Any]]) -> None:
        """Make this cache's entries of ``source``'s: whenever an entry of ``source`` is dropped,
        replaced, evicted or cleared, the entries here that ``keys_of(its key)`` names go too. An
        entry here must be built from ``source``'s entries as they are at the moment it is stored
        (``get_all``, then ``store`` with no await between): it then holds nothing they do not."""
        source._followers.append((self, keys_of))

    def get(self, key: Any, *, due: list[Any] | None = None) -> Any | None:
        return self.get_many((key,), due=due)[0]

    def get_many(self, keys: Any, *, due: list[Any] | None = None, ripe_at: float = REFRESH_AT) -> list[Any | None]:
        """The entry of each key in order (None where missing or too old). With ``due``, the keys
        found but old enough to reload (see ``refresh_later``: older than ``ripe_at`` of the age
        limit) are appended to it."""
        keys = list(keys)
        if not self.feed.usable:
            return [None] * len(keys)
        now = _now()
        oldest = now - self.feed.max_age_s
        ripe = now - self.feed.max_age_s * ripe_at
        entries, out = self._entries, []
        for key in keys:
            entry = entries.get(key)
            if entry is None or entry[0] < oldest:
                out.append(None)
                continue
            entries.move_to_end(key)
            out.append(entry[1])
            if due is not None and entry[0] < ripe and key not in self._reloading:
                due.append(key)
        found = sum(value is not None for value in out)
        self.hits += found
        self.misses += len(out) - found
        return out

    def get_all(self, keys: Iterable[Any]) -> tuple[list[Any], float] | None:
        """Every key's entry and when the oldest was stored (``store``'s ``at``), or None if any
        is missing or too old; counts no read."""
        if not self.feed.usable:
            return None
        oldest = _now() - self.feed.max_age_s
        values, at = [], math.inf
        for key in keys:
            entry = self._entries.get(key)
            if entry is None or entry[0] < oldest:
                return None
            values.append(entry[1])
            at = min(at, entry[0])
        return values, at

    def peek(self, key: Any) -> Any | None:
        """The entry of ``key`` whatever its age, without counting a read (for reloads)."""
        entry = self._entries.get(key) if self.feed.usable else None
        return None if entry is None else entry[1]

    async def keep_unchanged(
        self, keys: list[Any], now_in: Callable[[list[Any]], Awaitable[dict[Any, Any]]],
        signature: Callable[[Any], Any], *, absent: Any = None,
    ) -> tuple[list[Any], list[Any], int]:
        """For a reload (``refresh_later``): the entries of ``keys`` that the database still holds
        as kept restart their age, as a read would. ``now_in(keys)`` gives each key's signature as
        the database has it now, in one statement (a row count and a checksum, say), ``absent``
        for a key it does not list; ``signature(entry)`` gives the same of a kept entry. Returns
        the keys to read again (no entry, or changed), the entries kept, and the token taken
        before the check (for entries of other caches checked with these). A key invalidated
        while the check ran is neither kept nor returned: it is read again when next asked for."""
        token = self.begin()
        held = {key: entry for key in keys if (entry := self.peek(key)) is not None}
        current = await now_in(keys)
        stale, kept = [], []
        for key in keys:
            entry = held.get(key)
            if entry is None or current.get(key, absent) != signature(entry):
                stale.append(key)
            elif self.store(key, entry, token):
                kept.append(entry)
        return stale, kept, token

    def refresh_later(self, keys: list[Any], load: Callable[[list[Any]], Awaitable[None]]) -> None:
        """Reload ``keys`` in the background: ``load(batch)`` reads a batch and stores it as any
        load does (a token from ``begin``, so a reload that raced with an invalidation is not
        kept). One task per cache works through what is due, a batch at a time, so reloading
        never holds more than one database connection; readers keep the current entries
        meanwhile, still within the age limit. A failed reload is logged and its entries age out."""
        keys = [key for key in keys if key not in self._reloading]
        if not keys:
            return
        self._reloading.update(keys)
        self._queue += keys
        self._load = load
        if not self._tasks:
            task = asyncio.get_running_loop().create_task(self._reload())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _reload(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:REFRESH_BATCH], self._queue[REFRESH_BATCH:]
            self.refreshes += 1
            try:
                await self._load(batch)
            except Exception as exc:  # noqa: BLE001 - the entries simply age out and load on demand
                log.warning("cache refresh failed", extra={"topic": self.topic, "error": type(exc).__name__})
            finally:
                self._reloading.difference_update(batch)

    def begin(self) -> int:
        """Call before reading what will be stored: the token ``store`` checks."""
        return self.feed.sequence

    def store(self, key: Any, value: Any, token: int, *, at: float | None = None) -> bool:
        """Keep ``value`` unless the key was invalidated (or everything cleared) since ``token``;
        whether it was kept. ``at``: aged as if stored then (an entry made of older ones)."""
        if not self.feed.usable or token < self._floor or self._dropped_at.get(key, -1) > token:
            return False
        held = self._entries.get(key)
        if held is not None and held[1] is value:
            # The very entry, checked again (``keep_unchanged``): only its age starts over, and
            # what follows it stays, since nothing it was made of changed.
            self._entries[key] = (_now() - _spread() * self.feed.max_age_s / 4 if at is None else at, value)
            self._entries.move_to_end(key)
            return True
        if held is not None:
            self._forget(key)
        # Aged as if stored up to a quarter of the age limit earlier: what one burst of loads brought
        # in then expires over a spread, not all in the same second (a stampede onto the database).
        self._entries[key] = (_now() - _spread() * self.feed.max_age_s / 4 if at is None else at, value)
        self._weight += self.weigh(value) if self.weigh else 0
        while self._entries and (len(self._entries) > self.max_entries
                                 or (self.max_weight is not None and self._weight > self.max_weight)):
            self._forget(next(iter(self._entries)))
        return key in self._entries

    def drop(self, key: Any, sequence: int) -> None:
        self._dropped_at[key] = sequence
        if len(self._dropped_at) > 100_000:
            self.clear(sequence)
        if key in self._entries:
            self._forget(key)

    def clear(self, sequence: int) -> None:
        self._entries.clear()
        self._dropped_at.clear()
        self._weight = 0
        self._floor = sequence
        for follower, _ in self._followers:
            follower.clear(sequence)

    def _forget(self, key: Any) -> None:
        _, value = self._entries.pop(key)
        self._weight -= self.weigh(value) if self.weigh else 0
        # An entry leaves only through here (or ``clear``): what was made of it goes with it. No
        # drop is recorded there, since what follows is never stored from an older read.
        for follower, keys_of in self._followers:
            for held in keys_of(key):
                if held in follower._entries:
                    follower._forget(held)

    def __len__(self) -> int:
        return len(self._entries)


class ChangeFeed:
    def __init__(self, *, redis: Any, channel: str, max_age_s: float, local_only: bool) -> None:
        self.redis, self.channel = redis, channel
        self.max_age_s = max_age_s
        self.local_only = local_only  # one process (embedded fake Redis): local drops are complete
        self.live = local_only
        self.sequence = 0
        self._caches = {topic: LocalCache(self, topic, **{k: v for k, v in options.items() if k != "follows"})
                        for topic, options in CACHES.items()}
        for topic, options in CACHES.items():
            if "follows" in options:
                source, keys_of = options["follows"]
                self._caches[topic].follow(self._caches[source], keys_of)
        self._orphans: set[str] = set()  # changes made outside any request, published by ``flush``

    @property
    def usable(self) -> bool:
        return self.live and self.max_age_s > 0

    def cache(self, topic: str, **options: Any) -> LocalCache:
        """The cache of ``topic``: one of CACHES, or else made with ``options`` on first use."""
        if topic not in self._caches:
            self._caches[topic] = LocalCache(self, topic, **options)
        return self._caches[topic]

    # ---- writers ------------------------------------------------------------------------------

    def changed(self, topic: str, key: Any) -> None:
        """``topic``'s entry ``key`` changed (or will, when the transaction commits)."""
        item = f"{topic}:{key}"
        pending = _pending.get()
        if pending is None and len(self._orphans) >= 100_000:
            self._orphans.clear()  # never flushed (a script): other processes age their copies out
        (pending if pending is not None else self._orphans).add(item)
        self._apply([item])  # at once here too; again when published, after the commit

    def begin_request(self) -> None:
        _pending.set(set())

    async def end_request(self) -> None:
        pending = _pending.get()
        if pending:
            _pending.set(set())
            await self._publish(pending)

    async def flush(self) -> None:
        """Publish what changed outside a request (jobs, scripts); call after their commits."""
        if self._orphans:
            items, self._orphans = self._orphans, set()
            await self._publish(items)

    async def _publish(self, items: set[str]) -> None:
        self._apply(items)
        if self.local_only:
            return
        try:
            await self.redis.publish(self.channel, "\n".join(sorted(items)))
        except Exception as exc:  # noqa: BLE001 - Redis down: readers elsewhere are not live either
            log.warning("change feed: could not publish", extra={"error": type(exc).__name__, "keys": len(items)})

    # ---- readers ------------------------------------------------------------------------------

    def _apply(self, items: Any) -> None:
        self.sequence += 1
        for item in items:
            topic, _, raw = item.partition(":")
            cache = self._caches.get(topic)
            if cache is not None:
                cache.drop(_key(raw), self.sequence)

    def reset(self) -> None:
        """Forget every entry (data changed behind the app's back, or invalidations may be lost)."""
        self.sequence += 1
        for cache in self._caches.values():
            cache.clear(self.sequence)

    async def run(self, stop: asyncio.Event) -> None:
        """Stay subscribed; live only while subscribed. Runs as a task for the process's life."""
        if self.local_only:
            return
        backoff = 0.2
        while not stop.is_set():
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                # Anything published before this moment may have been missed: start empty.
                self.reset()
                self.live = True
                backoff = 0.2
                log.info("change feed live")
                heard = pinged = time.monotonic()
                while not stop.is_set():
                    message = await pubsub.get_message(timeout=1.0)
                    now = time.monotonic()
                    if message is not None:
                        heard = now
                        if message.get("type") == "message":
                            self._apply(str(message["data"]).split("\n"))
                    # A connection can die without an error (a dropped route): ask, and give up
                    # on it when nothing, not even the answer, has come for a while.
                    if now - pinged > PING_EVERY_S:
                        await pubsub.ping()
                        pinged = now
                    if now - heard > SILENCE_LIMIT_S:
                        raise ConnectionError("change feed silent")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: not live until resubscribed
                if self.live:
                    log.warning("change feed lost; caches bypassed until it is back", extra={"error": type(exc).__name__})
                self.live = False
                self.reset()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                self.live = False
                try:
                    await pubsub.aclose()
                except Exception:  # noqa: BLE001
                    pass

    async def stop_refreshing(self) -> None:
        """Cancel the background reloads (the process is stopping, its database about to go)."""
        tasks = [task for cache in self._caches.values() for task in cache._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stats(self) -> dict[str, dict[str, int]]:
        return {topic: {"entries": len(c), "hits": c.hits, "misses": c.misses, "refreshes": c.refreshes}
                for topic, c in self._caches.items()}


def _key(raw: str) -> Any:
    return int(raw) if raw.lstrip("-").isdigit() else raw


# The process's feed, set by the app at start (scripts and tests that build no app get a local
# one that caches nothing).
_FEED: ChangeFeed | None = None


def install(feed: ChangeFeed | None) -> None:
    global _FEED
    _FEED = feed


def current() -> ChangeFeed:
    global _FEED
    if _FEED is None:
        _FEED = ChangeFeed(redis=None, channel="", max_age_s=0, local_only=True)
    return _FEED


def channel(settings: Any) -> str:
    return settings.redis_prefix + "changes"


def changed(topic: str, key: Any) -> None:
    current().changed(topic, key)
