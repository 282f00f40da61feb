"""Tutors, students and guardians: create, list with filters and pages, update, delete."""

import httpx
import pytest

from tests.conftest import World


async def _count(client: httpx.AsyncClient, world: World, path: str) -> int:
    r = await client.get(path, headers=world.as_("coord"))
    assert r.status_code == 200
    return int(r.json()["total"])


async def test_create_and_read_tutor(client: httpx.AsyncClient, world: World) -> None:
    """A coordinator adds a tutor who then shows in reads and filtered lists."""
    h = world.as_("coord")
    body = {
        "email": "Ada@SchoolA.example.org",
        "display_name": "Ada",
        "time_zone": "America/New_York",
        "subjects": ["physics", "chemistry"],
        "levels": ["a-level"],
        "password": "long enough pw",
    }
    r = await client.post("/api/v1/tutors", json=body, headers=h)
    assert r.status_code == 201, r.text
    tutor = r.json()
    assert tutor["email"] == "ada@schoola.example.org"
    assert "password" not in tutor and "password_hash" not in tutor
    assert (await client.get(f"/api/v1/tutors/{tutor['id']}", headers=h)).json() == tutor
    physics = (await client.get("/api/v1/tutors?subject=physics", headers=h)).json()
    assert [t["id"] for t in physics["items"]] == [tutor["id"]]
    maths = (await client.get("/api/v1/tutors?subject=maths&level=gcse", headers=h)).json()
    assert {t["id"] for t in maths["items"]} == {world.ids["t1"], world.ids["t2"]}
    login = await client.post(
        "/api/v1/auth/login", json={"email": body["email"], "password": body["password"]}
    )
    assert login.status_code == 200


async def test_pagination(client: httpx.AsyncClient, world: World) -> None:
    """Pages do not overlap, and total counts every match."""
    h = world.as_("coord")
    for i in range(5):
        r = await client.post(
            "/api/v1/students",
            json={"email": f"p{i}@schoola.example.org", "display_name": f"P{i}"},
            headers=h,
        )
        assert r.status_code == 201
    first = (await client.get("/api/v1/students?limit=3", headers=h)).json()
    second = (await client.get("/api/v1/students?limit=3&offset=3", headers=h)).json()
    assert first["total"] == second["total"] == 7
    ids = [s["id"] for s in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) == 6


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (
            {"email": "not-an-email", "display_name": ""},
            {("body", "email"), ("body", "display_name")},
        ),
        (
            {"email": "a@schoola.example.org", "display_name": "A", "time_zone": "Mars/Olympus"},
            {("body", "time_zone")},
        ),
        (
            {"email": "a@schoola.example.org", "display_name": "A", "password": "short"},
            {("body", "password")},
        ),
        (
            {"email": "a@schoola.example.org", "display_name": "A", "colour": "blue"},
            {("body", "colour")},
        ),
        ({"display_name": "A"}, {("body", "email")}),
    ],
    ids=["email-and-name", "time-zone", "short-password", "unknown-field", "missing-email"],
)
async def test_invalid_fields_get_422_with_field_messages_and_write_nothing(
    client: httpx.AsyncClient, world: World, body: dict[str, object], fields: set[tuple[str, str]]
) -> None:
    """Each bad field is named in the error, and no tutor is created."""
    before = await _count(client, world, "/api/v1/tutors")
    r = await client.post("/api/v1/tutors", json=body, headers=world.as_("coord"))
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "validation_failed"
    assert {tuple(d["loc"]) for d in err["details"]} == fields
    assert all(d["message"] for d in err["details"])
    assert await _count(client, world, "/api/v1/tutors") == before


async def test_invalid_json_gets_422_and_writes_nothing(
    client: httpx.AsyncClient, world: World
) -> None:
    """A body that is not JSON is refused with its own code."""
    before = await _count(client, world, "/api/v1/students")
    for raw in (b"{nope", b"", b"\xff\xfe"):
        r = await client.post(
            "/api/v1/students",
            content=raw,
            headers={**world.as_("coord"), "content-type": "application/json"},
        )
        assert r.status_code == 422
        assert r.json()["error"]["code"] in {"invalid_json", "validation_failed"}
    assert await _count(client, world, "/api/v1/students") == before


async def test_bad_query_parameters_get_422(client: httpx.AsyncClient, world: World) -> None:
    """A typo or out-of-range value in the query string is an error, not ignored."""
    h = world.as_("coord")
    for query in ("limit=0", "limit=abc", "offest=3", "status=flying"):
        r = await client.get(f"/api/v1/sessions?{query}", headers=h)
        assert r.status_code == 422, query
        assert r.json()["error"]["details"][0]["loc"][0] == "query"


