"""GET /api/v1/notifications: the guardian email log, for the organisation's coordinators."""

from __future__ import annotations

import httpx
from sqlalchemy import update
from starlette.applications import Starlette

from notifications import queue_guardian_notice
from scheduling.models import Guardianship
from tests.conftest import NOW, World
from tests.notifications.test_notifications import stop_link


async def _seed(app: Starlette, world: World) -> None:
    """s1's guardian gets an absence notice; s2's turned email off; org B has its own."""
    async with app.state.services.sessionmaker() as db, db.begin():
        await db.execute(
            update(Guardianship)
            .where(Guardianship.guardian_id == world.ids["g2"])
            .values(notify_email=False)
        )
        for student, session in (("s1", "ses1"), ("s2", "ses2")):
            await queue_guardian_notice(
                db,
                kind="absence_notice",
                student_id=world.ids[student],
                session_id=world.ids[session],
                event_id=f"evt_{student}",
                context={"stop_link": stop_link},
                now=NOW,
            )


async def test_coordinators_read_their_organisations_log(
    app: Starlette, client: httpx.AsyncClient, world: World
) -> None:
    """A coordinator sees every email of their organisation, with skips and their reasons."""
    await _seed(app, world)
    r = await client.get("/api/v1/notifications", headers=world.as_("coord"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 2
    by_guardian = {d["guardian_id"]: d for d in body["items"]}
    sent = by_guardian[world.ids["g1"]]
    assert sent["status"] == "pending" and sent["kind"] == "absence_notice"
    assert sent["to_address"] == "g1@schoola.example.org"
    assert sent["subject"] == "Person s1 missed a maths session"
    assert sent["session_id"] == world.ids["ses1"] and sent["message_id"].startswith("<")
    skipped = by_guardian[world.ids["g2"]]
    assert skipped["status"] == "skipped" and "notify_email" in skipped["skip_reason"]
    assert "text_body" not in sent and "html_body" not in sent

    other = await client.get("/api/v1/notifications", headers=world.as_("coordB"))
    assert other.status_code == 200 and other.json()["total"] == 0


async def test_the_log_filters_and_pages(
    app: Starlette, client: httpx.AsyncClient, world: World
) -> None:
    """status, kind and session_id narrow the list; limit and offset page it."""
    await _seed(app, world)
    coord = world.as_("coord")

    async def ids(**params: str) -> list[str]:
        r = await client.get("/api/v1/notifications", params=params, headers=coord)
        assert r.status_code == 200, r.text
        return [d["guardian_id"] for d in r.json()["items"]]

    assert await ids(status="skipped") == [world.ids["g2"]]
    assert await ids(status="pending") == [world.ids["g1"]]
    assert await ids(kind="session_summary") == []
    assert await ids(session_id=world.ids["ses1"]) == [world.ids["g1"]]
    page = await client.get("/api/v1/notifications", params={"limit": 1}, headers=coord)
    assert page.json()["total"] == 2 and len(page.json()["items"]) == 1
    bad = await client.get("/api/v1/notifications", params={"status": "lost"}, headers=coord)
    assert bad.status_code == 422


async def test_only_coordinators_may_read_the_log(
    app: Starlette, client: httpx.AsyncClient, world: World
) -> None:
    """Tutors, students and guardians get a 403, even for their own family's emails."""
    await _seed(app, world)
    for who in ("t1", "s1", "g1"):
        r = await client.get("/api/v1/notifications", headers=world.as_(who))
        assert r.status_code == 403, (who, r.text)
        assert r.json()["error"]["code"] == "permission_denied"
    assert (await client.get("/api/v1/notifications")).status_code == 401
