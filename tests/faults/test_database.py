"""MariaDB cut under the API and restored: requests during the cut fail fast with 503
DB_UNAVAILABLE, and succeed again afterwards without restarting the app."""

import asyncio
import sys
import time

import httpx
import pytest

from tests.builders import fast_login
from tests.faults.conftest import process_env, start_api, start_process

# The API process's connect timeout here. A request that waited on the cut database (for a
# connection, an answer) would take at least this long: one that fails fast answers before it
# could have run out. The timings below are measured against it, not against a fixed limit.
CONNECT_TIMEOUT_S = 5.0


@pytest.fixture
def app_env() -> dict[str, str]:
    return {"HAIBEI_DB_CONNECT_TIMEOUT_S": f"{CONNECT_TIMEOUT_S:g}"}


async def test_database_cut_fails_fast_and_recovers_without_a_restart(api, proxies, app_process):
    session = await fast_login(api)
    c = app_process.client
    for _ in range(3):
        r = await c.get("/api/v1/points/me", headers=session.headers)
        assert r.status_code == 200, r.text
    proxies.db.cut()
    for _ in range(5):
        started = time.monotonic()
        r = await c.get("/api/v1/points/me", headers=session.headers)
        elapsed = time.monotonic() - started
        print("during cut", r.status_code, r.text[:120], f"{elapsed:.2f}s")
        assert r.status_code == 503 and r.json()["error"]["code"] == "DB_UNAVAILABLE", r.text
        assert elapsed < CONNECT_TIMEOUT_S, f"took {elapsed:.1f} s: as long as a connect timeout, it waited"
    proxies.db.restore()
    results = []
    for _ in range(5):
        r = await c.get("/api/v1/points/me", headers=session.headers)
        results.append(r.status_code)
        print("after restore", r.status_code, r.text[:120])
    assert results == [200] * 5, results


async def test_connections_dropped_while_idle_do_not_fail_the_next_request(api, proxies, app_process):
    """The pool's idle connections die with the cut; the first request after the restore must not
    be handed a dead one."""
    session = await fast_login(api)
    c = app_process.client
    assert (await c.get("/api/v1/points/me", headers=session.headers)).status_code == 200
    proxies.db.cut()
    await asyncio.sleep(0.2)
    proxies.db.restore()
    statuses = [(await c.get("/api/v1/points/me", headers=session.headers)).status_code for _ in range(5)]
    assert statuses == [200] * 5, statuses


async def test_claims_in_flight_when_the_database_is_cut_all_fail_fast_and_claim_again_after(api, client, proxies, app_process):
    """Claims are decided in batches (server/workflow/claims.py): with the database cut, every
    concurrent claim gets its 503 at once, none waits behind another batch's failure, and once
    the database is back the same claims succeed without a restart."""
    from models import TaskClaim
    from tests.builders import bulk_volunteers, make_open_task, make_station

    station = await make_station()
    tasks = [(await make_open_task(client, station))[0] for _ in range(30)]
    volunteers = await bulk_volunteers(api, station, 30)
    c = app_process.client
    for v in volunteers:  # each caller read once, so the cut meets the claims themselves
        assert (await c.get("/api/v1/me", headers=v.headers)).status_code == 200
    proxies.db.cut()
    started = time.monotonic()
    results = await asyncio.gather(*(c.post(f"/api/v1/tasks/{t['id']}/claim", headers=v.headers)
                                     for t, v in zip(tasks, volunteers)))
    elapsed = time.monotonic() - started
    assert {(r.status_code, r.json()["error"]["code"]) for r in results} == {(503, "DB_UNAVAILABLE")}
    # All 30 together are over before one connect timeout could have run out: none waited on the
    # database, nor behind another's failure.
    assert elapsed < CONNECT_TIMEOUT_S, f"took {elapsed:.1f} s"
    proxies.db.restore()
    again = await asyncio.gather(*(c.post(f"/api/v1/tasks/{t['id']}/claim", headers=v.headers)
                                   for t, v in zip(tasks, volunteers)))
    assert [r.status_code for r in again] == [200] * 30, [r.text for r in again if r.status_code != 200][:2]
    assert await TaskClaim.filter(task_id__in=[t["id"] for t in tasks]).count() == 30


WAITING = "database not reachable at start"


async def restore_when_logged(proxy, log, line: str, *, times: int = 1, timeout: float = 60) -> None:
    """Restore ``proxy`` once ``line`` shows ``times`` times in ``log``."""
    deadline = time.monotonic() + timeout
    while not (log.exists() and log.read_text().count(line) >= times):
        assert time.monotonic() < deadline, f"{line!r} not logged {times} times:\n" + (log.read_text() if log.exists() else "")
        await asyncio.sleep(0.1)
    proxy.restore()


async def test_a_process_whose_workers_start_while_the_database_is_unreachable_waits_for_it(api, standin, proxies,
                                                                                            tmp_path):
    """Both workers of an API process start with MariaDB cut: they keep trying and serve once it is
    back. Without that, the first worker to fail its start shut down the whole process."""
    proxies.db.cut()
    log = tmp_path / "api.log"
    restored = asyncio.create_task(restore_when_logged(proxies.db, log, WAITING, times=2))  # both workers waited
    proc, url = await start_api(process_env(api, standin, proxies), log, workers=2)
    try:
        await restored
        session = await fast_login(api)
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            statuses = [(await c.get("/api/v1/points/me", headers=session.headers)).status_code for _ in range(10)]
        assert statuses == [200] * 10, statuses
        assert proc.proc.returncode is None
    finally:
        await proc.stop()


async def test_a_process_gives_up_when_the_database_stays_unreachable(api, standin, proxies, tmp_path):
    """It waits the HAIBEI_DB_STARTUP_WAIT_S it is given (not the default 30 s), then exits non-zero."""
    import json

    startup_wait_s = 2.0
    proxies.db.cut()
    log = tmp_path / "api.log"
    env = process_env(api, standin, proxies, HAIBEI_DB_STARTUP_WAIT_S=f"{startup_wait_s:g}")
    proc = await start_process([sys.executable, "-m", "sanic", "server.app:create_app", "--factory", "--host",
                                "127.0.0.1", "--port", "0", "--single-process", "--no-motd"], env, log)
    returncode = await asyncio.wait_for(proc.proc.wait(), 60)  # a hang guard only
    assert returncode != 0
    text = log.read_text()
    assert WAITING in text
    # Read from what the process logged of each try, not from a wall clock: the pauses it took
    # between tries add up to no more than the wait it was given (with the default's 30 s they
    # would add up to far more before it gave up).
    pauses = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and WAITING in str(entry.get("msg")):
            pauses.append(float(entry["retry_in_s"]))
    assert pauses and sum(pauses) <= startup_wait_s, f"pauses between tries: {pauses}\n{text[-2000:]}"


async def test_the_outbox_worker_started_while_the_database_is_unreachable_waits_for_it(api, standin, proxies,
                                                                                        tmp_path):
    from tests.faults.test_wechat import delivered, outbox, wait_sent, worker_args

    await outbox(api, 3)
    proxies.db.cut()
    log = tmp_path / "worker.log"
    worker = await start_process(worker_args(), process_env(api, standin, proxies), log)
    try:
        await restore_when_logged(proxies.db, log, WAITING)
        await wait_sent(3, timeout=60)
    finally:
        await worker.stop()
    assert sorted(await delivered(standin)) == ["m0", "m1", "m2"]
