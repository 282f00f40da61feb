"""Requests the documented schema forbids are refused, and permissions come before bodies."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import World


@pytest.mark.parametrize("kind", ["students", "guardians", "tutors"])
async def test_a_null_patch_body_is_refused_not_a_no_op(
    client: httpx.AsyncClient, world: World, kind: str
) -> None:
    """`null`, a list or a number is not a JSON object: 422, and nothing changes."""
    key = {"students": "s1", "guardians": "g1", "tutors": "t1"}[kind]
    path = f"/api/v1/{kind}/{world.ids[key]}"
    before = (await client.get(path, headers=world.as_("coord"))).json()
    for body in ("null", "[]", "5", '"x"'):
        r = await client.patch(
            path, content=body, headers={**world.as_("coord"), "content-type": "application/json"}
        )
        assert r.status_code == 422, (body, r.text)
    assert (await client.get(path, headers=world.as_("coord"))).json() == before


async def test_limits_and_availability_bodies_are_checked_strictly(
    client: httpx.AsyncClient, world: World
) -> None:
    """A string where the schema says integer, null for a list, an unknown field: 422.
    An empty body still means every default."""
    base = f"/api/v1/tutors/{world.ids['t1']}"
    h = world.as_("coord")
    for path, body in (
        (f"{base}/limits", {"max_sessions_per_day": "5"}),
        (f"{base}/limits", {"buffer_minutes": 1.5}),
        (f"{base}/limits", {"buffer_minutes": True}),
        (f"{base}/availability", {"rules": None}),
        (f"{base}/availability", {"rules": [{"weekday": "monday", "start": 9, "end": "17:00"}]}),
        (f"{base}/availability", {"holidays": []}),
    ):
        r = await client.put(path, json=body, headers=h)
        assert r.status_code == 422, (path, body, r.text)
    assert (await client.put(f"{base}/limits", headers=h)).status_code == 200


async def test_a_number_is_not_a_time(client: httpx.AsyncClient, world: World) -> None:
    """`starts_before=0.5` is not read as half a second after 1970: 422 naming the field."""
    r = await client.get("/api/v1/sessions?starts_before=0.5", headers=world.as_("coord"))
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"] == ["query", "starts_before"]
    ok = await client.get(
        "/api/v1/sessions?starts_before=2030-01-01T00:00:00Z", headers=world.as_("coord")
    )
    assert ok.status_code == 200


async def test_permissions_come_before_the_body(client: httpx.AsyncClient, world: World) -> None:
    """A caller who may not change a student learns that (403), not what is wrong with
    the body they sent; the same bad body from a coordinator is a 422."""
    path = f"/api/v1/students/{world.ids['s2']}"
    bad = {"display_name": 5}
    assert (await client.patch(path, json=bad, headers=world.as_("g1"))).status_code in (403, 404)
    assert (await client.patch(path, json=bad, headers=world.as_("coord"))).status_code == 422
