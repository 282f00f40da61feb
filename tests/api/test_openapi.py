"""/openapi.json is valid OpenAPI 3.1 and documents every route, body and error."""

import httpx
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.routing import Route


async def _spec(client: httpx.AsyncClient) -> dict:  # type: ignore[type-arg]
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


async def test_spec_is_valid_openapi_3_1(client: httpx.AsyncClient) -> None:
    """The document passes the OpenAPI 3.1 validator."""
    spec = await _spec(client)
    assert spec["openapi"].startswith("3.1")
    validate(spec)


async def test_every_route_is_listed(client: httpx.AsyncClient, app: Starlette) -> None:
    """Each route the app serves (but the spec itself) appears with its method."""
    spec = await _spec(client)
    served = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route) and route.path != "/openapi.json"
        for method in (route.methods or set()) - {"HEAD"}
    }
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert served == documented
    assert ("/api/v1/sessions/{session_id}/join-token", "post") in documented


async def test_bodies_and_errors_are_documented(client: httpx.AsyncClient) -> None:
    """Bodies reference their schemas; routes list 401 and 422 in the shared error shape."""
    spec = await _spec(client)
    create = spec["paths"]["/api/v1/tutors"]["post"]
    body_ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body_schema = spec["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
    assert {"email", "display_name", "subjects"} <= set(body_schema["properties"])
    assert body_schema["additionalProperties"] is False
    for status in ("201", "401", "403", "409", "422"):
        assert status in create["responses"], status
    error_ref = create["responses"]["422"]["content"]["application/json"]["schema"]["$ref"]
    assert error_ref.endswith("/ErrorResponse")
    listing = spec["paths"]["/api/v1/sessions"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {"limit", "offset", "tutor_id", "student_id", "status", "starts_after"} <= names
    login = spec["paths"]["/api/v1/auth/login"]["post"]
    assert login["security"] == []
    assert "503" in spec["paths"]["/readyz"]["get"]["responses"]
