"""After-commit work (server/transactions.py): it runs once the data is committed, with every item
registered for it, never after a rollback, and a failure in it leaves the committed work as it is."""

import logging

import pytest

from models import Station
from server import transactions
from server.transactions import after_commit, atomic
from tests.builders import make_station


class Seen:
    def __init__(self) -> None:
        self.calls: list[tuple[list, bool]] = []

    async def __call__(self, items: list) -> None:
        # What the hook can read is what was committed: a station made in the block exists.
        committed = await Station.filter(name__in=[i for i in items if isinstance(i, str)]).count()
        self.calls.append((items, committed))


async def test_hooks_run_after_the_commit_with_every_item(api):
    seen = Seen()
    async with atomic():
        station = await make_station()
        after_commit(seen, [station.name])
        after_commit(seen, [1, 2])
        assert seen.calls == []  # nothing before the commit
    assert seen.calls == [([station.name, 1, 2], 1)]


async def test_a_rollback_runs_nothing(api):
    seen = Seen()
    with pytest.raises(RuntimeError):
        async with atomic():
            after_commit(seen, ["x"])
            raise RuntimeError("rolled back")
    assert seen.calls == []
    # And the next unit of work starts with no hooks left over.
    async with atomic():
        pass
    assert seen.calls == []


async def test_a_nested_block_waits_for_the_outermost_commit(api):
    seen = Seen()
    async with atomic():
        async with atomic():
            after_commit(seen, ["inner"])
        assert seen.calls == []
        after_commit(seen, ["outer"])
    assert seen.calls == [(["inner", "outer"], 0)]


async def test_outside_a_block_nothing_is_run(api):
    seen = Seen()
    after_commit(seen, ["lost"])
    async with atomic():
        pass
    assert seen.calls == []


async def test_a_failing_hook_is_logged_and_the_others_still_run(api, caplog):
    seen = Seen()

    async def broken(items: list) -> None:
        raise ConnectionError("redis away")

    with caplog.at_level(logging.ERROR, logger=transactions.log.name):
        async with atomic():
            after_commit(broken, [1])
            after_commit(seen, [2])
    assert seen.calls == [([2], 0)]
    assert any("after-commit hook failed" in r.getMessage() for r in caplog.records)
