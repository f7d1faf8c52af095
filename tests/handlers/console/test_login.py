"""Logging in to the console by scan: the PC's browser shows a mini-program code, a worker scans it
(here: zxing reads the stand-in's QR code, as the phone's camera would) and approves it through the
API, and the browser that showed the code, and only that one, is let in, once. And the one-time
links scripts/create_admin prints for the first administrator."""

import asyncio
import dataclasses
import re
import secrets
from contextlib import asynccontextmanager

import httpx

from models import User
from server.people import console_tickets
from tests.builders import clock_moved, make_admin, make_need, make_resident, make_station, make_volunteer, make_worker
from tests.handlers.test_platform import assert_error
from tests.handlers.console.browsing import Watched
from tests.handlers.console.browsing import browser as chromium  # noqa: F401  (the fixture)
from tests.wechat.test_standin import scan_png

HTMX = {"HX-Request": "true"}
APPROVE = "/api/v1/console/tickets/approve"
# What WeChat takes in a wxacode's scene (getwxacodeunlimit), at most 32 of them.
SCENE_CHARS = set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#$&'()*+,/:;=?@-._~")


@asynccontextmanager
async def browser(api):
    """A PC's browser: its own cookie jar."""
    async with httpx.AsyncClient(base_url=api.url, timeout=20) as c:
        yield c


async def login_page(pc) -> tuple[httpx.Response, str, str]:
    """The login page, and the URLs it polls and shows the code from."""
    r = await pc.get("/console/login")
    assert r.status_code == 200, r.text
    status_url = re.search(r'hx-get="(/console/login/status\?t=[^"]+)"', r.text).group(1)
    code_url = re.search(r'<img src="(/console/login/code\.png\?t=[^"]+)"', r.text).group(1)
    return r, status_url, code_url


async def scan(pc, code_url: str) -> str:
    """What the phone reads off the screen."""
    r = await pc.get(code_url)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png", r.text
    [scene] = scan_png(r.content)
    return scene


async def approve(client, session, scene: str) -> httpx.Response:
    return await client.post(APPROVE, json={"ticket": scene}, headers=session.headers)


def session_cookie(r: httpx.Response) -> str | None:
    return next((c for c in r.headers.get_list("set-cookie") if c.startswith("haibei_console=")), None)


