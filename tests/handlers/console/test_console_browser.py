"""The console in a real browser (Debian's Chromium through Playwright): a worker logs in, reads
the desk and logs out, and no request leaves 127.0.0.1. Screenshots go to var/screenshots/."""

import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import async_playwright

from tests.builders import make_need, make_resident, make_station, make_worker

ROOT = Path(__file__).resolve().parents[3]
SHOTS = ROOT / "var" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
async def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: .ci/run installs it (apt-get install chromium)")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            await b.close()


async def test_a_worker_reads_the_desk_and_logs_out_with_nothing_fetched_from_outside(api, client, browser):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    await make_need(client, resident)

    page = await browser.new_page(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    elsewhere: list[str] = []
    failed: list[str] = []

    async def watch(route):
        if urlsplit(route.request.url).hostname != "127.0.0.1":
            elsewhere.append(route.request.url)
            await route.abort()
        else:
            await route.continue_()

    await page.route("**/*", watch)
    page.on("requestfailed", lambda request: failed.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    await page.goto(f"{api.url}/console/dev-login?code=fake:{worker.openid}")
    assert page.url == f"{api.url}/console/"
    await page.wait_for_load_state("networkidle")
    assert await page.locator('[data-name="needs_to_accept"]').inner_text() == "1"
    assert await page.locator("h1").first.inner_text() != ""
    assert await page.evaluate("typeof htmx") == "object"  # the pinned htmx ran under the page's CSP
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / "console-desk.png"), full_page=True)

    async with page.expect_response(lambda r: r.url.endswith("/console/logout")) as logged_out:
        await page.get_by_role("button", name="退出登录").click()
    assert (await logged_out.value).status == 204
    # htmx follows the answer's HX-Redirect: the login page, and the desk is closed to this browser.
    await page.get_by_role("heading", name="登录工作台").wait_for(timeout=10_000)
    assert page.url == f"{api.url}/console/login"
    await page.screenshot(path=str(SHOTS / "console-logged-out.png"))
    assert (await page.request.get(f"{api.url}/console/")).status == 401
    assert elsewhere == [] and failed == [], (elsewhere, failed)
    assert errors == [], errors
