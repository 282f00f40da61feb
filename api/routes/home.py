"""Where a visitor starts: what this server is (/), the API's resources (/api/v1/), and
its reference (/docs), all served from this origin with nothing fetched from another."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from api.html import WEB, html_page
from api.routing import Call, Router
from api.version import app_version

router = Router()
TAGS = ["about"]
API_PREFIX = "/api/v1/"
ABOUT = "an open-source backend for live online tutoring"

# Swagger UI as the swagger-ui-bundle-v2 wheel ships it; app.py mounts it at /docs/assets.
SWAGGER_UI = Path(str(swagger_ui_path))
# The wheel also ships a demo index.html that fetches a spec from another origin: only
# what docs.html loads is served.
DOCS_ASSET_FILES = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"})
# Swagger UI draws its icons from data: URIs in its stylesheet; everything else is 'self'.
DOCS_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


class DocsAssets(StaticFiles):
    """The Swagger UI files the /docs page loads, and no others."""

    def __init__(self) -> None:
        super().__init__(directory=SWAGGER_UI)

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if path not in DOCS_ASSET_FILES:
            return "", None
        return super().lookup_path(path)


@dataclass(frozen=True)
class Link:
    href: str
    title: str
    description: str
    method: str = "GET"


LINKS = (
    Link("/docs", "API reference", "Every route, body and error, rendered from /openapi.json."),
    Link("/openapi.json", "OpenAPI document", "The API described in OpenAPI 3.1, for tools."),
    Link("/api/v1/", "API index", "The REST API's resources, each with its methods."),
    Link(
        "/api/v1/auth/login",
        "Log in",
        'Send {"email", "password"} as JSON; the answer holds a bearer token to send as '
        "Authorization: Bearer <token>. Integrations use an API key in X-API-Key instead.",
        method="POST",
    ),
    Link("/healthz", "Liveness", "The process is up (touches no dependency)."),
    Link("/readyz", "Readiness", "The database, and Redis when configured, answer."),
    Link("/metrics", "Metrics", "Prometheus metrics in the text exposition format."),
)
DEMO = (
    "Run 'liveclass demo' to seed a demo school (a coordinator, a tutor, a student and a "
    "guardian, and a session starting now): it prints their logins and the join links "
    "for the tutor and the student, /join/{session_id}?token=..."
)


class LinkOut(BaseModel):
    href: str
    method: str
    title: str
    description: str


class HomeOut(BaseModel):
    name: str
    description: str
    version: str
    links: list[LinkOut]
    demo: str


class OperationOut(BaseModel):
    method: str
    path: str
    summary: str


class ResourceOut(BaseModel):
    name: str = Field(description="The first path segment after /api/v1/, e.g. 'sessions'.")
    path: str
    operations: list[OperationOut] = Field(description="Every operation under `path`.")


class ApiIndexOut(BaseModel):
    version: str
    openapi: str = Field(description="The OpenAPI 3.1 document, the source of this index.")
    docs: str = Field(description="The API reference, rendered from that document.")
    resources: list[ResourceOut]


def _quality(accept: str, offer: str) -> float:
    """The q that ``accept`` gives ``offer``: that of its most specific matching range, else 0."""
    kind = offer.split("/")[0]
    ranks = {offer: 3, f"{kind}/*": 2, "*/*": 1}
    best_rank, best_q = 0, 0.0
    for part in accept.split(","):
        media, *params = (p.strip().lower() for p in part.split(";"))
        rank = ranks.get(media, 0)
        if rank <= best_rank:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best_rank, best_q = rank, q
    return best_q


def prefers_json(accept: str) -> bool:
    """Whether an Accept header ranks application/json above text/html (RFC 9110 §12.5.1).

    A tie, ``*/*`` or no header at all goes to HTML: a browser, or curl with no
    preference, gets the page.
    """
    if not accept.strip():
        return False
    return _quality(accept, "application/json") > _quality(accept, "text/html")


def _home() -> HomeOut:
    return HomeOut(
        name="Liveclass",
        description=f"Liveclass is {ABOUT}.",
        version=app_version(),
        links=[
            LinkOut(href=ln.href, method=ln.method, title=ln.title, description=ln.description)
            for ln in LINKS
        ],
        demo=DEMO,
    )


def _link_html(link: LinkOut) -> str:
    target = f"<code>{escape(link.method)} {escape(link.href)}</code>"
    if link.method == "GET":  # one a browser can follow
        target = f'<a href="{escape(link.href)}">{target}</a>'
    return f"      <li>{escape(link.title)}: {target}. {escape(link.description)}</li>"


def _home_html(home: HomeOut) -> str:
    items = "\n".join(_link_html(link) for link in home.links)
    return f"""    <p>{escape(home.description)} This server runs version
    <code>{escape(home.version)}</code>.</p>
    <h2>Where to go</h2>
    <ul>
{items}
    </ul>
    <h2>Try it</h2>
    <p>{escape(home.demo)}</p>
    <p>The same links come as JSON to a client that asks with
    <code>Accept: application/json</code>.</p>"""


@router.get("/", tags=TAGS, auth=False, media_type="text/html")
async def home(call: Call) -> Response:
    """What this server is, and where to go from here.

    An HTML page; a client whose `Accept` header prefers `application/json` gets the
    same links as a JSON object.
    """
    about = _home()
    if prefers_json(call.request.headers.get("accept", "")):
        response: Response = JSONResponse(about.model_dump())
    else:
        response = html_page("Liveclass", _home_html(about))
    response.headers["vary"] = "Accept"
    return response


def api_index(spec: Mapping[str, Any]) -> ApiIndexOut:
    """The API's resources as ``spec`` documents them, so the index follows the code.

    Each first path segment under /api/v1/ is one resource, holding every operation
    whose path starts with it; resources come by name, operations in the spec's order.
    """
    resources: dict[str, list[OperationOut]] = {}
    for path, operations in spec["paths"].items():
        name = path.removeprefix(API_PREFIX).split("/", 1)[0] if path.startswith(API_PREFIX) else ""
        if not name:
            continue  # outside the API, or this index itself
        resources.setdefault(name, []).extend(
            OperationOut(method=method.upper(), path=path, summary=op["summary"])
            for method, op in operations.items()
        )
    return ApiIndexOut(
        version=spec["info"]["version"],
        openapi="/openapi.json",
        docs="/docs",
        resources=[
            ResourceOut(name=name, path=API_PREFIX + name, operations=ops)
            for name, ops in sorted(resources.items())
        ],
    )


@router.get(API_PREFIX, tags=TAGS, auth=False)
async def api_root(call: Call) -> ApiIndexOut:
    """The API's resources, each with its operations, taken from /openapi.json."""
    return api_index(call.request.app.state.openapi)


@router.get("/docs", tags=TAGS, auth=False, media_type="text/html")
async def docs(call: Call) -> Response:
    """The API reference: Swagger UI rendered from /openapi.json, every file from this server."""
    return FileResponse(
        WEB / "docs.html",
        media_type="text/html",
        headers={"content-security-policy": DOCS_POLICY, "cache-control": "no-cache"},
    )
