"""The audit trail page in Chromium: an administrator looks up a household by its ID number and
sees who saw its full record, when and why, in words; the search is on the trail itself."""

from __future__ import annotations

from models import AuditLog
from tests.builders import make_admin, make_resident, make_station, make_worker, random_id_number
from tests.handlers.console.browsing import Watched, browser  # noqa: F401  (the fixture)
from tests.handlers.console.support import console_browser


async def test_an_administrator_finds_who_saw_a_households_record(api, client, browser):  # noqa: F811
    station = await make_station(name="鲸园驿站")
    worker = await make_worker(client, station)
    admin = await make_admin(client)
    number = random_id_number()
    _, household = await make_resident(client, station, name="孙桂兰", id_number=number)
    async with console_browser(api, worker.openid) as b:
        await b.get(f"/console/households/{household['id']}")
        r = await b.post(f"/console/households/{household['id']}/reveal", {"reason": "上门前核对住址"})
        assert r.status_code == 200, r.text

    w = await Watched.open(browser)
    page = w.page
    await page.goto(f"{api.url}/console/dev-login?code=fake:{admin.openid}")
    await page.get_by_role("link", name="审计日志").click()
    await page.get_by_label("居民身份证号或手机号").fill(number)
    await page.locator("#audit-search select[name=action]").select_option(label="查看居民完整信息")
    await page.get_by_role("button", name="查询").click()
    rows = page.locator("#audit tbody tr")
    await rows.first.wait_for()
    assert await rows.count() == 1
    text = await rows.first.inner_text()
    assert "查看居民完整信息" in text and "孙**(鲸园驿站)" in text and "事由:上门前核对住址" in text
    assert "驿站工作人员" in text and "身份证号" in text
    main = await page.locator("main").inner_text()
    assert number not in main and number not in page.url  # the number was posted, and is shown masked
    await w.shot("console-audit-trail")
    w.clean()
    searched = await AuditLog.filter(action="audit.read", actor_id=admin.id).first()
    assert searched.detail["resident_id"] == household["id"]
