"""The audit log: reads, changes and refusals over a student's data, logins, API key scopes."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette

from api.auth import hash_password
from core.clock import FixedClock
from scheduling.models import User
from sessions.models import TranscriptSegment
from tests.conftest import World


async def _entries(client: httpx.AsyncClient, world: World, **params: str) -> list[dict]:
    r = await client.get("/api/v1/audit", params=params, headers=world.as_("coord"))
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def test_a_tutors_transcript_read_and_a_guardians_refusal_are_in_the_log(
    app: Starlette, client: httpx.AsyncClient, world: World
) -> None:
    """t1 reads ses1's transcript: an entry names t1, the transcript and s1. g2 tries
    s1's profile (another family's child): refused, and an entry says so."""
    async with app.state.services.sessionmaker() as db, db.begin():
        db.add(
            TranscriptSegment(
                session_id=world.ids["ses1"],
                index=0,
                start=0.0,
                end=2.0,
                participant_id=world.users["t1"].id,
                speaker="Person t1",
                role="tutor",
                text="Let us factorise.",
            )
        )
    ses1, s1 = world.ids["ses1"], world.ids["s1"]
    r = await client.get(f"/api/v1/sessions/{ses1}/transcript", headers=world.as_("t1"))
    assert r.status_code == 200 and r.json()["segments"]
    r = await client.get(f"/api/v1/students/{s1}", headers=world.as_("g2"))
    assert r.status_code in (403, 404)

    read = await _entries(client, world, student_id=s1, action="read")
    assert [(e["actor_id"], e["resource"], e["resource_id"], e["route"]) for e in read] == [
        (
            world.users["t1"].id,
            "transcript",
            ses1,
            "GET /api/v1/sessions/{session_id}/transcript",
        )
    ]
    assert read[0]["actor_kind"] == "user" and read[0]["address"] == "127.0.0.1"
    denied = await _entries(client, world, student_id=s1, action="denied")
    assert [(e["actor_id"], e["resource"], e["resource_id"]) for e in denied] == [
        (world.users["g2"].id, "student", s1)
    ]
    # Filtered by actor and exported as CSV: the same entries.
    mine = await _entries(client, world, actor_id=world.users["t1"].id)
    assert {e["id"] for e in mine} >= {read[0]["id"]}
    r = await client.get("/api/v1/audit.csv", params={"student_id": s1}, headers=world.as_("coord"))
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["id"] for row in rows} == {e["id"] for e in read + denied}
    # Nothing but ids: no name, no transcript text.
    assert "Person" not in r.text and "factorise" not in r.text


async def test_only_coordinators_read_the_log(client: httpx.AsyncClient, world: World) -> None:
    for who in ("t1", "g1", "s1"):
        assert (await client.get("/api/v1/audit", headers=world.as_(who))).status_code == 403
    # Another organisation's coordinator sees none of A's entries.
    await client.get(f"/api/v1/students/{world.ids['s1']}", headers=world.as_("coord"))
    r = await client.get("/api/v1/audit", headers=world.as_("coordB"))
    assert r.json()["items"] == []


async def test_the_log_is_append_only_in_the_database(app: Starlette, world: World) -> None:
    """An UPDATE of an entry is refused by the database itself (a trigger), on SQLite
    and PostgreSQL alike; the application has no path that changes one."""
    async with app.state.services.sessionmaker() as db, db.begin():
        await db.execute(
            text(
                "INSERT INTO audit_log (id, at, actor_kind, action, resource, route) "
                "VALUES ('aud_x', CURRENT_TIMESTAMP, 'system', 'read', 'student', 'test')"
            )
        )
    with pytest.raises(DBAPIError, match="append-only"):
        async with app.state.services.sessionmaker() as db, db.begin():
            await db.execute(text("UPDATE audit_log SET actor_id = 'someone' WHERE id = 'aud_x'"))


async def test_wrong_passwords_are_throttled_per_account_and_audited(
    app: Starlette, client: httpx.AsyncClient, world: World, clock: FixedClock
) -> None:
    """Ten wrong passwords: the eleventh try is 429 with Retry-After, even with the right
    password; each failure and the throttled try are entries; after the window it works."""
    email = world.users["coord"].email
    async with app.state.services.sessionmaker() as db, db.begin():
        user = await db.get_one(User, world.users["coord"].id)
        user.password_hash = await hash_password("correct horse battery")
    for _ in range(10):
        r = await client.post("/api/v1/auth/login", json={"email": email, "password": "wrong!!!"})
        assert r.status_code == 401
    r = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": "correct horse battery"}
    )
    assert r.status_code == 429 and r.json()["error"]["code"] == "login_throttled"
    assert 1 <= int(r.headers["retry-after"]) <= 15 * 60
    failed = await _entries(client, world, action="login_failed")
    assert len(failed) == 10 and {e["resource_id"] for e in failed} == {world.users["coord"].id}
    assert len(await _entries(client, world, action="login_throttled")) == 1
    # Another account from the same address is not locked by the first one's failures.
    other = await client.post(
        "/api/v1/auth/login", json={"email": world.users["t1"].email, "password": "wrong!!!"}
    )
    assert other.status_code == 401
    clock.advance(timedelta(minutes=15, seconds=1))
    again = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": "correct horse battery"}
    )
    assert again.status_code == 200


async def test_failures_from_one_address_are_throttled_across_accounts(
    client: httpx.AsyncClient, world: World
) -> None:
    """30 failures spread over made-up emails: the address is throttled."""
    for i in range(30):
        r = await client.post(
            "/api/v1/auth/login", json={"email": f"nobody{i}@x.example", "password": "wrong!!!"}
        )
        assert r.status_code == 401
    r = await client.post(
        "/api/v1/auth/login", json={"email": "nobody@x.example", "password": "wrong!!!"}
    )
    assert r.status_code == 429 and "retry-after" in r.headers


async def _key(client: httpx.AsyncClient, world: World, **body: object) -> str:
    r = await client.post(
        "/api/v1/api-keys", json={"name": "sync", **body}, headers=world.as_("coord")
    )
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


async def test_api_keys_act_within_their_scopes_until_they_expire(
    client: httpx.AsyncClient, world: World, clock: FixedClock
) -> None:
    """A default key (read, write) books and lists sessions but sees no child's profile;
    a key with personal_data does, and its read is an entry naming the key. A key
    cannot mint a key with more scopes. Past its expiry a key is refused (401)."""
    plain = {"X-API-Key": await _key(client, world)}
    assert (await client.get("/api/v1/sessions", headers=plain)).status_code == 200
    r = await client.get(f"/api/v1/students/{world.ids['s1']}", headers=plain)
    assert r.status_code == 403 and "personal_data" in r.json()["error"]["message"]
    assert (await client.get("/api/v1/audit", headers=plain)).status_code == 403
    r = await client.post(
        "/api/v1/api-keys", json={"name": "x", "scopes": ["read", "admin"]}, headers=plain
    )
    assert r.status_code == 403

    full = {"X-API-Key": await _key(client, world, scopes=["read", "personal_data"])}
    assert (
        await client.get(f"/api/v1/students/{world.ids['s1']}", headers=full)
    ).status_code == 200
    entries = await _entries(client, world, student_id=world.ids["s1"], action="read")
    assert entries[0]["actor_kind"] == "api_key"
    assert (await client.post("/api/v1/sessions", json={}, headers=full)).status_code == 403

    short = {"X-API-Key": await _key(client, world, expires_in_days=1)}
    assert (await client.get("/api/v1/sessions", headers=short)).status_code == 200
    clock.advance(timedelta(days=1, seconds=1))
    r = await client.get("/api/v1/sessions", headers=short)
    assert r.status_code == 401 and r.json()["error"]["code"] == "api_key_expired"
