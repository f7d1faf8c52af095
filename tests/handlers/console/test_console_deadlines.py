"""The supervision page (督办) in Chromium: a need left unaccepted appears, once the deadline job
has reminded the station, as still waiting; the worker follows it to the need, accepts it, and it
reads as dealt with; a need left longer appears to the administrator as escalated, with its station."""

from __future__ import annotations

from server.ops import jobs
from tests.builders import clock_moved, make_admin, make_need, make_resident, make_station, make_worker
from tests.handlers.console.browsing import Watched, browser  # noqa: F401  (the fixture)


async def test_late_needs_on_the_supervision_page(api, client, browser):  # noqa: F811
    station = await make_station(name="古寨驿站")
    worker = await make_worker(client, station)
    admin = await make_admin(client)
    resident, _ = await make_resident(client, station)
    late = await make_need(client, resident)
    later = await make_need(client, (await make_resident(client, station))[0], service_code="LIVING_MEAL")
    with clock_moved(25 * 60, api.app):
        assert (await jobs.run_all(settings=api.settings, now=api.app.ctx.clock()))["deadline_notices"] == 2

    w = await Watched.open(browser)
    page = w.page
    await page.goto(f"{api.url}/console/dev-login?code=fake:{worker.openid}")
    await page.get_by_role("link", name="督办").click()
    rows = page.locator("#deadlines tbody tr")
    assert await rows.count() == 2
    first = rows.filter(has=page.get_by_role("link", name=f"需求 {late['id']}", exact=True))
    assert "需求受理超时" in await first.inner_text() and "已提醒" in await first.inner_text()
    assert "仍未处理" in await first.inner_text()
    await w.shot("console-deadlines-1-worker")
    await first.get_by_role("link", name=f"需求 {late['id']}").click()
    # The timeline says who was told and why.
    await page.get_by_text("督办:需求等待受理已超过1天,已提醒驿站").wait_for()
    await page.get_by_role("button", name="受理").click()
    await page.get_by_text("已受理。下一步").wait_for()
    await page.get_by_role("link", name="督办").click()
    done = rows.filter(has=page.get_by_role("link", name=f"需求 {late['id']}", exact=True))
    assert "已处理" in await done.inner_text()
    main = await page.locator("main").inner_text()
    assert "need_accept" not in main and "remind" not in main
    w.clean()

    with clock_moved(49 * 60, api.app):
        assert (await jobs.run_all(settings=api.settings, now=api.app.ctx.clock()))["deadline_notices"] == 1
    a = await Watched.open(browser)
    await a.page.goto(f"{api.url}/console/dev-login?code=fake:{admin.openid}")
    await a.page.get_by_role("link", name="督办").click()
    await a.page.locator('select[name="stage"]').select_option("escalate")
    await a.page.get_by_role("button", name="筛选").click()
    await a.page.wait_for_url("**/console/deadlines?*stage=escalate*")
    only = a.page.locator("#deadlines tbody tr")
    assert await only.count() == 1
    text = await only.inner_text()
    assert f"需求 {later['id']}" in text and "古寨驿站" in text and "已上报区县" in text and "仍未处理" in text
    await a.shot("console-deadlines-2-admin")
    a.clean()
