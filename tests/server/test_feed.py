"""The change feed and the process-local caches it vouches for (server/feed.py): a cache is read
only while the feed is live, an invalidation reaches every process, and a load that raced with an
invalidation is never stored."""

import asyncio

import redis.asyncio as aioredis

from server import feed
from server.feed import ChangeFeed
from tests.support import require_services


def local_feed(max_age_s: float = 30) -> ChangeFeed:
    return ChangeFeed(redis=None, channel="", max_age_s=max_age_s, local_only=True)


def test_a_load_that_raced_with_an_invalidation_is_not_stored():
    f = local_feed()
    cache = f.cache("member", max_entries=10)
    token = cache.begin()
    f.changed("member", 7)  # a writer commits while the reader's query is in flight
    cache.store(7, "stale", token)
    assert cache.get(7) is None
    token = cache.begin()  # read after the change: fine to keep
    cache.store(7, "fresh", token)
    assert cache.get(7) == "fresh"
    # Other keys are not affected by the invalidation of 7.
    token = cache.begin()
    f.changed("member", 8)
    cache.store(9, "other", token)
    assert cache.get(9) == "other"


def test_reset_refuses_loads_begun_before_it():
    f = local_feed()
    cache = f.cache("box", max_entries=10)
    token = cache.begin()
    f.reset()
    cache.store(1, ("row",), token)
    assert cache.get(1) is None
    cache.store(1, ("row",), cache.begin())
    assert cache.get(1) == ("row",)
    f.reset()
    assert cache.get(1) is None


def test_entries_age_out_and_the_cache_stays_bounded(monkeypatch):
    clock = [feed._now()]  # the caches' clock, moved by the test
    monkeypatch.setattr(feed, "_now", lambda: clock[0])
    f = local_feed(max_age_s=0.05)
    cache = f.cache("box", max_entries=3, weigh=len, max_weight=5)
    cache.store(1, (1, 2), cache.begin())
    assert cache.get(1) == (1, 2)
    clock[0] += 0.06  # past the age limit
    assert cache.get(1) is None
    f.max_age_s = 30
    for key in range(10):
        cache.store(key, (key,) * 2, cache.begin())
    assert len(cache) == 2  # weight 2 each, at most 5 in all
    assert cache.get(9) == (9, 9) and cache.get(0) is None


def test_nothing_is_cached_while_the_feed_is_not_live():
    f = ChangeFeed(redis=None, channel="x", max_age_s=30, local_only=False)
    cache = f.cache("member", max_entries=10)
    cache.store(1, "row", cache.begin())
    assert not f.live and cache.get(1) is None
    f.live = True
    cache.store(1, "row", cache.begin())
    assert cache.get(1) == "row"
    f.max_age_s = 0  # caching switched off
    assert cache.get(1) is None


async def test_an_unreachable_redis_keeps_the_feed_down():
    redis = aioredis.from_url("redis://127.0.0.1:1", socket_connect_timeout=0.2)
    tries = []  # each subscription the feed starts (a new pubsub each time)
    real_pubsub = redis.pubsub
    redis.pubsub = lambda **kw: tries.append(1) or real_pubsub(**kw)
    f = ChangeFeed(redis=redis, channel="x", max_age_s=30, local_only=False)
    stop = asyncio.Event()
    task = asyncio.create_task(f.run(stop))
    # Not a fixed wait: until the feed has failed to subscribe and is trying again.
    deadline = asyncio.get_running_loop().time() + 10
    while len(tries) < 2:
        assert asyncio.get_running_loop().time() < deadline, f"the feed tried {len(tries)} time(s) in 10 s"
        await asyncio.sleep(0.01)
    assert not f.live
    cache = f.cache("member", max_entries=10)
    cache.store(1, "row", cache.begin())
    assert cache.get(1) is None
    stop.set()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_an_invalidation_reaches_another_process_feed(api):
    """Two feeds on one Redis channel stand for two API processes."""
    require_services(api.settings, "the change feed across processes")
    channel = api.settings.redis_prefix + "feed-test"
    clients = [aioredis.from_url(api.settings.redis_url, decode_responses=True) for _ in range(2)]
    feeds = [ChangeFeed(redis=c, channel=channel, max_age_s=30, local_only=False) for c in clients]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(f.run(stop)) for f in feeds]
    try:
        for _ in range(50):
            if all(f.live for f in feeds):
                break
            await asyncio.sleep(0.05)
        assert all(f.live for f in feeds), f"feeds live after 50 polls (2.5 s+): {[f.live for f in feeds]}"
        reader = feeds[1].cache("member", max_entries=10)
        reader.store(42, "roles before", reader.begin())
        assert reader.get(42) == "roles before"
        feeds[0].changed("member", 42)  # outside a request: published by flush
        await feeds[0].flush()
        for _ in range(50):
            if reader.get(42) is None:
                break
            await asyncio.sleep(0.02)
        assert reader.get(42) is None, "the invalidation did not reach the other feed within 50 polls (1 s+)"
    finally:
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for c in clients:
            await c.aclose()