async def test_duplicate_email_is_409(client: httpx.AsyncClient, world: World) -> None:
    """An email already used by anyone (any role, any case) is a conflict."""
    body = {"email": "T1@schoolA.example.org", "display_name": "Dup"}
    r = await client.post("/api/v1/guardians", json=body, headers=world.as_("coord"))
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "email_taken"


async def test_update_changes_only_sent_fields(client: httpx.AsyncClient, world: World) -> None:
    """PATCH keeps what was not sent, and refuses null for required fields."""
    h = world.as_("coord")
    url = f"/api/v1/tutors/{world.ids['t1']}"
    before = (await client.get(url, headers=h)).json()
    r = await client.patch(
        url, json={"subjects": ["maths", "physics"], "display_name": "Dr T"}, headers=h
    )
    assert r.status_code == 200
    after = r.json()
    assert after["subjects"] == ["maths", "physics"] and after["display_name"] == "Dr T"
    assert after["email"] == before["email"] and after["time_zone"] == before["time_zone"]
    r = await client.patch(url, json={"email": None}, headers=h)
    assert r.status_code == 422
    r = await client.patch(url, json={"email": "t2@schoola.example.org"}, headers=h)
    assert r.status_code == 409
    r = await client.patch(f"/api/v1/students/{world.ids['s1']}", json={"level": None}, headers=h)
    assert r.status_code == 200 and r.json()["level"] is None


async def test_delete_refuses_people_with_sessions(client: httpx.AsyncClient, world: World) -> None:
    """A tutor or student with sessions cannot be deleted; one without can."""
    h = world.as_("coord")
    r = await client.delete(f"/api/v1/tutors/{world.ids['t1']}", headers=h)
    assert r.status_code == 409 and r.json()["error"]["code"] == "in_use"
    r = await client.delete(f"/api/v1/students/{world.ids['s1']}", headers=h)
    assert r.status_code == 409
    new = (
        await client.post(
            "/api/v1/tutors",
            json={"email": "z@schoola.example.org", "display_name": "Z"},
            headers=h,
        )
    ).json()
    assert (await client.delete(f"/api/v1/tutors/{new['id']}", headers=h)).status_code == 204
    assert (await client.get(f"/api/v1/tutors/{new['id']}", headers=h)).status_code == 404
    again = await client.post(
        "/api/v1/tutors", json={"email": "z@schoola.example.org", "display_name": "Z"}, headers=h
    )
    assert again.status_code == 201


async def test_guardian_with_children_consents_and_preferences(
    client: httpx.AsyncClient, world: World
) -> None:
    """Guardianships carry per-child consents (default no) and can be changed or removed."""
    h = world.as_("coord")
    body = {
        "email": "parent@schoola.example.org",
        "display_name": "Parent",
        "students": [
            {"student_id": world.ids["s1"], "recording_consent": True, "relationship": "mother"},
            {"student_id": world.ids["s2"]},
        ],
    }
    r = await client.post("/api/v1/guardians", json=body, headers=h)
    assert r.status_code == 201, r.text
    g = r.json()
    links = {s["student_id"]: s for s in g["students"]}
    assert links[world.ids["s1"]]["recording_consent"] is True
    assert links[world.ids["s2"]]["recording_consent"] is False
    assert links[world.ids["s2"]]["ai_processing_consent"] is False
    by_student = (
        await client.get(f"/api/v1/guardians?student_id={world.ids['s2']}", headers=h)
    ).json()
    assert g["id"] in {x["id"] for x in by_student["items"]}
    url = f"/api/v1/guardians/{g['id']}/students/{world.ids['s2']}"
    r = await client.put(
        url, json={"ai_processing_consent": True, "notify_reminders": False}, headers=h
    )
    assert r.status_code == 200
    link = next(s for s in r.json()["students"] if s["student_id"] == world.ids["s2"])
    assert link["ai_processing_consent"] is True and link["notify_reminders"] is False
    assert (await client.delete(url, headers=h)).status_code == 204
    assert [
        s["student_id"]
        for s in (await client.get(f"/api/v1/guardians/{g['id']}", headers=h)).json()["students"]
    ] == [world.ids["s1"]]
    assert (await client.delete(url, headers=h)).status_code == 404


async def test_guardian_cannot_be_linked_to_another_organisations_student(
    client: httpx.AsyncClient, world: World
) -> None:
    """A student id from another organisation is an invalid reference, and nothing is written."""
    h = world.as_("coord")
    before = await _count(client, world, "/api/v1/guardians")
    body = {
        "email": "p2@schoola.example.org",
        "display_name": "P",
        "students": [{"student_id": world.ids["sB"]}],
    }
    r = await client.post("/api/v1/guardians", json=body, headers=h)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_reference"
    assert r.json()["error"]["details"][0]["loc"] == ["body", "students"]
    assert await _count(client, world, "/api/v1/guardians") == before
    r = await client.put(
        f"/api/v1/guardians/{world.ids['g1']}/students/{world.ids['sB']}", json={}, headers=h
    )
    assert r.status_code == 404


