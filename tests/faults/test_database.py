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
