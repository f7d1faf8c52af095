"""The role matrices: a thousand short cases, so what each case sets up matters.

``client`` here is one httpx client per module (creating one costs ~50 ms, mostly its TLS context,
more than most matrix cases take), with its cookie jar emptied before each test so that no case
carries anything of another's. Requests still go over real HTTP to the same server.
"""

import httpx
import pytest
import pytest_asyncio


@pytest_asyncio.fixture(scope="module")
async def _module_client(api):
    async with httpx.AsyncClient(base_url=api.url, timeout=20) as c:
        c._haibei_api = api  # builders that move the app's clock find it here
        yield c


@pytest.fixture
def client(_module_client):
    _module_client.cookies.clear()
    return _module_client


@pytest.fixture
async def world(request, worlds, client):
    """The world a case acts on (``worlds``: the module's): taken first to the state its route
    needs, if its route names one (``prepare``, the workflow matrix), then shared by the cases that
    cannot change it, or of its own for one that may."""
    params = request.node.callspec.params
    name, method, _, _, allowed, _, *prepare = params["route"]
    return await worlds.for_case(client, name=name, method=method, allowed=allowed, role=params.get("role"),
                                 **({"prepare": prepare[0]} if prepare else {}))
