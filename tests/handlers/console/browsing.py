"""A real browser for the console tests: Debian's Chromium driven by Playwright (no browser is
downloaded), every request that would leave 127.0.0.1 recorded and aborted, every script error and
failed request recorded, screenshots under var/screenshots/."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, async_playwright

ROOT = Path(__file__).resolve().parents[3]
SHOTS = ROOT / "var" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
async def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: scripts/test installs it (apt-get install chromium)")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--lang=zh-CN"])
        try:
            yield b
        finally:
            await b.close()


class Watched:
    """A page of its own browser context (its own cookies), watched."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.elsewhere: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []

    @classmethod
    async def open(cls, browser, *, width: int = 1366, height: int = 768) -> "Watched":
        context = await browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN",
                                            timezone_id="Asia/Shanghai")
        watched = cls(await context.new_page())

        async def route(r):
            if urlsplit(r.request.url).hostname != "127.0.0.1":
                watched.elsewhere.append(r.request.url)
                await r.abort()
            else:
                await r.continue_()

        await watched.page.route("**/*", route)
        watched.page.on("requestfailed", lambda request: watched.failed.append(request.url))
        watched.page.on("pageerror", lambda exc: watched.errors.append(str(exc)))
        watched.page.on("console", lambda msg: watched.errors.append(msg.text) if msg.type == "error" else None)
        watched.page.on("dialog", lambda dialog: dialog.accept())  # "确定…吗?": the worker says yes
        return watched

    async def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def clean(self, *, allowed_statuses: tuple[int, ...] = ()) -> None:
        """Nothing left 127.0.0.1, nothing failed, no script error (but the answers' own statuses
        named in ``allowed_statuses``, which the browser reports as console errors)."""
        errors = [e for e in self.errors if not any(f"status of {s}" in e for s in allowed_statuses)]
        assert self.elsewhere == [] and self.failed == [] and errors == [], (self.elsewhere, self.failed, errors)
