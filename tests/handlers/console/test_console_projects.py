"""A purchased-service project in Chromium, as a bureau officer handles it: the provider's own
work counted (a stranger's service not), 立项 with targets, an advance paid, the targets compared,
acceptance refused while one is missed, the 验收 ledger downloaded."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from models import Project
from tests.builders import grant, make_admin, make_station, make_volunteer, make_worker
from tests.handlers.care.test_projects import qualified_organization, serve
from tests.handlers.console.browsing import Watched, browser  # noqa: F401  (the fixture)


async def test_an_officer_takes_a_project_through_its_targets_and_payments(api, client, browser):  # noqa: F811
    admin = await make_admin(client)
    station = await make_station(name="鲸园驿站")
    worker = await make_worker(client, station)
    org = await qualified_organization(name="鲸园社工服务中心")
    member, _ = await make_volunteer(client, station, approved_by=worker)
    await grant(member, "org_staff", organization_id=org.id)
    stranger, _ = await make_volunteer(client, station, approved_by=worker)
    now = datetime.now(timezone.utc)
    project = await Project.create(name="鲸园街道居家清洁服务项目", organization_id=org.id, budget_fen=5_000_000,
                                   created_by=admin.id, starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=30),
                                   services=["CLEAN_HOME"], station_ids=[station.id])
    await serve(client, worker, member, station, 40, 5)
    await serve(client, worker, stranger, station, 60, 5)  # not the provider's: not counted

    w = await Watched.open(browser)
    page = w.page
    await page.goto(f"{api.url}/console/dev-login?code=fake:{admin.openid}")
    other = await qualified_organization(name="别处社工机构")
    await Project.create(name="别处项目", organization_id=other.id, budget_fen=100, created_by=admin.id,
                         starts_at=now, ends_at=now + timedelta(days=30), services=["CLEAN_HOME"],
                         station_ids=[(await make_station(name="竹岛驿站")).id])
    await page.get_by_role("link", name="购买服务").click()
    # The list filters by station: only this station's project is left.
    await page.locator("#project-filters select[name=station_id]").select_option(label="鲸园驿站")
    await page.locator("#project-filters").get_by_role("button", name="筛选").click()
    await page.wait_for_url(f"**/console/admin/projects?*station_id={station.id}*")
    listed = await page.locator("main table.list").first.inner_text()
    assert "鲸园街道居家清洁服务项目" in listed and "别处项目" not in listed
    await page.get_by_role("link", name="鲸园街道居家清洁服务项目").click()
    form = page.locator("#step-approved")
    await form.get_by_label("说明").fill("区民政局审批通过")
    await form.get_by_label("完成任务(不少于)").fill("2")
    await form.get_by_label("投诉数(不多于)").fill("0")
    await form.get_by_role("button", name="立项").click()
    await page.get_by_text("已办理「立项」").wait_for()
    targets = await page.locator("#targets").inner_text()
    assert "完成任务" in targets and "≥ 2" in targets and "未达标" in targets and "达标" in targets

    pay = page.locator("#pay")
    await pay.get_by_label("金额(元)").fill("20000")
    await pay.get_by_label("说明(选填)").fill("首期预拨")
    await pay.get_by_role("button", name="登记拨付").click()
    await page.get_by_text("已登记预拨 20000.00 元").wait_for()
    assert "首期预拨" in await page.locator("#payments").inner_text()

    for step, note in (("开始实施", "服务开始"), ("申请验收", "服务期满")):
        await page.locator(f"form:has(button:text-is('{step}'))").get_by_label("说明").fill(note)
        await page.get_by_role("button", name=step, exact=True).click()
        await page.get_by_text(f"已办理「{step}」").wait_for()
    # The "确定…吗?" confirmation is accepted by the watched page (browsing.Watched).
    await page.locator("form:has(button:text-is('验收通过'))").get_by_label("说明").fill("验收")
    await page.get_by_role("button", name="验收通过", exact=True).click()
    await page.get_by_text("未达到的绩效目标:完成任务(目标 2,实际 1)").wait_for()
    shown = await page.locator("main").inner_text()
    assert "CLEAN_HOME" not in shown and "acceptance_pending" not in shown and "待验收" in shown
    await w.shot("console-project-targets")
    link = await page.get_by_role("link", name="下载项目验收台账(Excel)").get_attribute("href")
    got = await page.request.get(f"{api.url}{link}")  # with the page's session (a click would be a download)
    assert got.status == 200 and f"haibei-project-{project.id}-acceptance.xlsx" in got.headers["content-disposition"]
    assert (await Project.get(id=project.id)).status == "acceptance_pending"
    w.clean(allowed_statuses=(409,))
