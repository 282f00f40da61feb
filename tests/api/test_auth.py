"""Login, access tokens and API keys."""

from datetime import timedelta

import httpx
from sqlalchemy import select
from starlette.applications import Starlette

from api.auth import hash_password
from core.clock import FixedClock
from scheduling.models import User
from signaling.tokens import JoinGrant, issue_join_token
from tests.conftest import World


async def _set_password(app: Starlette, user_id: str, password: str) -> None:
    async with app.state.services.sessionmaker() as db, db.begin():
        user = await db.get(User, user_id)
        assert user is not None
        user.password_hash = await hash_password(password)


async def test_login_returns_a_token_that_works(
    client: httpx.AsyncClient, app: Starlette, world: World
) -> None:
    """A correct email and password give a bearer token that identifies the user."""
    await _set_password(app, world.users["t1"].id, "correct horse battery")
    r = await client.post(
        "/api/v1/auth/login",
        json={"email": "T1@SchoolA.example.org", "password": "correct horse battery"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["user"]["role"] == "tutor"
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["tutor_id"] == world.ids["t1"]


async def test_wrong_password_and_unknown_email_look_the_same(
    client: httpx.AsyncClient, app: Starlette, world: World
) -> None:
    """Login failures do not reveal whether an account exists."""
    await _set_password(app, world.users["t1"].id, "correct horse battery")
    wrong = await client.post(
        "/api/v1/auth/login", json={"email": "t1@schoola.example.org", "password": "nope"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"email": "who@x.example.org", "password": "nope"}
    )
    no_password = await client.post(
        "/api/v1/auth/login", json={"email": "t2@schoola.example.org", "password": "x"}
    )
    for r in (wrong, unknown, no_password):
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_credentials"
        assert r.json()["error"]["message"] == "email or password is wrong"


async def test_disabled_user_cannot_log_in_or_use_old_tokens(
    client: httpx.AsyncClient, app: Starlette, world: World
) -> None:
    """Deactivating a user locks them out at once, even with a live token."""
    await _set_password(app, world.users["t1"].id, "correct horse battery")
    async with app.state.services.sessionmaker() as db, db.begin():
        user = await db.scalar(select(User).where(User.id == world.users["t1"].id))
        assert user is not None
        user.is_active = False
    r = await client.post(
        "/api/v1/auth/login",
        json={"email": "t1@schoola.example.org", "password": "correct horse battery"},
    )
    assert r.status_code == 401
    assert (await client.get("/api/v1/me", headers=world.as_("t1"))).status_code == 401


async def test_expired_token_is_refused(
    client: httpx.AsyncClient, clock: FixedClock, world: World
) -> None:
    """An access token stops working when its lifetime is over, with a hint to log in."""
    clock.advance(timedelta(seconds=901))
    r = await client.get("/api/v1/me", headers=world.as_("coord"))
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "token_expired"
    assert r.headers["www-authenticate"] == "Bearer"


async def test_forged_and_malformed_tokens_are_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    """A token signed with another key, or a wrong header, is refused."""
    token = world.tokens["coord"]
    head, body, sig = token.split(".")
    forged = f"{head}.{body}.{sig[::-1]}"
    for header in (f"Bearer {forged}", "Basic abc", "Bearer "):
        r = await client.get("/api/v1/me", headers={"Authorization": header})
        assert r.status_code == 401


async def test_join_token_is_not_an_access_token(
    client: httpx.AsyncClient, app: Starlette, world: World
) -> None:
    """A join token, signed with the same key, cannot call the API."""
    services = app.state.services
    grant = JoinGrant(
        session_id=world.ids["ses1"],
        participant_id=world.users["coord"].id,
        role="coordinator",
        name="x",
        expires_at=services.clock.now() + timedelta(hours=1),
    )
    join = issue_join_token(grant, secret=services.secret, now=services.clock.now())
    r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {join}"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_token"


async def test_missing_credentials_say_how_to_authenticate(client: httpx.AsyncClient) -> None:
    """No credentials: 401 and a message naming the login endpoint."""
    r = await client.get("/api/v1/tutors")
    assert r.status_code == 401
    assert "/api/v1/auth/login" in r.json()["error"]["message"]


async def test_api_key_lifecycle(client: httpx.AsyncClient, world: World) -> None:
    """A coordinator's API key acts in their organisation until revoked; only its hash is kept."""
    created = await client.post(
        "/api/v1/api-keys", json={"name": "billing sync"}, headers=world.as_("coord")
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
        r = await client.get("/api/v1/sessions", headers=headers)
        assert r.status_code == 200
        assert {s["id"] for s in r.json()["items"]} == {world.ids["ses1"], world.ids["ses2"]}
    listed = (await client.get("/api/v1/api-keys", headers=world.as_("coord"))).json()["items"]
    assert len(listed) == 1 and "key" not in listed[0] and listed[0]["last_used_at"] is not None
    r = await client.delete(f"/api/v1/api-keys/{created.json()['id']}", headers=world.as_("coord"))
    assert r.status_code == 204
    r = await client.get("/api/v1/sessions", headers={"X-API-Key": key})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"


async def test_only_coordinators_manage_api_keys(client: httpx.AsyncClient, world: World) -> None:
    """A tutor cannot create API keys; a key of one organisation cannot be revoked by another."""
    r = await client.post("/api/v1/api-keys", json={"name": "mine"}, headers=world.as_("t1"))
    assert r.status_code == 403
    created = await client.post("/api/v1/api-keys", json={"name": "a"}, headers=world.as_("coord"))
    r = await client.delete(f"/api/v1/api-keys/{created.json()['id']}", headers=world.as_("coordB"))
    assert r.status_code == 404


async def test_a_wrong_api_key_is_refused(client: httpx.AsyncClient, world: World) -> None:
    """A made-up or altered key is refused."""
    created = await client.post("/api/v1/api-keys", json={"name": "a"}, headers=world.as_("coord"))
    key = created.json()["key"]
    for bad in (key[:-1] + ("A" if key[-1] != "A" else "B"), "lck_nope_nope", "plainly-wrong"):
        r = await client.get("/api/v1/me", headers={"X-API-Key": bad})
        assert r.status_code == 401
