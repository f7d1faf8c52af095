"""A volunteer-hours certificate from the staff console, in Chromium: the station's worker opens a
volunteer's page and issues the PDF (the API's same access and certificate); its text names the
volunteer, the station and the hours, and its code verifies publicly with a masked name."""

from __future__ import annotations

from models import HoursCertificate
from tests.builders import make_need, make_resident, make_station, make_volunteer, make_worker
from tests.handlers.care.test_stats import deliver
from tests.handlers.console.browsing import Watched, browser  # noqa: F401  (the fixture)
from tests.handlers.points.test_credit_handoff import pdf_text


async def test_a_worker_issues_a_volunteers_hours_certificate(api, client, browser):  # noqa: F811
    station = await make_station(name="鲸园街道海贝驿站")
    worker = await make_worker(client, station)
    volunteer, profile = await make_volunteer(client, station, approved_by=worker, name="吴晓梅")
    resident, _ = await make_resident(client, station)
    await deliver(client, worker, volunteer, await make_need(client, resident), 45)

    w = await Watched.open(browser)
    page = w.page
    await page.goto(f"{api.url}/console/dev-login?code=fake:{worker.openid}")
    await page.goto(f"{api.url}/console/volunteers/{profile['id']}")
    shown = await page.locator("main").inner_text()
    assert "居室保洁" in shown and "CLEAN_HOME" not in shown  # skills by name
    link = page.get_by_role("link", name="开具志愿服务时长证明(PDF)")
    got = await page.request.get(f"{api.url}{await link.get_attribute('href')}")  # a click would be a download
    assert got.status == 200 and got.headers["content-type"] == "application/pdf"
    text = pdf_text(await got.body())
    [certificate] = await HoursCertificate.filter(volunteer_id=profile["id"])
    for words in ("志愿服务时长证明", "吴晓梅", "鲸园街道海贝驿站", f"验证码:{certificate.code}"):
        assert words in text, (words, text)
    await w.shot("console-volunteer-certificate")
    w.clean()

    checked = await client.get(f"/api/v1/certificates/{certificate.code}")
    assert checked.status_code == 200 and checked.json()["name"] == "吴**"
    other = await make_worker(client, await make_station())
    r = await client.get(f"/api/v1/volunteers/{profile['id']}/hours-certificate", headers=other.headers)
    assert r.status_code == 404
