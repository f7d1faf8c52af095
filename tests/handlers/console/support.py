"""A browser of the console, over HTTP: its own cookie jar, logged in through the demo door, and
posting as htmx does (the page's CSRF token in ``X-CSRF-Token``, ``HX-Request: true``)."""

from __future__ import annotations

import re
from urllib.parse import urlencode
from contextlib import asynccontextmanager

import httpx


class Browser:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.csrf: str | None = None

    async def get(self, path: str, **kwargs) -> httpx.Response:
        r = await self.client.get(path, **kwargs)
        found = re.search(r'<meta name="csrf-token" content="([^"]+)">', r.text)
        if found:
            self.csrf = found.group(1)
        return r

    async def post(self, path: str, data: dict | list | None = None, *, csrf: bool = True) -> httpx.Response:
        if csrf and self.csrf is None:
            await self.get("/console/")
        headers = {"HX-Request": "true"}
        if csrf:
            headers["X-CSRF-Token"] = self.csrf or ""
        # Repeated fields (ticked boxes) as a browser sends them: name=a&name=b.
        pairs = data if isinstance(data, list) else list((data or {}).items())
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return await self.client.post(path, content=urlencode(pairs), headers=headers)


@asynccontextmanager
async def console_browser(api, openid: str):
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as c:
        r = await c.get("/console/dev-login", params={"code": f"fake:{openid}"})
        assert r.status_code == 302, r.text
        yield Browser(c)


def text_of(page: str) -> str:
    """The page's visible text, roughly: tags dropped, whitespace folded."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
