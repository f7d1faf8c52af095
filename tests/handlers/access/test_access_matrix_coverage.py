"""The role matrices cover every route the app serves.

Each matrix entry's path is resolved through the app's own router; every (method, route) the
router knows must be hit by at least one entry, or be listed in ``PUBLIC_BY_DESIGN`` with the
reason and the test that covers it. A new route without a matrix entry fails here.
"""

from urllib.parse import urlsplit

from sanic.exceptions import MethodNotAllowed, NotFound

from tests.handlers.access import test_access_matrix, test_access_matrix_points, test_access_matrix_workflow
from tests.handlers.console.test_console_access import console_routes

# Routes outside the role matrices, each with why and where it is proven instead.
PUBLIC_BY_DESIGN = {
    ("POST", "/api/v1/auth/wechat-login"): "anonymous by nature; tests/handlers/people/test_auth.py",
    ("GET", "/api/v1/wechat/callback"): "WeChat's server, signature-checked; tests/handlers/notifications/test_callback.py",
    ("POST", "/api/v1/wechat/callback"): "WeChat's server, signature-checked; tests/handlers/notifications/test_callback.py",
    ("GET", "/docs/openapi.json"): "the public API description",
    ("GET", "/metrics"): "operations, by token or loopback only; tests/server/test_metrics.py",
    # The staff console signs in with a session cookie, not a bearer token: every page behind the
    # session is walked by tests/handlers/console/test_console_access.py (read from the router, as
    # here); these are the doors before a session.
    ("GET", "/console/dev-login"): "embedded mode's demo door, 404 in production; test_console.py",
    ("POST", "/console/logout"): "the session's own, with its CSRF token; test_console.py",
    ("GET", "/console/static/<name:path>"): "the console's pinned assets, public like /docs; test_console.py",
    ("GET", "/console/login"): "the login page, anyone's: it makes a ticket for this browser; test_login.py",
    ("GET", "/console/login/code.png"): "the code of the browser's own ticket (its nonce cookie); test_login.py",
    ("GET", "/console/login/status"): "the browser's own ticket (its nonce cookie), approved by a worker; test_login.py",
    ("GET", "/console/login/link"): "a one-time link's page, by its token alone; test_login.py",
    ("POST", "/console/login/link"): "a one-time link used up, by its token alone; test_login.py",
    ("GET", "/__test/boom"): "test-only route that raises, tests/handlers/test_platform.py",
    ("GET", "/__test/echo"): "test-only route that leaks on purpose, tests/server/test_pii_scanner.py",
}
# sanic-ext's own documentation pages, not the product's API.
DOCS_PREFIXES = ("/docs",)


class _AnyWorld:
    """Stands in for a matrix's world: every id is 1, every name is "x"."""

    def __getattr__(self, name):
        return _AnyWorld()

    def __format__(self, spec):
        return "1"

    __str__ = __repr__ = lambda self: "1"


def _entries():
    for module in (test_access_matrix, test_access_matrix_points, test_access_matrix_workflow):
        for entry in module.ROUTES:
            name, method, path = entry[0], entry[1], entry[2]
            yield module.__name__.rsplit(".", 1)[-1], name, method, path(_AnyWorld())


def _key(route, method):
    return method, "/" + route.path.lstrip("/")


def _served(app):
    served = set()
    for route in app.router.routes:
        for method in route.methods:
            if method in ("HEAD", "OPTIONS"):
                continue
            path = "/" + route.path.lstrip("/")
            if path.startswith(DOCS_PREFIXES) and (method, path) not in PUBLIC_BY_DESIGN:
                continue
            served.add((method, path))
    return served


async def test_every_route_is_in_a_role_matrix(api):
    app = api.app
    covered, unresolved = set(), []
    for module, name, method, url in _entries():
        path = urlsplit(url).path
        try:
            route, _, _ = app.router.get(path, method, None)
        except (NotFound, MethodNotAllowed):
            unresolved.append(f"{module}:{name} {method} {path}")
            continue
        covered.add(_key(route, method))
    assert not unresolved, "matrix entries that match no route: " + ", ".join(unresolved)
    # Console pages behind a session: each one refused to resident, volunteer and no session, and
    # to another station's worker by id (test_console_access.py walks the same router).
    covered |= set(console_routes(app))
    missing = sorted(_served(app) - covered - set(PUBLIC_BY_DESIGN))
    assert not missing, "routes without a role-matrix entry: " + ", ".join(f"{m} {p}" for m, p in missing)
    stale = sorted(set(PUBLIC_BY_DESIGN) - _served(app))
    assert not stale, f"PUBLIC_BY_DESIGN lists routes the app no longer serves: {stale}"