async def test_a_guardian_changes_their_own_consents_and_no_one_elses(
    client: httpx.AsyncClient, world: World
) -> None:
    """The family portal: a guardian turns a consent or a notice on or off for their own
    child, one field at a time; the rest stay. Another guardian's link, or a student
    that is not theirs, answers 404; a tutor or a student may not change any (403 or 404);
    a coordinator may; null is refused."""
    url = f"/api/v1/guardians/{world.ids['g1']}/students/{world.ids['s1']}"
    mine = world.as_("g1")
    r = await client.patch(url, json={"recording_consent": True}, headers=mine)
    assert r.status_code == 200, r.text
    r = await client.patch(url, json={"notify_reminders": False}, headers=mine)
    [link] = [s for s in r.json()["students"] if s["student_id"] == world.ids["s1"]]
    assert link["recording_consent"] is True and link["notify_reminders"] is False
    assert link["ai_processing_consent"] is False  # left out: unchanged

    r = await client.patch(url, json={"recording_consent": None}, headers=mine)
    assert r.status_code == 422
    r = await client.patch(url, json={"relationship": "aunt"}, headers=mine)
    assert r.status_code == 422  # not a term a guardian changes here
    other = f"/api/v1/guardians/{world.ids['g1']}/students/{world.ids['s2']}"
    assert (await client.patch(other, json={}, headers=mine)).status_code == 404
    theirs = f"/api/v1/guardians/{world.ids['g2']}/students/{world.ids['s2']}"
    assert (await client.patch(theirs, json={}, headers=mine)).status_code == 404
    for who in ("t1", "s1"):
        r = await client.patch(url, json={"recording_consent": False}, headers=world.as_(who))
        assert r.status_code in (403, 404), (who, r.text)
    r = await client.patch(url, json={"recording_consent": False}, headers=world.as_("coord"))
    assert r.status_code == 200
    [link] = [s for s in r.json()["students"] if s["student_id"] == world.ids["s1"]]
    assert link["recording_consent"] is False and link["notify_reminders"] is False


async def test_a_student_of_the_consent_age_gives_their_own_consent(
    client: httpx.AsyncClient, world: World
) -> None:
    """Without a date of birth s1's guardians decide: s1's own change is 409 and says so.
    A coordinator enters s1's date of birth (14 years ago): s1 gives recording consent
    themself; their guardian's toggles no longer count, a coordinator may record what s1
    said, a tutor sees no date of birth and changes nothing, another student gets 404, a
    date in the future is 422. Each change is audited ``consent`` with who made it."""
    sid = world.ids["s1"]
    url = f"/api/v1/students/{sid}/consents"
    r = await client.patch(url, json={"recording_consent": True}, headers=world.as_("s1"))
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "guardians_decide"
    assert "guardians" in r.json()["error"]["message"]

    future = {"date_of_birth": "2999-01-01"}
    r = await client.patch(f"/api/v1/students/{sid}", json=future, headers=world.as_("coord"))
    assert r.status_code == 422, r.text
    born = {"date_of_birth": "2015-06-01"}  # 14 on the fixtures' clock (2030-01-07)
    r = await client.patch(f"/api/v1/students/{sid}", json=born, headers=world.as_("coord"))
    assert r.status_code == 200, r.text
    assert r.json()["date_of_birth"] == "2015-06-01"
    assert r.json()["consents"] == {
        "decides_for_self": True,
        "recording_consent": False,
        "ai_processing_consent": False,
    }

    r = await client.patch(url, json={"recording_consent": True}, headers=world.as_("s1"))
    assert r.status_code == 200, r.text
    assert r.json()["consents"]["recording_consent"] is True
    assert r.json()["consents"]["ai_processing_consent"] is False  # left out: unchanged
    r = await client.patch(url, json={"recording_consent": None}, headers=world.as_("s1"))
    assert r.status_code == 422
    for who, refused in (("t1", (403,)), ("g1", (403,)), ("s2", (404,))):
        r = await client.patch(url, json={"recording_consent": False}, headers=world.as_(who))
        assert r.status_code in refused, (who, r.text)
    r = await client.get(f"/api/v1/students/{sid}", headers=world.as_("t1"))
    assert r.json()["date_of_birth"] is None and r.json()["consents"]["recording_consent"]
    r = await client.patch(url, json={"ai_processing_consent": True}, headers=world.as_("coord"))
    assert r.status_code == 200
    assert r.json()["consents"]["ai_processing_consent"] is True

    log = await client.get(
        "/api/v1/audit",
        params={"student_id": sid, "action": "update"},
        headers=world.as_("coord"),
    )
    made = [(e["resource"], e["actor_id"]) for e in log.json()["items"]]
    assert ("consent", world.users["s1"].id) in made
    assert ("consent", world.users["coord"].id) in made