async def test_a_worker_scans_the_code_and_the_browser_opens_the_desk(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    resident, _ = await make_resident(client, station)
    await make_need(client, resident)
    async with browser(api) as pc:
        page, status_url, code_url = await login_page(pc)
        assert 'hx-trigger="every 2s"' in page.text
        [nonce] = [c for c in page.headers.get_list("set-cookie") if c.startswith("haibei_console_login=")]
        assert "HttpOnly" in nonce and "SameSite=Strict" in nonce and "Path=/console" in nonce
        assert "default-src 'self'" in page.headers["content-security-policy"]

        scene = await scan(pc, code_url)
        assert scene.startswith("cl=") and len(scene) <= 32 and set(scene) <= SCENE_CHARS, scene
        assert scene.removeprefix("cl=") in status_url

        # Waiting for the phone: nothing to swap, and no session.
        r = await pc.get(status_url, headers=HTMX)
        assert r.status_code == 204 and session_cookie(r) is None
        assert (await pc.get("/console/")).status_code == 401

        r = await approve(client, worker, scene)
        assert r.status_code == 200 and r.json() == {"ok": True}, r.text

        r = await pc.get(status_url, headers=HTMX)
        assert r.status_code == 200 and r.headers["hx-redirect"] == "/console/", r.text
        cookie = session_cookie(r)
        assert cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
        r = await pc.get("/console/")
        assert r.status_code == 200 and "待受理需求" in r.text
        assert re.search(r'data-name="needs_to_accept">1<', r.text)  # the approving worker's station


async def test_a_code_lets_one_browser_in_once(api, client):
    station = await make_station()
    first, second = await make_worker(client, station), await make_worker(client, station)
    admin = await make_admin(client)
    async with browser(api) as pc:
        _, status_url, code_url = await login_page(pc)
        scene = await scan(pc, code_url)
        # Three people approve the same code at once: one of them lets the browser in.
        answers = await asyncio.gather(*(approve(client, who, scene) for who in (first, second, admin)))
        assert sorted(r.status_code for r in answers) == [200, 410, 410], [r.text for r in answers]
        for r in answers:
            if r.status_code == 410:
                assert_error(r, 410, "TICKET_USED")

        r = await pc.get(status_url, headers=HTMX)
        assert r.status_code == 200 and r.headers["hx-redirect"] == "/console/" and session_cookie(r)
        # The ticket is used up: the next poll opens nothing, and says the code is gone.
        again = await pc.get(status_url, headers=HTMX)
        assert again.status_code == 404 and session_cookie(again) is None
        assert "二维码已过期" in again.text and 'href="/console/login"' in again.text and "hx-trigger" not in again.text
        assert_error(await approve(client, first, scene), 410, "TICKET_EXPIRED")
        assert (await pc.get(code_url)).status_code == 410


async def test_only_the_browser_that_showed_the_code_gets_the_session(api, client):
    worker = await make_worker(client, await make_station())
    async with browser(api) as pc, browser(api) as stranger:
        _, status_url, code_url = await login_page(pc)
        scene = await scan(pc, code_url)
        # Someone who read the ticket off the screen or a URL: no cookie, then a nonce of their own.
        assert (await stranger.get(code_url)).status_code == 410
        assert (await approve(client, worker, scene)).status_code == 200
        for attempt in range(3):
            if attempt == 1:
                await login_page(stranger)  # their own browser nonce, for their own ticket
            if attempt == 2:
                stranger.cookies.set("haibei_console_login", secrets.token_urlsafe(32), path="/console")
            for headers in (HTMX, {}):
                r = await stranger.get(status_url, headers=headers)
                assert r.status_code == 404 and session_cookie(r) is None, (attempt, r.text)
                assert "二维码已过期" in r.text
        assert (await stranger.get("/console/")).status_code == 401
        # The stranger's polls took nothing from the browser the code was for.
        r = await pc.get(status_url, headers=HTMX)
        assert r.status_code == 200 and r.headers["hx-redirect"] == "/console/" and session_cookie(r)


async def test_a_code_expires_after_two_minutes(api, client):
    worker = await make_worker(client, await make_station())
    async with browser(api) as pc:
        _, status_url, code_url = await login_page(pc)
        scene = await scan(pc, code_url)
        with clock_moved(121 / 60, api.app):
            assert_error(await approve(client, worker, scene), 410, "TICKET_EXPIRED")
            assert (await pc.get(code_url)).status_code == 410
            r = await pc.get(status_url, headers=HTMX)
        assert r.status_code == 404 and session_cookie(r) is None
        assert "二维码已过期" in r.text and "hx-trigger" not in r.text and 'href="/console/login"' in r.text
        # Gone for good, the clock back or not.
        assert (await pc.get(status_url, headers=HTMX)).status_code == 404

        # Approved at its last second, the browser's next poll still gets in.
        _, status_url, code_url = await login_page(pc)
        scene = await scan(pc, code_url)
        with clock_moved(119 / 60, api.app):
            assert (await approve(client, worker, scene)).status_code == 200
        with clock_moved(125 / 60, api.app):
            r = await pc.get(status_url, headers=HTMX)
        assert r.status_code == 200 and r.headers["hx-redirect"] == "/console/" and session_cookie(r)


async def test_without_javascript_the_page_link_checks_the_status(api, client):
    worker = await make_worker(client, await make_station())
    async with browser(api) as pc:
        _, status_url, code_url = await login_page(pc)
        r = await pc.get(status_url)
        assert r.status_code == 200 and "等待确认" in r.text and session_cookie(r) is None
        assert (await approve(client, worker, await scan(pc, code_url))).status_code == 200
        r = await pc.get(status_url)
        assert r.status_code == 303 and r.headers["location"] == "/console/" and session_cookie(r)
        assert (await pc.get("/console/")).status_code == 200


async def test_only_workers_and_administrators_may_approve(api, client):
    station = await make_station()
    worker = await make_worker(client, station)
    volunteer, _ = await make_volunteer(client, station, approved_by=worker)
    resident, _ = await make_resident(client, station)
    admin = await make_admin(client)
    async with browser(api) as pc:
        _, status_url, code_url = await login_page(pc)
        scene = await scan(pc, code_url)
        for who in (volunteer, resident):
            err = assert_error(await approve(client, who, scene), 403, "FORBIDDEN")
            assert "驿站工作人员和管理员" in err["message"]
        assert_error(await client.post(APPROVE, json={"ticket": scene}), 401, "UNAUTHENTICATED")
        assert (await pc.get(status_url, headers=HTMX)).status_code == 204  # still waiting
        # An administrator may: the browser opens the console as them (statistics, not a desk).
        assert (await approve(client, admin, scene)).status_code == 200
        r = await pc.get(status_url, headers=HTMX)
        assert r.status_code == 200 and session_cookie(r)
        r = await pc.get("/console/")
        assert r.status_code == 302 and r.headers["location"] == "/console/stats"


async def test_what_is_no_ticket_is_refused(client):
    worker = await make_worker(client, await make_station())
    assert_error(await approve(client, worker, "cl=" + "A" * 28), 410, "TICKET_EXPIRED")
    for bad in ("h1.0123456789abcdef", "cl=" + "A" * 29, "cl=<script>" + "A" * 17, ""):
        assert_error(await approve(client, worker, bad), 400, "VALIDATION_ERROR")
    assert_error(await client.post(APPROVE, json={"ticket": "cl=" + "A" * 28, "user_id": 1}, headers=worker.headers),
                 400, "VALIDATION_ERROR")


async def test_the_page_runs_under_the_csp_and_shows_the_demo_door_only_when_embedded(api, client):
    async with browser(api) as pc:
        page, _, _ = await login_page(pc)
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), "an inline script"
    assert not re.search(r"<style|\sstyle=|\son[a-z]+=", page.text), "an inline style or handler"
    for ref in re.findall(r'(?:src|href|action)="([^"]+)"', page.text):
        assert ref.startswith(("/console/", "#")), ref
    assert 'href="/console/dev-login?code=fake:demo-worker-1"' in page.text

    embedded = api.app.ctx.settings
    api.app.ctx.settings = dataclasses.replace(embedded, mode="production")
    try:
        async with browser(api) as pc:
            r = await pc.get("/console/login")
    finally:
        api.app.ctx.settings = embedded
    assert r.status_code == 200 and "dev-login" not in r.text and "演示" not in r.text
    [nonce] = [c for c in r.headers.get_list("set-cookie") if c.startswith("haibei_console_login=")]
    assert "Secure" in nonce


