"""Health, readiness, metrics, request ids and the shared error shape."""

from pathlib import Path

import httpx
from starlette.applications import Starlette

from api.app import create_app
from api.settings import Settings
from tests.conftest import REDIS_URL, SECRET


async def test_healthz_answers_without_credentials(client: httpx.AsyncClient) -> None:
    """Liveness needs no login and reports the version."""
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


async def test_readyz_checks_the_database(client: httpx.AsyncClient) -> None:
    """Readiness reports the database check and is 200 when it answers."""
    r = await client.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert "redis" not in body["checks"]


async def _readyz(settings: Settings, redis_url: str) -> httpx.Response:
    app = create_app(settings.model_copy(update={"redis_url": redis_url}))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            return await c.get("/readyz")
    finally:
        await app.state.services.aclose()


async def test_readyz_checks_redis_when_configured(settings: Settings) -> None:
    """With Redis configured, readiness pings the real server."""
    r = await _readyz(settings, REDIS_URL)
    assert r.status_code == 200
    assert r.json()["checks"]["redis"]["ok"] is True


async def test_readyz_is_503_when_redis_is_down(settings: Settings) -> None:
    """A configured Redis that does not answer makes the node unready, with the reason."""
    r = await _readyz(settings, "redis://127.0.0.1:1/0")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["redis"]["error"]
    assert body["checks"]["database"]["ok"] is True


async def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    """A database that cannot be reached makes the node unready."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        database_url="postgresql://nobody@127.0.0.1:1/none",
        secret_key=SECRET,  # type: ignore[arg-type]
    )
    app = create_app(settings)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            r = await c.get("/readyz")
    finally:
        await app.state.services.aclose()
    assert r.status_code == 503
    assert r.json()["checks"]["database"]["ok"] is False


async def test_metrics_count_requests_by_route(client: httpx.AsyncClient) -> None:
    """Prometheus text shows requests counted under their route template."""
    await client.get("/healthz")
    await client.get("/api/v1/tutors/tut_x")
    text = (await client.get("/metrics")).text
    assert 'liveclass_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'route="/api/v1/tutors/{tutor_id}",status="401"' in text
    assert 'liveclass_auth_failures_total{code="not_authenticated"} 1.0' in text


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    """A sane X-Request-ID comes back; otherwise the server makes one and puts it in errors."""
    r = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/api/v1/me", headers={"X-Request-ID": "bad id with spaces"})
    made = r.headers["x-request-id"]
    assert made != "bad id with spaces"
    assert r.json()["error"]["request_id"] == made


async def test_unknown_route_uses_the_error_shape(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    """A wrong URL gets the JSON error shape with a hint, not an HTML page."""
    r = await client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["code"] == "not_found"
    assert "openapi.json" in err["message"]


async def test_wrong_method_uses_the_error_shape(client: httpx.AsyncClient) -> None:
    """A method a route does not take is a 405 in the shared shape."""
    r = await client.put("/healthz")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "http_405"
