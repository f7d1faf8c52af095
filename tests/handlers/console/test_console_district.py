"""A district administrator (区市民政) in Chromium: their own stations and staff only, their
district's standards of the catalogue set on one page — a service switched off and its points
raised — and the station's report form then offering only what the district offers."""

from __future__ import annotations

from models import DistrictService
from tests.builders import grant, login, make_district, make_resident, make_station, make_worker, new_openid
from tests.handlers.console.browsing import Watched, browser  # noqa: F401  (the fixture)


async def test_a_district_keeps_its_own_catalogue_standards(api, client, browser):  # noqa: F811
    mine, theirs = await make_district(name="环翠区"), await make_district(name="文登区")
    here = await make_station(district=mine, name="鲸园驿站")
    await make_station(district=theirs, name="龙山驿站")
    district = await grant(await login(client, new_openid("district")), "district_admin", district_id=mine.id)
    worker = await make_worker(client, here)
    _, household = await make_resident(client, here)

    w = await Watched.open(browser)
    page = w.page
    await page.goto(f"{api.url}/console/dev-login?code=fake:{district.openid}")
    nav = await page.get_by_role("navigation", name="主导航").inner_text()
    assert "本区服务标准" in nav and "积分规则" not in nav and "服务目录" not in nav and "信用威海" not in nav
    assert "区市管理员" in await page.locator(".who").inner_text()

    await page.get_by_role("link", name="驿站", exact=True).click()
    listed = await page.locator("main").inner_text()
    assert "鲸园驿站" in listed and "龙山驿站" not in listed and "文登区" not in listed and "添加区市" not in listed

    await page.get_by_role("link", name="本区服务标准").click()
    await page.get_by_role("heading", name="本区服务标准(环翠区)").wait_for()
    await page.get_by_label("居室保洁本区市开展").uncheck()
    await page.get_by_role("button", name="保存居室保洁").click()
    await page.get_by_text("已保存「居室保洁」:本区市不开展").wait_for()
    await page.get_by_label("代购代办本区市每小时积分").fill("abc")
    await page.get_by_role("button", name="保存代购代办").click()
    await page.get_by_text("请填写整数").wait_for()
    assert not await DistrictService.exists(district_id=mine.id, service_id="LIVING_SHOP")
    await page.get_by_label("代购代办本区市每小时积分").fill("15")
    await page.get_by_label("代购代办本区市服务标准说明").fill("代购每次不超过两小时,票据当面交给居民")
    await page.get_by_role("button", name="保存代购代办").click()
    await page.get_by_text("已保存「代购代办」:开展,每小时 15 积分,使用本区市服务标准说明").wait_for()
    table = await page.locator("main table.list").inner_text()
    assert "不开展" in table and "CLEAN_HOME" not in table
    await w.shot("console-district-services")
    standard = await DistrictService.get(district_id=mine.id, service_id="LIVING_SHOP")
    assert standard.points_per_hour == 15 and standard.updated_by == district.id
    assert not (await DistrictService.get(district_id=mine.id, service_id="CLEAN_HOME")).offered

    # The station's own form now offers only what its district offers.
    w2 = await Watched.open(browser)
    await w2.page.goto(f"{api.url}/console/dev-login?code=fake:{worker.openid}")
    await w2.page.goto(f"{api.url}/console/households/{household['id']}/report")
    options = await w2.page.locator("select[name=service_code]").inner_text()
    assert "代购代办" in options and "居室保洁" not in options
    w.clean(allowed_statuses=(422,))
    w2.clean()
