"""Re-assessment on a cycle (动态管理), over HTTP with the app's clock moved: a visit falls due after
its level's interval, the station sees it due and then overdue, the worker who made the visit is
reminded once a week before (even with two job runners at once), an overdue score is marked stale
in the ranking, and a new visit starts the cycle again."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from models import Assessment, Notification
from server.care import reassessment
from server.ops import jobs
from tests.builders import clock_moved, make_resident, make_station, make_worker
from tests.handlers.care.test_assessments import HARD, MILD, assess

DAY = 24 * 60


def test_a_visit_falls_due_after_its_levels_months_in_weihai():
    visit = datetime(2026, 8, 31, 2, 0, tzinfo=timezone.utc)  # 10:00 on 31 August in Weihai
    assert reassessment.due_after(visit, "特别困难") == datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)
    assert reassessment.due_after(visit, "较困难") == datetime(2027, 2, 28, 2, 0, tzinfo=timezone.utc)
    assert reassessment.due_after(visit, "一般") == datetime(2027, 8, 31, 2, 0, tzinfo=timezone.utc)


async def test_the_station_sees_who_is_due_then_overdue_and_is_reminded_once(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    _, hard = await make_resident(client, station)
    _, mild = await make_resident(client, station)
    _, never = await make_resident(client, station)
    await assess(client, worker, hard["id"], HARD)   # 特别困难: due in 3 months
    await assess(client, worker, mild["id"], MILD)   # 较困难: due in 6 months
    url = f"/api/v1/stations/{station.id}/reassessments"

    r = await client.get(url, headers=worker.headers)
    assert r.status_code == 200 and r.json()["due"] == []
    assert [h["resident_id"] for h in r.json()["never_assessed"]] == [never["id"]]

    settings = api.app.ctx.settings
    with clock_moved(86 * DAY, api.app):  # 86 days on: within the week before the 3 months are up
        now = api.app.ctx.clock()
        listed = (await client.get(url, headers=worker.headers)).json()
        assert [(d["resident_id"], d["state"]) for d in listed["due"]] == [(hard["id"], "due_soon")]
        # Two job runners at once (two worker processes): one reminder.
        done = await asyncio.gather(jobs.run_all(settings=settings, now=now), jobs.run_all(settings=settings, now=now))
        assert sorted(d["reminded_reassessments"] for d in done) == [0, 1]
        again = await jobs.run_all(settings=settings, now=now)
        assert again["reminded_reassessments"] == 0
    sent = await Notification.filter(event="reassessment_due")
    assert [n.user_id for n in sent] == [worker.id]
    assert "到期" in sent[0].body and "入户评估" in sent[0].body

    with clock_moved(100 * DAY, api.app):
        listed = (await client.get(url, headers=worker.headers)).json()
        assert [(d["resident_id"], d["state"]) for d in listed["due"]] == [(hard["id"], "overdue")]
        assert listed["overdue"] == 1
        ranking = (await client.get(f"/api/v1/stations/{station.id}/ranking", headers=worker.headers)).json()
        stale = {item["resident_id"]: item["stale"] for item in ranking["items"]}
        assert stale == {hard["id"]: True, mild["id"]: False}
        # A new visit starts the cycle again.
        r = await client.post(f"/api/v1/residents/{hard['id']}/assessments", headers=worker.headers,
                              json={"answers": HARD, "visited_at": (api.app.ctx.clock() - timedelta(hours=1)).isoformat()})
        assert r.status_code == 201, r.text
        listed = (await client.get(url, headers=worker.headers)).json()
        assert listed["due"] == []
    latest = await Assessment.filter(resident_id=hard["id"]).order_by("-id").first()
    assert latest.due_at > latest.visited_at + timedelta(days=88)


async def test_the_console_lists_the_households_due(api, client):
    from tests.handlers.console.support import console_browser

    station = await make_station()
    worker = await make_worker(client, station)
    _, hard = await make_resident(client, station)
    await assess(client, worker, hard["id"], HARD)
    async with console_browser(api, worker.openid) as b:
        page = await b.get("/console/reassessments")
        assert page.status_code == 200 and "没有到期的复评" in page.text
        with clock_moved(100 * DAY, api.app):
            page = await b.get("/console/reassessments")
    listed = page.text[page.text.index('id="due"'):]
    assert f'/console/households/{hard["id"]}"' in listed and "已逾期" in listed and "特别困难" in listed


async def test_the_statistics_count_the_overdue_reassessments(api, client):
    import re

    from tests.handlers.console.support import console_browser

    station = await make_station()
    worker = await make_worker(client, station)
    _, hard = await make_resident(client, station)
    await assess(client, worker, hard["id"], HARD)
    async with console_browser(api, worker.openid) as b:
        with clock_moved(100 * DAY, api.app):
            page = await b.get("/console/stats")
    assert re.search(r'data-name="reassessments_overdue">1<', page.text), page.text[:200]
