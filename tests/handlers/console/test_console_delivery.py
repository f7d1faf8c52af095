"""服务方式 in Chromium: a worker dispatches a task as a department's service (部门联动), changes
another to neighbour help (邻里互助) from the need's page; the timeline says so and the station's
statistics count each way."""

from __future__ import annotations

from models import Task
from tests.builders import make_need, make_resident, make_station, make_task, make_worker
from tests.handlers.console.browsing import Watched, browser  # noqa: F401  (the fixture)


async def test_a_worker_says_how_each_service_is_delivered(api, client, browser):  # noqa: F811
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    need = await make_need(client, resident)
    first = await make_task(client, worker, need)

    w = await Watched.open(browser)
    page = w.page
    await page.goto(f"{api.url}/console/dev-login?code=fake:{worker.openid}")
    await page.goto(f"{api.url}/console/needs/{need['id']}")
    await page.locator(f"#way-{first['id']} select").select_option(label="邻里互助")
    await page.locator(f"#way-{first['id']}").get_by_role("button", name="改").click()
    await page.get_by_text("服务方式已修改").wait_for()
    await page.get_by_text("服务方式:志愿服务 → 邻里互助").wait_for()
    assert (await Task.get(id=first["id"])).delivery_way == "neighbour"

    dispatch = page.locator("#dispatch")
    await dispatch.get_by_label("任务标题").fill("联系街道卫生院上门")
    await dispatch.get_by_label("服务方式").select_option(label="部门联动")
    await dispatch.get_by_role("button", name="派发").click()
    await page.get_by_text("任务已派发").wait_for()
    assert await Task.filter(need_id=need["id"], delivery_way="department").count() == 1
    await w.shot("console-delivery-way")

    await page.get_by_role("link", name="统计").click()
    table = await page.locator("#delivery").inner_text()
    assert "邻里互助\t1" in table and "部门联动\t1" in table, table
    w.clean()
