"""A station worker's day in Chromium: from the desk to a need, accepted and dispatched; a
volunteer claims, checks in and records through the API; the worker confirms the record and reads
the household's story and the volunteer's points. Every page is screenshotted, none logs a script
error, and no request leaves 127.0.0.1."""

from __future__ import annotations

from datetime import datetime, timedelta

from models import Task
from server.clock import CHINA_TZ
from tests.builders import make_need, make_resident, make_station, make_volunteer, make_worker, serve_and_record
from tests.handlers.console.browsing import Watched, browser  # noqa: F401  (the fixture)


async def test_a_workers_day(api, client, browser):  # noqa: F811
    station = await make_station(name="新威社区驿站")
    worker = await make_worker(client, station)
    resident, household = await make_resident(client, station, name="王秀英")
    need = await make_need(client, resident, description="独居老人,家里需要打扫")
    volunteer, _ = await make_volunteer(client, station, approved_by=worker, name="赵志愿")

    w = await Watched.open(browser)
    page = w.page
    await page.goto(f"{api.url}/console/dev-login?code=fake:{worker.openid}")
    await page.wait_for_load_state("networkidle")
    assert await page.locator('[data-name="needs_to_accept"]').inner_text() == "1"
    await w.shot("console-1-desk")

    await page.get_by_role("link", name="待受理需求").click()
    await page.get_by_role("link", name=str(need["id"]), exact=True).click()
    await page.get_by_role("button", name="受理").click()
    await page.get_by_text("已受理。下一步").wait_for()
    await w.shot("console-2-need-accepted")

    start = datetime.now(CHINA_TZ).replace(second=0, microsecond=0) + timedelta(minutes=5)
    await page.fill("#f-title", "打扫卫生")
    await page.fill("#f-scheduled_start", start.strftime("%Y-%m-%dT%H:%M"))
    await page.fill("#f-scheduled_end", (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_role("button", name="派发").click()
    await page.get_by_text("任务已派发").wait_for()
    await w.shot("console-3-need-dispatched")
    task = await Task.get(need_id=need["id"])
    assert task.scheduled_start == start

    # The volunteer's part, on the phone: claim, check in at the door, record 45 minutes.
    await serve_and_record(client, task.id, volunteer, minutes=45)

    await page.get_by_role("link", name="待确认记录").click()
    row = page.locator(f"#record-{task.id}")
    await row.get_by_text("记录 45 分钟").wait_for()
    await w.shot("console-4-records")
    await row.get_by_role("button", name="确认").click()
    await page.get_by_text("服务记录已确认").wait_for()
    assert (await Task.get(id=task.id)).status == "confirmed"

    await page.goto(f"{api.url}/console/households/{household['id']}")
    timeline = page.locator("#timeline")
    await timeline.get_by_text("已确认").first.wait_for()
    assert "45 分钟" in await page.locator("#services").inner_text()
    await w.shot("console-5-household")

    await page.locator("#services").get_by_role("link", name="赵志愿").click()
    balance = int(await page.locator('[data-name="balance"]').inner_text())
    points = (await client.get("/api/v1/points/me", headers=volunteer.headers)).json()
    assert balance == points["balance"] and balance > 0
    await w.shot("console-6-volunteer")
    w.clean()
