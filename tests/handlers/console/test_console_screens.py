"""The console's drawn screens in Chromium: a district's statistics with every chart on its canvas,
a household's assessment radar, an admin setting up a station and its worker who then opens the
desk. Screenshots under var/screenshots/; no script error; no request leaves 127.0.0.1."""

from __future__ import annotations

from tests.builders import (
    login, make_admin, make_district, make_need, make_resident, make_station, make_volunteer, make_worker,
    new_openid,
)
from tests.handlers.care.test_assessments import HARD, assess
from tests.handlers.care.test_stats import deliver
from tests.handlers.console.browsing import Watched, browser  # noqa: F401  (the fixture)

# How many pixels of a chart's canvas are drawn (not transparent): ECharts draws on a <canvas>.
DRAWN = """el => {
  const canvas = el.querySelector('canvas');
  if (!canvas) return 0;
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
  return n;
}"""


async def charts_drawn(page) -> dict[str, int]:
    out = {}
    for chart in await page.locator(".chart").all():
        out[await chart.get_attribute("id")] = await chart.evaluate(DRAWN)
    return out


async def test_a_districts_dashboard_draws_every_chart(api, client, browser):  # noqa: F811
    district = await make_district(name="环翠区")
    stations = [await make_station(district, name=name) for name in ("鲸园驿站", "竹岛驿站")]
    for station, minutes in zip(stations, (30, 45)):
        worker = await make_worker(client, station)
        volunteer, _ = await make_volunteer(client, station, approved_by=worker)
        resident, _ = await make_resident(client, station)
        need = await make_need(client, resident)
        await deliver(client, worker, volunteer, need, minutes)
    admin = await make_admin(client)

    w = await Watched.open(browser)
    await w.page.goto(f"{api.url}/console/dev-login?code=fake:{admin.openid}")
    await w.page.goto(f"{api.url}/console/stats?scope=district&id={district.id}")
    await w.page.wait_for_load_state("networkidle")
    drawn = await charts_drawn(w.page)
    assert "chart-stations" in drawn and len(drawn) >= 5, drawn
    assert all(n > 500 for n in drawn.values()), drawn  # every canvas has its chart on it
    text = await w.page.locator("main").inner_text()
    assert "鲸园驿站" in text and "竹岛驿站" in text
    await w.shot("console-7-district-dashboard")
    w.clean()


async def test_a_households_assessment_is_drawn_as_a_radar(api, client, browser):  # noqa: F811
    station = await make_station()
    worker = await make_worker(client, station)
    _, household = await make_resident(client, station)
    await assess(client, worker, household["id"], HARD)

    w = await Watched.open(browser)
    await w.page.goto(f"{api.url}/console/dev-login?code=fake:{worker.openid}")
    await w.page.goto(f"{api.url}/console/households/{household['id']}")
    await w.page.wait_for_load_state("networkidle")
    drawn = await charts_drawn(w.page)
    assert drawn.get("chart-radar", 0) > 500, drawn
    assert "特别困难" in await w.page.locator("main").inner_text()
    await w.shot("console-8-household-radar")
    w.clean()


async def test_an_admin_sets_up_a_station_and_its_worker(api, client, browser):  # noqa: F811
    district = await make_district(name="文登区")
    admin = await make_admin(client)
    newcomer = await login(client, new_openid("staff"))  # has opened the mini-program once: a user id

    w = await Watched.open(browser)
    page = w.page
    await page.goto(f"{api.url}/console/dev-login?code=fake:{admin.openid}")
    await page.goto(f"{api.url}/console/admin/stations")
    await page.get_by_label("所属区市").select_option(label="文登区")
    await page.get_by_label("驿站名称").fill("龙山驿站")
    await page.get_by_label("街道/镇").fill("龙山街道")
    await page.get_by_label("地址", exact=True).fill("龙山路8号")
    await page.get_by_role("button", name="添加驿站").click()
    await page.get_by_text("已添加驿站「龙山驿站」").wait_for()
    await w.shot("console-9-admin-station")

    await page.goto(f"{api.url}/console/admin/staff")
    await page.locator("#appoint-user_id").fill(str(newcomer.id))
    await page.locator("#appoint-role").select_option(label="驿站工作人员")
    await page.locator("#appoint-station_id").select_option(label="龙山驿站")
    await page.get_by_role("button", name="任命").click()
    await page.get_by_text(f"已任命用户 {newcomer.id} 为驿站工作人员(龙山驿站)").wait_for()
    await w.shot("console-10-admin-staff")
    w.clean()

    # The new worker's own browser: the desk opens, on their station.
    mine = await Watched.open(browser)
    await mine.page.goto(f"{api.url}/console/dev-login?code=fake:{newcomer.openid}")
    assert mine.page.url == f"{api.url}/console/"
    assert await mine.page.locator('[data-name="needs_to_accept"]').inner_text() == "0"
    mine.clean()
    assert district.id  # the station went into the district chosen by name


async def test_a_worker_gets_from_the_desk_to_a_need_by_keyboard_alone(api, client, browser):  # noqa: F811
    station = await make_station()
    worker = await make_worker(client, station)
    need = await make_need(client, (await make_resident(client, station))[0])
    w = await Watched.open(browser)
    page = w.page
    await page.goto(f"{api.url}/console/dev-login?code=fake:{worker.openid}")
    await page.keyboard.press("Tab")  # the first stop: "跳到正文", past the bar
    assert await page.evaluate("document.activeElement.textContent") == "跳到正文"
    await page.keyboard.press("Enter")
    await page.keyboard.press("Tab")  # the first tile of the desk
    assert "待受理需求" in await page.evaluate("document.activeElement.textContent")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{api.url}/console/needs?status=submitted")
    for _ in range(30):  # on through the filters to the need's link
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.getAttribute('href')") == f"/console/needs/{need['id']}":
            break
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{api.url}/console/needs/{need['id']}")
    # Focus is visible where it is (the stylesheet's :focus-visible outline).
    await page.keyboard.press("Tab")
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    w.clean()


async def test_a_worker_ends_a_households_assistance_and_brings_it_back(api, client, browser):  # noqa: F811
    from models import Need, ResidentProfile

    station = await make_station()
    worker = await make_worker(client, station)
    resident, household = await make_resident(client, station)
    need = await make_need(client, resident)
    w = await Watched.open(browser)
    page = w.page
    await page.goto(f"{api.url}/console/dev-login?code=fake:{worker.openid}")
    await page.goto(f"{api.url}/console/households/{household['id']}")
    await page.locator("#f-exit-reason").select_option(label="其他")
    await page.get_by_role("button", name="结束救助").click()
    await page.get_by_text("选择“其他”时请填写说明").wait_for()  # the schema's own rule, beside the form
    assert (await ResidentProfile.get(id=household["id"])).status == "active"
    await page.locator("#f-exit-reason").select_option(label="迁出本辖区")
    await page.locator("#f-exit-note").fill("随子女迁往青岛")
    await page.get_by_role("button", name="结束救助").click()
    await page.locator("#exited").wait_for()
    assert "迁出本辖区" in await page.locator("#exited").inner_text()
    assert (await Need.get(id=need["id"])).status == "cancelled"
    await w.shot("console-11-household-exited")
    await page.goto(f"{api.url}/console/households/exited")
    assert "随子女迁往青岛" in await page.locator("main").inner_text()
    await page.goto(f"{api.url}/console/households/{household['id']}")
    await page.get_by_role("button", name="恢复救助").click()
    await page.locator("#leave").wait_for()
    assert (await ResidentProfile.get(id=household["id"])).status == "active"
    w.clean(allowed_statuses=(422,))  # the refused form's own answer
