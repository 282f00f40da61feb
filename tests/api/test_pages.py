"""The pages a visitor opens first: /, /api/v1/, /docs, and the join page's answers."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest
from starlette.applications import Starlette

from api.routes.home import prefers_json
from scheduling.models import LiveSession, SessionStatus
from tests.conftest import World


class _References(HTMLParser):
    """Every URL a page makes the browser load or offers to follow."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []  # script src, link href
        self.links: list[str] = []  # a href
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "script":
            if attr.get("src"):
                self.loads.append(attr["src"] or "")
            else:
                self.inline_scripts += 1
        elif tag == "link" and attr.get("href"):
            self.loads.append(attr["href"] or "")
        elif tag == "a" and attr.get("href"):
            self.links.append(attr["href"] or "")


def _references(html: str) -> _References:
    parser = _References()
    parser.feed(html)
    return parser


def _same_origin(url: str) -> bool:
    return (url.startswith("/") and not url.startswith("//")) or url == "data:,"


def _policy(header: str) -> dict[str, list[str]]:
    directives = (d.split() for d in header.split(";") if d.strip())
    return {d[0]: d[1:] for d in directives}


async def test_home_page_says_what_this_is_and_where_to_go(client: httpx.AsyncClient) -> None:
    """/ is an HTML page naming Liveclass, its version, and same-origin links to the API."""
    r = await client.get("/", headers={"accept": "text/html,*/*;q=0.8"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "Liveclass" in r.text
    assert "open-source backend for live online tutoring" in r.text
    version = (await client.get("/healthz")).json()["version"]
    assert version in r.text
    refs = _references(r.text)
    assert {"/docs", "/openapi.json", "/api/v1/", "/healthz", "/readyz", "/metrics"} <= set(
        refs.links
    )
    assert "POST /api/v1/auth/login" in r.text
    assert "liveclass demo" in r.text
    assert all(_same_origin(url) for url in refs.loads + refs.links), refs.loads + refs.links
    for url in refs.loads:
        if url.startswith("/"):
            assert (await client.get(url)).status_code == 200, url
    assert refs.inline_scripts == 0
    assert "default-src 'none'" in r.headers["content-security-policy"]


async def test_home_answers_json_to_a_client_that_asks(client: httpx.AsyncClient) -> None:
    """Accept: application/json on / gets the same links as a JSON object."""
    page = await client.get("/")
    r = await client.get("/", headers={"accept": "application/json"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert "accept" in r.headers["vary"].lower()
    body = r.json()
    assert body["name"] == "Liveclass"
    hrefs = {link["href"] for link in body["links"]}
    assert {"/docs", "/openapi.json", "/api/v1/", "/api/v1/auth/login"} <= hrefs
    assert all(f'href="{h}"' in page.text for h in hrefs if h != "/api/v1/auth/login")
    login = next(link for link in body["links"] if link["href"] == "/api/v1/auth/login")
    assert login["method"] == "POST"
    assert "liveclass demo" in body["demo"]


@pytest.mark.parametrize(
    ("accept", "json"),
    [
        ("", False),
        ("*/*", False),
        ("application/json", True),
        ("application/json, text/html", False),
        ("text/html;q=0.5, application/json", True),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),
        ("application/*;q=0.9, text/*;q=0.3", True),
        ("text/html;q=0, */*", True),
        ("image/png", False),
    ],
)
def test_content_negotiation_prefers_html_unless_json_ranks_higher(accept: str, json: bool) -> None:
    """JSON only when Accept ranks it above HTML; ties and browsers get the page."""
    assert prefers_json(accept) is json


async def test_api_index_lists_the_resources_that_exist(client: httpx.AsyncClient) -> None:
    """/api/v1/ lists each resource with the operations the OpenAPI document has, no more."""
    r = await client.get("/api/v1/")
    assert r.status_code == 200
    body = r.json()
    assert body["openapi"] == "/openapi.json"
    assert body["docs"] == "/docs"
    spec = (await client.get("/openapi.json")).json()
    assert body["version"] == spec["info"]["version"]
    resources = {res["path"]: res for res in body["resources"]}
    sessions = resources["/api/v1/sessions"]
    assert sessions["name"] == "sessions"
    listing = next(op for op in sessions["operations"] if op["path"] == "/api/v1/sessions")
    assert listing["method"] == "GET"
    assert listing["summary"] == spec["paths"]["/api/v1/sessions"]["get"]["summary"]
    assert "/api/v1/auth" in resources
    listed = {
        (op["path"], op["method"].lower())
        for res in body["resources"]
        for op in res["operations"]
        if op["path"].startswith(res["path"])
    }
    documented = {
        (path, method)
        for path, ops in spec["paths"].items()
        if path.startswith("/api/v1/") and path != "/api/v1/"
        for method in ops
    }
    assert listed == documented
    for path in resources:
        assert path.removeprefix("/api/v1/").count("/") == 0, path


async def test_docs_page_loads_only_from_this_origin(client: httpx.AsyncClient) -> None:
    """/docs is HTML whose every script and stylesheet is ours and answers with its type."""
    r = await client.get("/docs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    refs = _references(r.text)
    assert refs.inline_scripts == 0
    assert refs.loads
    assert all(_same_origin(url) for url in refs.loads + refs.links), refs.loads + refs.links
    assert not re.search(r"(?:https?:)?//", r.text)
    types = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
    for url in refs.loads:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        suffix = url[url.rindex(".") :]
        assert types[suffix] in asset.headers["content-type"], (url, asset.headers)
        if suffix in (".js", ".css"):
            assert len(asset.content) > 100, url
    scripts = [url for url in refs.loads if url.endswith(".js")]
    assert any(url.startswith("/docs/assets/") for url in scripts)
    boot = next(url for url in scripts if not url.startswith("/docs/assets/"))
    boot_js = (await client.get(boot)).text
    assert '"/openapi.json"' in boot_js
    assert "validatorUrl: null" in boot_js
    assert not re.search(r"(?:https?:)?//[a-z]", boot_js)


async def test_docs_page_has_a_same_origin_content_security_policy(
    client: httpx.AsyncClient,
) -> None:
    """The docs page's CSP allows scripts, styles and connections from 'self' alone."""
    r = await client.get("/docs")
    policy = _policy(r.headers["content-security-policy"])
    assert policy["default-src"] == ["'self'"]
    for directive in ("script-src", "style-src", "connect-src"):
        assert directive not in policy  # falls back to default-src 'self'
    assert policy["img-src"] == ["'self'", "data:"]  # Swagger UI's icons are data: URIs
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]


async def test_docs_assets_serve_only_what_the_page_loads(client: httpx.AsyncClient) -> None:
    """The wheel's demo page, which would fetch a spec from elsewhere, is not served."""
    for path in ("index.html", "swagger-initializer.js", "../__init__.py", ""):
        assert (await client.get(f"/docs/assets/{path}")).status_code == 404, path


async def test_join_page_for_an_unknown_session_is_404_and_says_why(
    client: httpx.AsyncClient,
) -> None:
    """A join link whose id names no session answers 404 with a page saying what to do."""
    r = await client.get("/join/ses_doesnotexist<b>?token=abc")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "No session has the id" in r.text
    assert "ses_doesnotexist&lt;b&gt;" in r.text
    assert "check the link, or ask your coordinator for a new one" in r.text.lower()
    assert _references(r.text).inline_scripts == 0


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (SessionStatus.ENDED, "has ended"),
        (SessionStatus.DOCUMENTED, "has ended"),
        (SessionStatus.CANCELLED, "was cancelled"),
        (SessionStatus.NO_SHOW, "nobody came"),
    ],
)
async def test_join_page_for_a_closed_session_is_410_and_says_why(
    client: httpx.AsyncClient, app: Starlette, world: World, status: SessionStatus, reason: str
) -> None:
    """A session that is over answers 410 Gone with a page that says how it ended."""
    async with app.state.services.sessionmaker() as db, db.begin():
        live = await db.get(LiveSession, world.ids["ses1"])
        assert live is not None
        live.status = status
    r = await client.get(f"/join/{world.ids['ses1']}")
    assert r.status_code == 410
    assert r.headers["content-type"].startswith("text/html")
    assert "This session is over" in r.text
    assert reason in r.text
    assert "can no longer be joined" in r.text or "cannot be joined" in r.text


async def test_join_page_for_a_booked_session_serves_the_client(
    client: httpx.AsyncClient, world: World
) -> None:
    """A session that can still be joined gets the browser client, as before."""
    r = await client.get(f"/join/{world.ids['ses1']}?token=abc")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/app.js"></script>' in r.text
    assert r.headers["cache-control"] == "no-store"


async def test_the_web_app_runs_our_own_modules_under_a_strict_policy(
    client: httpx.AsyncClient,
) -> None:
    """/app: scripts, styles and connections from this origin only, no inline script and
    no eval; every module it imports is served."""
    r = await client.get("/app")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    policy = _policy(r.headers["content-security-policy"])
    assert policy["default-src"] == policy["script-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    refs = _references(r.text)
    assert refs.inline_scripts == 0
    links = [url for url in refs.loads + refs.links if not url.startswith("#")]  # in-page
    assert all(_same_origin(url) for url in links), links
    pending, seen = [u for u in refs.loads if u.endswith(".js")], set()
    while pending:
        url = pending.pop()
        seen.add(url)
        module = await client.get(url)
        assert module.status_code == 200 and "javascript" in module.headers["content-type"], url
        assert not re.search(r"(?:https?:)?//[a-z]", module.text), url
        for name in re.findall(r'from "\./([a-z_]+\.js)"', module.text):
            if f"/static/{name}" not in seen:
                pending.append(f"/static/{name}")
    assert {"/static/portal.js", "/static/ui.js", "/static/family.js"} <= seen
