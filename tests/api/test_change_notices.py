"""Cancelling and moving sessions under the notice policy: flagged, evented, and everyone told."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select, update
from starlette.applications import Starlette

from core.clock import FixedClock
from eventbus.bus import EmbeddedBus
from eventbus.models import OutboxEvent
from eventbus.outbox import DomainEvent
from notifications import ChangeNotices, Delivery, DeliveryStatus
from scheduling.models import Guardian, Tutor
from tests.conftest import NOW, World
from tests.notifications.test_notifications import (
    FROM,
    MailServer,
    dispatcher,
    set_link,
    settle,
    smtp,
)
from tests.notifications.test_notifications import mail as mail  # noqa: F401  (the fixture)


async def _events(app: Starlette, type_: str) -> list[OutboxEvent]:
    async with app.state.services.sessionmaker() as db:
        rows = await db.scalars(
            select(OutboxEvent).where(OutboxEvent.type == type_).order_by(OutboxEvent.seq)
        )
        return list(rows)


async def _notify(app: Starlette, clock: FixedClock) -> ChangeNotices:
    """Run the handler through the bus twice: a retried event must queue nothing new."""
    handler = ChangeNotices(mail_from=FROM)
    for _ in range(2):
        await EmbeddedBus(
            app.state.services.sessionmaker, [handler], clock=clock.now
        ).dispatch_once()
    return handler


def _plain(message: object) -> str:
    body = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    assert body is not None
    return str(body.get_content())


async def test_a_late_cancellation_is_flagged_and_tutor_student_and_guardians_are_told_once(
    app: Starlette, world: World, client: httpx.AsyncClient, clock: FixedClock, mail: MailServer
) -> None:
    """ses1 starts in 1 h; the student's family cancels it. The session and its event say
    it was late, the coordinator can list late cancellations, and t1, s1 and g1 each get
    one email saying so; a guardian who turned email off gets none."""
    h = world.as_("coord")
    r = await client.post(
        f"/api/v1/sessions/{world.ids['ses1']}/cancel",
        json={"requested_by": "student", "reason": "family emergency"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "cancelled" and body["late_cancellation"] is True
    assert body["cancelled_by"] == "student" and body["cancelled_at"].startswith("2030-01-07T09:00")
    [event] = await _events(app, "session.cancelled")
    assert event.payload["late"] is True and event.payload["notice_hours"] == 1.0
    assert event.payload["requested_by"] == "student"
    late = await client.get("/api/v1/sessions", params={"late_cancellation": "true"}, headers=h)
    assert [s["id"] for s in late.json()["items"]] == [world.ids["ses1"]]
    in_time = await client.get("/api/v1/sessions", params={"late_cancellation": "false"}, headers=h)
    assert in_time.json()["items"] == []

    handler = await _notify(app, clock)
    async with app.state.services.sessionmaker() as db, db.begin():
        await handler.handle(db, DomainEvent.from_row(event))  # by hand, once more
    assert await dispatcher(app, smtp(mail), clock).dispatch_once() == 3
    assert await dispatcher(app, smtp(mail), clock).dispatch_once() == 0
    await settle(mail.inbox, 3)
    inbox = {m["To"]: m for m in mail.inbox.parsed()}
    assert sorted(inbox) == [
        "g1@schoola.example.org",
        "s1@schoola.example.org",
        "t1@schoola.example.org",
    ]
    guardian = inbox["g1@schoola.example.org"]
    assert guardian["Subject"] == "Person s1's maths session is cancelled"
    assert (
        "Person s1's maths session with Person t1 on Monday 7 January 2030, 10:00 (UTC) has "
        "been cancelled at the student's request. This was cancelled at short notice "
        "(1.0 hours before the start)." in " ".join(_plain(guardian).split())
    )
    assert inbox["t1@schoola.example.org"]["Subject"] == (
        "Your maths session with Person s1 is cancelled"
    )
    assert inbox["s1@schoola.example.org"]["Subject"] == (
        "Your maths session with Person t1 is cancelled"
    )

    # Once more with g1 opted out of email: a skipped row says why, nothing is sent.
    await set_link(app, world, "g1", notify_email=False)
    r = await client.post(
        f"/api/v1/sessions/{world.ids['ses2']}/cancel", json={}, headers=world.as_("coord")
    )
    assert r.json()["cancelled_by"] == "organisation"
    await set_link(app, world, "g2", notify_email=False)
    await _notify(app, clock)
    async with app.state.services.sessionmaker() as db:
        rows = list(
            await db.scalars(select(Delivery).where(Delivery.session_id == world.ids["ses2"]))
        )
    assert sorted((d.recipient_role.value, d.status.value) for d in rows) == [
        ("guardian", "skipped"),
        ("student", "pending"),
        ("tutor", "pending"),
    ]
    [skipped] = [d for d in rows if d.status is DeliveryStatus.SKIPPED]
    assert skipped.skip_reason == "guardian turned off email (notify_email)"


async def test_a_move_in_good_time_tells_everyone_the_old_and_new_time_in_their_zone(
    app: Starlette, world: World, client: httpx.AsyncClient, clock: FixedClock, mail: MailServer
) -> None:
    """A session three days ahead moved at the tutor's request: not late, one
    session.rescheduled event, and g1 (New York) reads both times in their own zone."""
    async with app.state.services.sessionmaker() as db, db.begin():
        await db.execute(
            update(Guardian)
            .where(Guardian.id == world.ids["g1"])
            .values(time_zone="America/New_York")
        )
        await db.execute(
            update(Tutor).where(Tutor.id == world.ids["t1"]).values(time_zone="Europe/Paris")
        )
    h = world.as_("coord")
    booking = {
        "tutor_id": world.ids["t1"],
        "student_ids": [world.ids["s1"]],
        "subject": "maths",
        "scheduled_start": (NOW + timedelta(days=3)).isoformat(),
        "scheduled_end": (NOW + timedelta(days=3, hours=1)).isoformat(),
    }
    ses = (await client.post("/api/v1/sessions", json=booking, headers=h)).json()["id"]
    new_start = NOW + timedelta(days=4, hours=6)  # Friday 11 January, 15:00 UTC
    r = await client.patch(
        f"/api/v1/sessions/{ses}",
        json={
            "scheduled_start": new_start.isoformat(),
            "scheduled_end": (new_start + timedelta(hours=1)).isoformat(),
            "requested_by": "tutor",
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["late_cancellation"] is None
    # A change that keeps the times (the subject) is no move: no second event.
    r = await client.patch(f"/api/v1/sessions/{ses}", json={"subject": "algebra"}, headers=h)
    assert r.status_code == 200, r.text
    [event] = await _events(app, "session.rescheduled")
    assert event.session_id == ses
    assert event.payload["late"] is False and event.payload["notice_hours"] == 72.0
    assert event.payload["from_start"] == "2030-01-10T09:00:00+00:00"
    assert event.payload["to_start"] == "2030-01-11T15:00:00+00:00"

    await _notify(app, clock)
    assert await dispatcher(app, smtp(mail), clock).dispatch_once() == 3
    await settle(mail.inbox, 3)
    inbox = {m["To"]: m for m in mail.inbox.parsed()}
    guardian = " ".join(_plain(inbox["g1@schoola.example.org"]).split())
    assert (
        "on Thursday 10 January 2030, 04:00 (America/New_York) has moved at the tutor's "
        "request to Friday 11 January 2030, 10:00 (America/New_York)." in guardian
    )
    assert "short notice" not in guardian
    tutor = " ".join(_plain(inbox["t1@schoola.example.org"]).split())
    assert "Thursday 10 January 2030, 10:00 (Europe/Paris)" in tutor
    assert "Friday 11 January 2030, 16:00 (Europe/Paris)" in tutor


async def test_series_changes_emit_one_event_per_occurrence_with_its_own_notice(
    app: Starlette, world: World, client: httpx.AsyncClient
) -> None:
    """Cancelling this-and-following of a weekly series cancels each later occurrence with
    its own session.cancelled (none late: the nearest is days away); moving one emits
    session.rescheduled for that one only."""
    h = world.as_("coord")
    r = await client.post(
        "/api/v1/series",
        json={
            "tutor_id": world.ids["t1"],
            "student_ids": [world.ids["s1"]],
            "subject": "maths",
            "start_date": "2030-01-08",
            "start_time": "16:00",
            "duration_minutes": 60,
            "time_zone": "UTC",
            "rrule": "FREQ=WEEKLY;COUNT=4",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    series = r.json()
    occ = [o["id"] for o in series["occurrences"]]
    url = f"/api/v1/series/{series['id']}/occurrences"
    r = await client.patch(
        f"{url}/{occ[2]}",
        json={"scope": "this_and_following", "cancel": True, "requested_by": "student"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    statuses = [o["status"] for o in r.json()["occurrences"]]
    assert statuses == ["scheduled", "scheduled", "cancelled", "cancelled"]
    assert [o["late_cancellation"] for o in r.json()["occurrences"]] == [None, None, False, False]
    cancelled = await _events(app, "session.cancelled")
    assert sorted(e.session_id for e in cancelled) == sorted(occ[2:])
    assert {e.payload["requested_by"] for e in cancelled} == {"student"}
    r = await client.patch(
        f"{url}/{occ[0]}",
        json={"scope": "this", "scheduled_start": "2030-01-08T17:00:00Z"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    [moved] = await _events(app, "session.rescheduled")
    assert moved.session_id == occ[0]
    assert moved.payload["from_start"] == "2030-01-08T16:00:00+00:00"
    assert moved.payload["notice_hours"] == 31.0 and moved.payload["late"] is False


async def test_a_live_session_cannot_be_cancelled_and_nothing_is_flagged(
    app: Starlette, world: World, client: httpx.AsyncClient
) -> None:
    """Cancelling is for sessions that have not gone live: 409, and no event, no flag."""
    from scheduling.models import LiveSession, SessionStatus

    async with app.state.services.sessionmaker() as db, db.begin():
        live = await db.get(LiveSession, world.ids["ses1"])
        assert live is not None
        live.status = SessionStatus.LIVE
    r = await client.post(
        f"/api/v1/sessions/{world.ids['ses1']}/cancel",
        json={"requested_by": "tutor"},
        headers=world.as_("coord"),
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_transition"
    assert await _events(app, "session.cancelled") == []
    got = await client.get(f"/api/v1/sessions/{world.ids['ses1']}", headers=world.as_("coord"))
    assert got.json()["late_cancellation"] is None and got.json()["cancelled_at"] is None


async def test_giving_a_session_another_tutor_by_edit_tells_everyone_as_a_substitution(
    app: Starlette, world: World, client: httpx.AsyncClient
) -> None:
    """PATCH with a new tutor_id is a substitution too: session.tutor_substituted (which
    emails its guardians and both tutors), and no session.rescheduled when times stay."""
    r = await client.patch(
        f"/api/v1/sessions/{world.ids['ses1']}",
        json={
            "tutor_id": world.ids["t2"],
            "scheduled_start": (NOW + timedelta(hours=3)).isoformat(),
            "scheduled_end": (NOW + timedelta(hours=4)).isoformat(),
        },
        headers=world.as_("coord"),
    )
    assert r.status_code == 200, r.text
    [event] = await _events(app, "session.tutor_substituted")
    assert (event.payload["from_tutor_id"], event.payload["to_tutor_id"]) == (
        world.ids["t1"],
        world.ids["t2"],
    )
    [moved] = await _events(app, "session.rescheduled")
    assert moved.payload["tutor_id"] == world.ids["t2"]
    r = await client.patch(
        f"/api/v1/sessions/{world.ids['ses1']}",
        json={"subject": "algebra"},
        headers=world.as_("coord"),
    )
    assert len(await _events(app, "session.tutor_substituted")) == 1
