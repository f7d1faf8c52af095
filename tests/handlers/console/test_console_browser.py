"""The console in a real browser (Debian's Chromium through Playwright): a worker logs in, reads
the desk and logs out, and no request leaves 127.0.0.1. Screenshots go to var/screenshots/."""

from tests.builders import make_need, make_resident, make_station, make_worker
from tests.handlers.console.browsing import Watched, browser  # noqa: F401  (the fixture)


async def test_a_worker_reads_the_desk_and_logs_out_with_nothing_fetched_from_outside(api, client, browser):  # noqa: F811
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    await make_need(client, resident)

    w = await Watched.open(browser, width=1280, height=800)
    page = w.page
    await page.goto(f"{api.url}/console/dev-login?code=fake:{worker.openid}")
    assert page.url == f"{api.url}/console/"
    await page.wait_for_load_state("networkidle")
    assert await page.locator('[data-name="needs_to_accept"]').inner_text() == "1"
    assert await page.locator("h1").first.inner_text() != ""
    assert await page.evaluate("typeof htmx") == "object"  # the pinned htmx ran under the page's CSP
    await w.shot("console-desk")

    async with page.expect_response(lambda r: r.url.endswith("/console/logout")) as logged_out:
        await page.get_by_role("button", name="退出登录").click()
    assert (await logged_out.value).status == 204
    # htmx follows the answer's HX-Redirect: the login page, and the desk is closed to this browser.
    await page.get_by_role("heading", name="登录工作台").wait_for(timeout=10_000)
    assert page.url == f"{api.url}/console/login"
    await w.shot("console-logged-out")
    assert (await page.request.get(f"{api.url}/console/")).status == 401
    w.clean()
