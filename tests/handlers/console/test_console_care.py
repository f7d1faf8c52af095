"""The care pages of the console in Chromium, as a worker's day goes: a complaint filed for a
household from its page, found under 投诉, answered, accepted by the household on the phone and then
shown resolved; a household whose re-assessment is overdue, found under 待复评 and followed to its
home-visit form. Screenshots under var/screenshots/ (care-*.png); no script error; nothing leaves
127.0.0.1."""

from __future__ import annotations

from models import Complaint
from tests.builders import clock_moved, make_need, make_resident, make_station, make_worker
from tests.handlers.care.test_assessments import HARD, MILD, assess
from tests.handlers.console.browsing import Watched, browser  # noqa: F401  (the fixture)

DAY = 24 * 60


async def test_a_complaint_filed_for_a_household_is_answered_and_resolved(api, client, browser):  # noqa: F811
    station = await make_station(name="新威社区驿站")
    worker = await make_worker(client, station)
    resident, household = await make_resident(client, station, name="王秀英")
    need = await make_need(client, resident, description="独居老人,家里需要打扫")

    w = await Watched.open(browser)
    page = w.page
    await page.goto(f"{api.url}/console/dev-login?code=fake:{worker.openid}")
    await page.goto(f"{api.url}/console/households/{household['id']}")
    panel = page.locator("#complaints")
    await panel.get_by_text("暂无投诉").wait_for()
    await panel.get_by_label("投诉对象").select_option(label="服务")
    await panel.get_by_label("对象编号").fill(str(need["id"]))
    await panel.get_by_label("投诉内容").fill("老人电话反映:上次打扫不干净,志愿者提前离开")
    await panel.scroll_into_view_if_needed()
    await w.shot("care-1-household-complaint-form")
    await panel.get_by_role("button", name="代为投诉").click()

    await page.get_by_text("已代为提交投诉").wait_for()  # the complaint's own page
    complaint = await Complaint.get(resident_id=household["id"])
    assert page.url.endswith(f"/console/complaints/{complaint.id}?ok=filed")
    main = await page.locator("main").inner_text()
    assert "待答复" in main and "工作人员代为投诉" in main and "王**" in main and f"需求 {need['id']}" in main
    await w.shot("care-2-complaint-filed")

    await page.get_by_role("navigation").get_by_role("link", name="投诉", exact=True).click()
    await page.wait_for_url(f"{api.url}/console/complaints")
    row = page.locator(f"#complaint-{complaint.id}")
    assert "待答复" in await row.inner_text()
    await w.shot("care-3-complaints")
    await row.get_by_role("link", name=str(complaint.id), exact=True).click()

    await page.get_by_label("答复内容").fill("已联系志愿者核实,明天重新上门打扫,向老人致歉")
    await page.get_by_role("button", name="答复").click()
    await page.get_by_text("已答复。投诉人认可后即为已解决").wait_for()
    assert "明天重新上门打扫" in await page.locator("#history").inner_text()
    await w.shot("care-4-complaint-answered")

    # The household's part, on the phone: it accepts the answer.
    r = await client.post(f"/api/v1/complaints/{complaint.id}/accept", headers=resident.headers)
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text

    await page.get_by_role("navigation").get_by_role("link", name="投诉", exact=True).click()
    row = page.locator(f"#complaint-{complaint.id}")
    await row.get_by_text("已解决").wait_for()
    assert "已逾期" not in await row.inner_text()
    await w.shot("care-5-complaints-resolved")
    w.clean()


async def test_an_overdue_reassessment_is_found_and_its_visit_opened(api, client, browser):  # noqa: F811
    station = await make_station(name="鲸园驿站")
    worker = await make_worker(client, station)
    _, hard = await make_resident(client, station, name="李桂兰")
    _, mild = await make_resident(client, station, name="张建国")
    _, never = await make_resident(client, station, name="刘淑珍")
    await assess(client, worker, hard["id"], HARD)  # 特别困难: due again in 3 months
    await assess(client, worker, mild["id"], MILD)  # 较困难: in 6

    w = await Watched.open(browser)
    page = w.page
    with clock_moved(100 * DAY, api.app):  # 100 days on: the first is overdue, the second not yet due
        await page.goto(f"{api.url}/console/dev-login?code=fake:{worker.openid}")
        await page.get_by_role("navigation").get_by_role("link", name="待复评").click()
        await page.wait_for_url(f"{api.url}/console/reassessments")
        assert "已逾期 1 户" in await page.locator("h1").inner_text()
        due = page.locator("#due tbody tr")
        assert await due.count() == 1
        row = due.first
        text = await row.inner_text()
        assert "李**" in text and "特别困难" in text and "已逾期" in text
        assert "张**" not in await page.locator("#due").inner_text()  # 较困难: not due for months
        assert "刘**" in await page.locator("main").inner_text()  # never assessed
        await w.shot("care-6-reassessments-overdue")

        await row.get_by_role("link", name="入户调查").click()
        await page.wait_for_url(f"{api.url}/console/households/{hard['id']}/assess")
        assert "入户调查" in await page.locator("h1").inner_text()
        await w.shot("care-7-reassessment-visit-form")
    assert never["id"] != hard["id"]
    w.clean()