async def test_in_a_real_browser_the_page_polls_and_opens_the_desk_once_approved(api, client, chromium):  # noqa: F811
    worker = await make_worker(client, await make_station())
    w = await Watched.open(chromium)
    page = w.page

    await page.goto(f"{api.url}/console/login")
    code = page.get_by_role("img", name="登录用小程序码")
    await code.wait_for()
    assert await code.evaluate("img => img.complete && img.naturalWidth > 0")
    # The phone reads the code the page shows (fetched with the page's cookies, as the <img> was).
    shown = await page.request.get(api.url + await code.get_attribute("src"))
    [scene] = scan_png(await shown.body())
    assert (await approve(client, worker, scene)).status_code == 200
    # The next poll (every 2 s) opens the session and htmx follows HX-Redirect to the desk.
    await w.shot("console-login-code")
    await page.wait_for_url(f"{api.url}/console/", timeout=10_000)
    await page.get_by_text("待受理需求").wait_for()
    await w.shot("console-login-scanned-desk")

    # A code left on the screen past its two minutes: the poll swaps in the notice, and stops.
    await page.goto(f"{api.url}/console/login")
    with clock_moved(3, api.app):
        await page.get_by_text("二维码已过期").wait_for(timeout=10_000)
    # htmx polls from the element it swapped out: none is left to poll.
    assert await page.locator("[hx-trigger]").count() == 0
    assert await page.get_by_role("img", name="登录用小程序码").count() == 0
    assert await page.get_by_role("link", name="重新获取二维码").count() == 1
    await w.shot("console-login-expired")
    # The only error the browser reports is the expired ticket's own status, 404: none from the CSP;
    # nothing was fetched from outside 127.0.0.1.
    w.clean(allowed_statuses=(404,))


# --- one-time links (scripts/create_admin) ----------------------------------------------------


async def issue_link(api, session) -> str:
    user = await User.get(id=session.id)
    return await console_tickets.issue_link(redis=api.app.ctx.redis.aio, prefix=api.settings.redis_prefix, user=user,
                                            now=api.app.ctx.clock())


async def test_a_login_link_works_once_and_only_by_its_button(api, client):
    admin = await make_admin(client)
    token = await issue_link(api, admin)
    url = f"/console/login/link?token={token}"
    async with browser(api) as pc:
        # Opening it (as a chat app's link preview would) spends nothing.
        for _ in range(2):
            r = await pc.get(url)
            assert r.status_code == 200 and session_cookie(r) is None
            assert f'action="/console/login/link?token={token}"' in r.text and "登录工作台" in r.text
        assert (await pc.get("/console/")).status_code == 401
        r = await pc.post(url)
        assert r.status_code == 303 and r.headers["location"] == "/console/" and session_cookie(r)
        r = await pc.get("/console/")
        assert r.status_code == 302 and r.headers["location"] == "/console/stats"  # an administrator's start
    async with browser(api) as other:
        for method in ("GET", "POST"):
            r = await other.request(method, url)
            assert r.status_code == 410 and "链接已失效" in r.text and session_cookie(r) is None


async def test_a_login_link_expires_after_a_day_and_with_the_account(api, client):
    worker = await make_worker(client, await make_station())
    token = await issue_link(api, worker)
    async with browser(api) as pc:
        with clock_moved(24 * 60 + 1, api.app):
            assert (await pc.get(f"/console/login/link?token={token}")).status_code == 410
            r = await pc.post(f"/console/login/link?token={token}")
        assert r.status_code == 410 and session_cookie(r) is None
        # Closing the account voids the links it had.
        token = await issue_link(api, worker)
        assert (await client.request("DELETE", "/api/v1/me", headers=worker.headers)).status_code in (200, 204)
        r = await pc.post(f"/console/login/link?token={token}")
        assert r.status_code == 410 and session_cookie(r) is None
        for junk in ("", "x", "A" * 43):
            assert (await pc.post(f"/console/login/link?token={junk}")).status_code == 410
