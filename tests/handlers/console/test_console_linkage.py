"""部门联动 and 邻里互助 in Chromium, as a day at the station goes: the bureau adds a department;
a worker refers a task to it from the need's page, hears back and records it served, and the need
completes; on another household's page the worker registers a neighbour as its helper and, from its
need's page, hands the task to them."""

from __future__ import annotations

from models import DepartmentReferral, NeighbourTie, Task, TaskClaim
from tests.builders import (
    make_admin,
    make_need,
    make_resident,
    make_station,
    make_task,
    make_volunteer,
    make_worker,
)
from tests.handlers.console.browsing import Watched, browser  # noqa: F401  (the fixture)


async def test_a_worker_refers_to_a_department_and_hands_a_task_to_a_neighbour(api, client, browser):  # noqa: F811
    admin = await make_admin(client)
    station = await make_station(name="鲸园驿站")
    worker = await make_worker(client, station)
    household, _ = await make_resident(client, station, name="王秀英")
    need = await make_need(client, household)
    task = await make_task(client, worker, need, title="居室清洁消毒")

    # The bureau adds the department, with whom to call and how soon it answers.
    w = await Watched.open(browser)
    page = w.page
    await page.goto(f"{api.url}/console/dev-login?code=fake:{admin.openid}")
    await page.get_by_role("link", name="联动部门").click()
    form = page.locator("#department-form")
    await form.get_by_label("部门名称").fill("环翠区卫生健康局")
    await form.get_by_label("联系人").fill("王科长")
    await form.get_by_label("联系电话").fill("0631 5200000")
    await form.get_by_label("反馈时限(小时)").fill("48")
    await form.get_by_label("居室保洁").check()
    await form.get_by_role("button", name="添加部门").click()
    await page.get_by_text("已添加联动部门「环翠区卫生健康局」").wait_for()
    listed = await page.locator("#department-list").inner_text()
    assert "0631-5200000" in listed and "48 小时" in listed and "居室保洁" in listed and "在用" in listed
    await w.shot("console-linkage-departments")
    # Its details changed on its own page: a shorter time to answer, a second service.
    await page.get_by_role("link", name="环翠区卫生健康局").click()
    edit = page.locator("#department-edit")
    await edit.get_by_label("反馈时限(小时)").fill("36")
    await edit.get_by_label("健康监测").check()
    await edit.get_by_role("button", name="保存").click()
    await page.get_by_text("已保存「环翠区卫生健康局」:36 小时内反馈,承办服务 2 项,在用。").wait_for()
    await w.shot("console-linkage-department")
    w.clean()

    # The worker refers the task to it from the need's page.
    w = await Watched.open(browser)
    page = w.page
    await page.goto(f"{api.url}/console/dev-login?code=fake:{worker.openid}")
    await page.goto(f"{api.url}/console/needs/{need['id']}")
    refer = page.locator(f"#dept-{task['id']}")
    await refer.get_by_label("承办部门").select_option(label="环翠区卫生健康局 · 王科长 0631-5200000 · 36小时内反馈")
    await refer.get_by_label("转介说明(选填)").fill("请社区卫生服务站上门清洁消毒")
    await w.shot("console-linkage-need")
    await refer.get_by_role("button", name="转介部门").click()
    await page.get_by_text("已转介部门").wait_for()
    referral = await DepartmentReferral.get(task_id=task["id"])
    answer = page.locator(f"#outcome-{referral.id}")
    assert "王科长" in await answer.inner_text() and "待部门反馈" in await answer.inner_text()
    assert (await Task.get(id=task["id"])).status == "referred"
    await w.shot("console-linkage-referred")

    # The department calls back: served. The task is done without a volunteer; the need completes.
    await answer.get_by_label("部门已服务").check()
    await answer.get_by_label("说明(选填)").fill("卫生服务站已上门")
    await answer.get_by_role("button", name="记录结果").click()
    await page.get_by_text("已记录部门服务,任务完成").wait_for()
    await page.get_by_text("部门联动:环翠区卫生健康局已服务(卫生服务站已上门)").wait_for()
    assert (await Task.get(id=task["id"])).status == "confirmed" and not await TaskClaim.exists(task_id=task["id"])
    assert "已完成" in await page.locator("h1").inner_text()
    await w.shot("console-linkage-served")
    # The station's referrals page lists it with the department's answer.
    await page.get_by_role("link", name="转介", exact=True).click()
    listed = await page.locator("#department-referrals").inner_text()
    assert "环翠区卫生健康局" in listed and "部门已服务" in listed and "卫生服务站已上门" in listed

    # Another household: its neighbour, a volunteer of the station, registered as its helper.
    _, profile = await make_volunteer(client, station, approved_by=worker, name="孙建华")
    neighbour_household, second = await make_resident(client, station, name="李桂兰")
    other_need = await make_need(client, neighbour_household, service_code="LIVING_SHOP")
    shopping = await make_task(client, worker, other_need, title="代买药品")
    await page.goto(f"{api.url}/console/households/{second['id']}")
    helper = page.locator("#neighbour-form")
    await helper.get_by_label("本驿站志愿者").select_option(label="孙建华")
    await helper.get_by_label("与该户的关系(选填)").fill("同楼邻居")
    await helper.get_by_role("button", name="登记为邻里互助人").click()
    await page.get_by_text("已登记邻里互助人").wait_for()
    assert "孙建华" in await page.locator("#neighbour-list").inner_text()
    assert await NeighbourTie.filter(resident_id=second["id"], volunteer_id=profile["id"], ended_at=None).exists()
    await w.shot("console-linkage-household")

    # ...and the task handed to them from the need's page.
    await page.goto(f"{api.url}/console/needs/{other_need['id']}")
    assign = page.locator(f"#neighbour-{shopping['id']}")
    await assign.get_by_label("邻里互助人").select_option(label="孙建华(同楼邻居)")
    await assign.get_by_role("button", name="指派邻居").click()
    await page.get_by_text("已指派邻里互助人").wait_for()
    await page.get_by_text("邻里互助:指派给邻居孙**").wait_for()
    claim = await TaskClaim.get(task_id=shopping["id"])
    assert claim.volunteer_id == profile["id"] and (await Task.get(id=shopping["id"])).delivery_way == "neighbour"
    assert "孙建华" in await page.locator("main table.list").first.inner_text()
    assert await page.locator(f"#way-{shopping['id']} select").input_value() == "neighbour"
    await w.shot("console-linkage-neighbour")
    w.clean()