def test_the_app_feed_is_live_in_tests(api):
    assert feed.current() is api.app.ctx.feed and feed.current().live


def test_entries_stored_together_expire_spread_over_the_last_quarter_of_their_age(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(feed, "_now", lambda: clock[0])
    cache = local_feed(max_age_s=60).cache("box", max_entries=1000)
    for key in range(400):
        cache.store(key, key, cache.begin())
    clock[0] = 1000 + 44.9  # younger than three quarters of the limit: all kept
    assert cache.get_many(range(400)) == list(range(400))
    clock[0] = 1000 + 52.5  # in the last quarter: some expired, some not
    assert 50 < sum(v is not None for v in cache.get_many(range(400))) < 350
    clock[0] = 1000 + 60.01  # never older than the limit
    assert cache.get_many(range(400)) == [None] * 400


def test_get_many_answers_as_get_does():
    f = local_feed()
    cache = f.cache("box", max_entries=10)
    cache.store(1, "a", cache.begin())
    cache.store(3, "c", cache.begin())
    assert cache.get_many([1, 2, 3]) == ["a", None, "c"]
    assert (cache.hits, cache.misses) == (2, 1)
    cache.store(4, "d", cache.begin())
    cache.get_many([1])  # used last: 3 is now the least recently used
    for key in range(5, 13):
        cache.store(key, str(key), cache.begin())
    assert cache.get_many([1, 3, 4]) == ["a", None, "d"]
    f.max_age_s = 0
    assert cache.get_many([1]) == [None]


async def test_an_entry_read_near_its_age_limit_is_reloaded_in_the_background(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(feed, "_now", lambda: clock[0])
    monkeypatch.setattr(feed, "_spread", lambda: 0.0)  # no spread: ages exact
    f = local_feed(max_age_s=60)
    cache = f.cache("box", max_entries=10)
    cache.store(1, "v1", cache.begin())
    due: list = []
    clock[0] += 60 * feed.REFRESH_AT - 1
    assert cache.get(1, due=due) == "v1" and due == []  # young enough: nothing to do
    clock[0] += 2
    assert cache.get(1, due=due) == "v1" and due == [1]  # near the limit: still served, and due

    gate, loads = asyncio.Event(), []

    async def load(keys):
        loads.append(list(keys))
        token = cache.begin()
        await gate.wait()
        for key in keys:
            cache.store(key, "v2", token)

    cache.refresh_later(due, load)
    cache.refresh_later([1], load)  # already on its way: not loaded twice
    await asyncio.sleep(0)
    again: list = []
    assert cache.get(1, due=again) == "v1" and again == []  # readers keep the current entry meanwhile
    gate.set()
    await asyncio.gather(*cache._tasks)
    assert loads == [[1]] and cache.get(1) == "v2"
    clock[0] += 59  # the reload restarted its age (from the moment the reload stored it)
    assert cache.get(1) == "v2"


async def test_a_background_reload_that_raced_an_invalidation_or_failed_keeps_nothing(monkeypatch):
    f = local_feed(max_age_s=60)
    cache = f.cache("box", max_entries=10)
    cache.store(1, "v1", cache.begin())
    gate = asyncio.Event()

    async def load(keys):
        token = cache.begin()
        await gate.wait()
        cache.store(1, "stale", token)

    cache.refresh_later([1], load)
    await asyncio.sleep(0)
    f.changed("box", 1)  # a writer commits while the reload's query is in flight
    gate.set()
    await asyncio.gather(*cache._tasks)
    assert cache.get(1) is None

    async def broken(keys):
        raise ConnectionError("database gone")

    cache.store(2, "v1", cache.begin())
    cache.refresh_later([2], broken)
    await asyncio.gather(*cache._tasks)
    assert cache.get(2) == "v1"  # kept until it ages out; a later reader may try again
    due: list = []
    # Past three quarters of its age, from when it counts as stored (stores are aged with a spread).
    later = cache._entries[2][0] + 60 * feed.REFRESH_AT + 1
    monkeypatch.setattr(feed, "_now", lambda: later)
    cache.get(2, due=due)
    assert due == [2]


async def test_stopping_cancels_the_background_reloads():
    f = local_feed()
    cache = f.cache("member", max_entries=10)
    started = asyncio.Event()

    async def never_done(keys):
        started.set()
        await asyncio.sleep(3600)

    cache.refresh_later([1, 2], never_done)
    await started.wait()
    await f.stop_refreshing()
    assert not cache._tasks and not cache._reloading  # nothing left to touch a closed database


async def test_a_reload_check_keeps_what_the_database_still_has_and_names_the_rest(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(feed, "_now", lambda: clock[0])
    monkeypatch.setattr(feed, "_spread", lambda: 0.0)
    f = local_feed(max_age_s=60)
    cache = f.cache("box", max_entries=10)
    for key, value in {1: ("a", 1), 2: ("b", 2), 3: ("c", 3), 4: ("", 0)}.items():
        cache.store(key, value, cache.begin())
    clock[0] += 50

    async def now_in(keys):
        assert keys == [1, 2, 3, 4, 5]
        f.changed("box", 3)  # invalidated while the check runs
        return {1: 1, 2: 22, 3: 3}  # 2 changed; 4 has no row (as good as 0); 5 was never kept

    stale, kept, token = await cache.keep_unchanged([1, 2, 3, 4, 5], now_in, lambda v: v[1], absent=0)
    assert stale == [2, 5] and kept == [("a", 1), ("", 0)]
    assert token == f.sequence - 1  # taken before the check (the invalidation came after)
    clock[0] += 20  # 70 s after the first store: only the entries the check kept are left
    assert cache.get_many([1, 2, 3, 4]) == [("a", 1), None, None, ("", 0)]


def test_what_follows_a_cache_goes_whenever_what_it_was_made_of_does(monkeypatch):
    """``LocalCache.follow``: an entry made of entries of another cache goes when any of them is
    dropped, replaced, evicted or cleared; entries made of others stay."""
    f = local_feed()
    source = f.cache("parts", max_entries=3)
    whole = f.cache("wholes", max_entries=10)
    whole.follow(source, lambda part: (part // 10,))  # whole n is made of parts 10n .. 10n+9

    def build(n: int) -> None:
        token = whole.begin()
        parts, _ = source.get_all([10 * n, 10 * n + 1])
        whole.store(n, tuple(parts), token)

    for key in (10, 11, 20):
        source.store(key, f"p{key}", source.begin())
    assert source.get_all([10, 11, 12]) is None  # 12 is not held
    build(1)
    assert whole.get(1) == ("p10", "p11")
    f.changed("parts", 11)  # dropped
    assert whole.get(1) is None
    source.store(11, "p11'", source.begin())
    build(1)
    assert whole.get(1) == ("p10", "p11'")
    source.store(10, "p10'", source.begin())  # replaced
    assert whole.get(1) is None
    build(1)
    source.store(30, "p30", source.begin())  # evicts 20, the least recently used: another whole's
    assert source.peek(20) is None and whole.get(1) == ("p10'", "p11'")
    source.store(31, "p31", source.begin())  # evicts 11
    assert source.peek(11) is None and whole.get(1) is None
    source.store(11, "p11", source.begin())  # evicts 10
    source.store(10, "p10", source.begin())
    build(1)
    f.changed("parts", 30)  # another whole's part: this one stays
    assert whole.get(1) == ("p10", "p11")
    source.clear(f.sequence)
    assert whole.get(1) is None


def test_an_entry_made_of_others_ages_with_the_oldest_of_them(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(feed, "_now", lambda: clock[0])
    monkeypatch.setattr(feed, "_spread", lambda: 0.0)
    f = local_feed(max_age_s=10)
    source = f.cache("parts", max_entries=10)
    whole = f.cache("wholes", max_entries=10)
    source.store(1, "a", source.begin())
    clock[0] += 6
    source.store(2, "b", source.begin())
    parts, oldest = source.get_all([1, 2])
    assert oldest == 1000.0
    whole.store("w", tuple(parts), whole.begin(), at=oldest)
    due: list = []
    assert whole.get("w", due=due) == ("a", "b") and due == []
    clock[0] += 2  # 8 s after the oldest part: past ¾ of the age limit
    assert whole.get("w", due=due) == ("a", "b") and due == ["w"]
    clock[0] += 2.5  # the oldest part is past the limit: so is what was made of it
    assert whole.get("w") is None and source.get_all([1, 2]) is None
