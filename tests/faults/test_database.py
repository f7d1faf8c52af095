"""MariaDB cut under the API and restored: requests during the cut fail fast with 503
DB_UNAVAILABLE, and succeed again afterwards without restarting the app."""

import asyncio
import time

from tests.builders import fast_login


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
        assert elapsed < 5, f"took {elapsed:.1f} s"
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
    """Claims are decided in batches (server/services/claims.py): with the database cut, every
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
    assert elapsed < 5, f"took {elapsed:.1f} s"
    proxies.db.restore()
    again = await asyncio.gather(*(c.post(f"/api/v1/tasks/{t['id']}/claim", headers=v.headers)
                                   for t, v in zip(tasks, volunteers)))
    assert [r.status_code for r in again] == [200] * 30, [r.text for r in again if r.status_code != 200][:2]
    assert await TaskClaim.filter(task_id__in=[t["id"] for t in tasks]).count() == 30
