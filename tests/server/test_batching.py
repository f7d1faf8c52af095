"""server/batching.py: what arrives while a run is out goes together in the next run; each item
gets its own result; with ``isolate`` a failing run is retried item by item."""

import asyncio

import pytest

from server.batching import Batcher


class Recorder:
    def __init__(self, *, fail_on=None, error=ValueError) -> None:
        self.runs: list[list[int]] = []
        self.release = asyncio.Event()
        self.fail_on, self.error = fail_on, error

    async def __call__(self, items: list[int]) -> list[int]:
        self.runs.append(list(items))
        await self.release.wait()
        if self.fail_on is not None and self.fail_on in items:
            raise self.error(f"refused {self.fail_on}")
        return [item * 10 for item in items]


async def two_runs(run: Recorder, batcher: Batcher, first: int, then: tuple[int, ...]) -> list:
    """Submit ``first``; while its run is held, submit ``then``; release: every result or error."""
    started = asyncio.ensure_future(batcher.submit(first))
    await asyncio.sleep(0)
    waiting = [asyncio.ensure_future(batcher.submit(k)) for k in then]
    await asyncio.sleep(0)
    run.release.set()
    return await asyncio.gather(started, *waiting, return_exceptions=True)


async def test_items_arriving_during_a_run_go_together_in_the_next():
    run = Recorder()
    assert await two_runs(run, Batcher("test", run), 1, (2, 3, 4)) == [10, 20, 30, 40]
    assert run.runs == [[1], [2, 3, 4]]


async def test_a_batch_is_at_most_max_batch():
    run = Recorder()
    run.release.set()
    batcher = Batcher("test", run, max_batch=2)
    assert await asyncio.gather(*(batcher.submit(k) for k in range(5))) == [0, 10, 20, 30, 40]
    assert all(len(items) <= 2 for items in run.runs) and sum(run.runs, []) == list(range(5))


async def test_isolated_failure_fails_only_its_item():
    run = Recorder(fail_on=3)
    run.release.set()
    batcher = Batcher("test", run, isolate=True)
    results = await asyncio.gather(*(batcher.submit(k) for k in (1, 2, 3, 4)), return_exceptions=True)
    assert results[:2] == [10, 20] and results[3] == 40
    assert isinstance(results[2], ValueError)


async def test_without_isolate_a_failed_run_fails_all_its_items_once():
    run = Recorder(fail_on=3)
    results = await two_runs(run, Batcher("test", run), 0, (2, 3))
    assert results[0] == 0 and all(isinstance(r, ValueError) for r in results[1:])
    assert run.runs == [[0], [2, 3]]  # tried once, not item by item


def _timed_out(message: str) -> Exception:
    from tortoise.exceptions import OperationalError

    return OperationalError(f"Query execution was interrupted (max_statement_time exceeded): {message}")


@pytest.mark.parametrize("error", ["lost", "timeout"])
async def test_a_lost_connection_or_a_timeout_is_not_retried_item_by_item(error):
    from tortoise.exceptions import DBConnectionError

    run = Recorder(fail_on=2, error=DBConnectionError if error == "lost" else _timed_out)
    results = await two_runs(run, Batcher("test", run, isolate=True), 0, (1, 2))
    assert all(isinstance(r, Exception) and "2" in str(r) for r in results[1:])
    assert run.runs == [[0], [1, 2]]


async def test_an_item_cancelled_before_its_run_is_not_run():
    run = Recorder()
    batcher = Batcher("test", run)
    first = asyncio.ensure_future(batcher.submit(1))
    await asyncio.sleep(0)
    gone = asyncio.ensure_future(batcher.submit(2))
    kept = asyncio.ensure_future(batcher.submit(3))
    await asyncio.sleep(0)
    gone.cancel()
    run.release.set()
    assert await first == 10 and await kept == 30
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert run.runs == [[1], [3]]


async def test_callers_loading_at_once_are_read_together_each_as_themself(client, api):
    from server import metrics
    from tests.builders import bulk_volunteers, make_station

    crowd = await bulk_volunteers(api, await make_station(), 20)

    def runs() -> tuple[float, float]:
        return (metrics.REGISTRY.get_sample_value("haibei_batch_size_count", {"kind": "caller"}) or 0,
                metrics.REGISTRY.get_sample_value("haibei_batch_size_sum", {"kind": "caller"}) or 0)

    batches, loaded = runs()
    results = await asyncio.gather(*(client.get("/api/v1/me", headers=v.headers) for v in crowd))
    assert [r.json()["id"] for r in results] == [v.id for v in crowd]
    assert [r.json()["volunteer"]["name"] for r in results] == [f"志愿者{i}" for i in range(20)]
    after_batches, after_loaded = runs()
    assert after_loaded - loaded == 20  # none of them was in the cache
    assert after_batches - batches < 20, after_batches - batches


async def test_an_unreachable_dependency_fails_what_waits_at_once():
    from tortoise.exceptions import DBConnectionError

    run = Recorder(fail_on=0, error=DBConnectionError)
    results = await two_runs(run, Batcher("test", run, isolate=True), 0, (1, 2, 3))
    # The waiting three were never run: they got the first run's error without a wait of their own.
    assert all(isinstance(r, DBConnectionError) for r in results)
    assert run.runs == [[0]]


async def test_rate_counts_behind_a_redis_gone_fail_with_it_at_once():
    import redis.exceptions

    from server import ratelimit

    release, pipelines = asyncio.Event(), []

    class Pipeline:
        def incr(self, key):
            pass

        def expire(self, key, seconds):
            pass

        async def execute(self):
            await release.wait()
            raise redis.exceptions.ConnectionError("refused")

    class Gone:
        def pipeline(self, transaction):
            pipelines.append(Pipeline())
            return pipelines[-1]

    batcher = ratelimit._COUNTS
    first = asyncio.ensure_future(batcher.submit((Gone(), [("k0", 60)])))
    await asyncio.sleep(0)
    waiting = [asyncio.ensure_future(batcher.submit((Gone(), [(f"k{k}", 60)]))) for k in range(1, 5)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(first, *waiting, return_exceptions=True)
    assert all(isinstance(r, redis.exceptions.ConnectionError) for r in results)
    assert len(pipelines) == 1  # the four behind it were not sent to wait on their own
