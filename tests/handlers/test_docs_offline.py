"""/docs on an intranet PC without internet: the Swagger UI page and everything it loads come from
this server, and nothing in it reaches out (no CDN, no online validator)."""

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import swagger_ui_bundle

from tests.handlers.test_platform import assert_error

TYPES = {".css": "text/css", ".js": "text/javascript", ".png": "image/png", ".json": "application/json"}
OFFSITE = re.compile(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", re.IGNORECASE)


class Page(HTMLParser):
    """Every src and href of a page, and the text of its script and style elements."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.inline: list[str] = []  # script or style text, and style attributes
        self._open: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [v for k, v in attrs.items() if k in ("src", "href") and v is not None]
        if tag == "script":
            self.scripts.append(attrs)
        if "style" in attrs or any(k.startswith("on") for k in attrs):
            self.inline.append(f"<{tag}> attribute")
        self._open = tag if tag in ("script", "style") else None

    def handle_data(self, data):
        if self._open and data.strip():
            self.inline.append(data)

    def handle_endtag(self, tag):
        self._open = None


def content_type(path: str) -> str:
    return next(kind for ext, kind in TYPES.items() if path.endswith(ext))


async def test_the_docs_page_and_all_it_loads_come_from_this_server(client):
    r = await client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "no-cache" in r.headers["cache-control"]
    html = r.text
    assert not OFFSITE.search(html), OFFSITE.search(html)
    page = Page()
    page.feed(html)
    # No inline script or style: the page runs under a Content-Security-Policy of 'self'.
    assert page.inline == []
    assert all(urlsplit(link).scheme == "" and urlsplit(link).netloc == "" for link in page.links), page.links
    paths = {urlsplit(link).path for link in page.links}
    assert {"/docs/ui/swagger-ui.css", "/docs/ui/swagger-ui-bundle.js", "/docs/ui/swagger-ui-standalone-preset.js",
            "/docs/ui/docs-init.js", "/docs/openapi.json"} <= paths

    for link in page.links:
        r = await client.get(link)
        path = urlsplit(link).path
        assert r.status_code == 200, link
        assert r.headers["content-type"].split(";")[0] == content_type(path), (link, r.headers["content-type"])
        if path.startswith("/docs/ui/"):
            # Asked for by version, so cached for good; a new version comes with a new page.
            assert "immutable" in r.headers["cache-control"] and "max-age=31536000" in r.headers["cache-control"]
            assert r.headers["x-content-type-options"] == "nosniff"
        name = path.rsplit("/", 1)[-1]
        if (swagger_ui_bundle.swagger_ui_path / name).is_file():
            assert r.content == (swagger_ui_bundle.swagger_ui_path / name).read_bytes(), name

    # The initializer is ours: it names no address of its own, turns the online validator off and
    # loads the spec the page names, the one the contract test reads.
    [init] = [s for s in page.scripts if urlsplit(s["src"]).path == "/docs/ui/docs-init.js"]
    assert init["data-spec"] == "/docs/openapi.json"
    script = (await client.get(init["src"])).text
    assert not OFFSITE.search(script), OFFSITE.search(script)
    assert "validatorUrl: null" in script and "data-spec" in script
    spec = (await client.get(init["data-spec"])).json()
    assert spec["openapi"].startswith("3.0") and spec["paths"]


async def test_docs_files_are_only_the_pages_own_and_are_revalidated_unless_versioned(client):
    r = await client.get("/docs/ui/swagger-ui.css")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-cache" and r.headers["last-modified"]
    again = await client.get("/docs/ui/swagger-ui.css", headers={"If-Modified-Since": r.headers["last-modified"]})
    assert again.status_code == 304 and again.content == b""
    assert "immutable" not in (await client.get("/docs/ui/swagger-ui.css?v=old")).headers["cache-control"]
    # The bundle's own initializer (it opens the petstore online), its demo page, source maps and
    # anything outside the folder are not served.
    for name in ("swagger-initializer.js", "index.html", "oauth2-redirect.html", "swagger-ui-bundle.js.map",
                 "..%2F..%2Fpyproject.toml", "..%2Fopenapi.py"):
        assert_error(await client.get(f"/docs/ui/{name}"), 404, "NOT_FOUND")


async def test_the_docs_routes_are_not_part_of_the_api_document(client):
    spec = (await client.get("/docs/openapi.json")).json()
    assert not [path for path in spec["paths"] if path.startswith("/docs")]


async def test_the_oauth2_redirect_page_is_the_bundles_not_fetched_from_a_cdn(client):
    """sanic-ext would fetch this page from jsDelivr, from the server, on first request."""
    from server.openapi import SWAGGER_UI

    r = await client.get("/docs/oauth2-redirect.html")
    assert r.status_code == 200, r.text
    assert r.text == (SWAGGER_UI / "oauth2-redirect.html").read_text("utf-8")
