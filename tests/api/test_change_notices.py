"""Cancelling and moving sessions under the notice policy: flagged, evented, and everyone told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from icalendar import Calendar
from sqlalchemy import select, update
from starlette.applications import Starlette

from core.clock import FixedClock
from eventbus.bus import EmbeddedBus
from eventbus.models import OutboxEvent
from eventbus.outbox import DomainEvent
from notifications import ChangeNotices, Delivery, DeliveryKind, DeliveryStatus
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
    handler = ChangeNotices(mail_from=FROM, calendar_domain="liveclass.example")
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
    assert await dispatcher(app, smtp(mail), clock).dispatch_once() == 6  # booked, moved
    await settle(mail.inbox, 6)
    inbox = {m["To"]: m for m in mail.inbox.parsed() if "has moved" in m["Subject"]}
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


def _invite(message: object) -> tuple[str, Calendar]:
    """The email's calendar part: its Content-Type and the VCALENDAR it holds."""
    [part] = [
        p
        for p in message.iter_attachments()  # type: ignore[attr-defined]
        if p.get_content_type() == "text/calendar"
    ]
    return str(part["Content-Type"]), Calendar.from_ical(part.get_content())


async def _mailed(
    app: Starlette, clock: FixedClock, mail: MailServer, subject: str, count: int
) -> dict[str, object]:
    """Queue (twice: retried events queue nothing new), send, and read back by address the
    emails whose subject ends with ``subject``."""
    await _notify(app, clock)
    before = len(mail.inbox.messages)
    assert await dispatcher(app, smtp(mail), clock).dispatch_once() == count
    await settle(mail.inbox, before + count)
    found = {m["To"]: m for m in mail.inbox.parsed()[before:]}
    assert all(m["Subject"].endswith(subject) for m in found.values()), list(found.values())
    assert len(found) == count
    return found


async def test_a_booking_sends_an_invite_that_a_move_updates_and_a_cancellation_removes(
    app: Starlette, world: World, client: httpx.AsyncClient, clock: FixedClock, mail: MailServer
) -> None:
    """t1, s1 and g1 (New York) each get a confirmation with a REQUEST invite; the session,
    moved across the US change to summer time, sends a REQUEST with the same UID and a
    higher SEQUENCE; cancelled, a CANCEL with a higher one still. The invite's times are
    UTC; the text says them in New York's time before and after the change."""
    async with app.state.services.sessionmaker() as db, db.begin():
        await db.execute(
            update(Guardian)
            .where(Guardian.id == world.ids["g1"])
            .values(time_zone="America/New_York")
        )
    h = world.as_("coord")
    start = datetime(2030, 3, 8, 14, 0, tzinfo=UTC)  # Friday, 09:00 EST
    booking = {
        "tutor_id": world.ids["t1"],
        "student_ids": [world.ids["s1"]],
        "subject": "maths",
        "scheduled_start": start.isoformat(),
        "scheduled_end": (start + timedelta(hours=1)).isoformat(),
    }
    r = await client.post("/api/v1/sessions", json=booking, headers=h)
    assert r.status_code == 201, r.text
    ses = r.json()["id"]
    [event] = await _events(app, "session.scheduled")
    assert event.session_id == ses and event.payload["series_id"] is None

    booked = await _mailed(app, clock, mail, "is booked", 3)
    g1 = "g1@schoola.example.org"
    assert sorted(booked) == [g1, "s1@schoola.example.org", "t1@schoola.example.org"]
    assert "Friday 8 March 2030, 09:00 (America/New_York)" in _plain(booked[g1])
    content_type, cal = _invite(booked[g1])
    assert "method=REQUEST" in content_type.replace('"', "")
    [vevent] = cal.walk("VEVENT")
    uid = str(vevent["uid"])
    assert str(cal["method"]) == "REQUEST" and uid == f"{ses}@liveclass.example"
    assert vevent.decoded("dtstart") == start and int(vevent["sequence"]) == 0
    assert str(vevent["attendee"]) == f"mailto:{g1}"
    assert str(vevent["summary"]) == "maths with Person t1"  # a family's: no other child
    tutor_cal = _invite(booked["t1@schoola.example.org"])[1]
    assert str(tutor_cal.walk("VEVENT")[0]["summary"]) == "maths with Person s1"
    first_sequence = int(vevent["sequence"])

    clock.advance(timedelta(minutes=5))
    moved_to = datetime(2030, 3, 11, 14, 0, tzinfo=UTC)  # Monday, 10:00 EDT
    r = await client.patch(
        f"/api/v1/sessions/{ses}",
        json={
            "scheduled_start": moved_to.isoformat(),
            "scheduled_end": (moved_to + timedelta(hours=1)).isoformat(),
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    moved = await _mailed(app, clock, mail, "has moved", 3)
    text = " ".join(_plain(moved[g1]).split())
    assert "Friday 8 March 2030, 09:00 (America/New_York)" in text
    assert "Monday 11 March 2030, 10:00 (America/New_York)" in text
    content_type, cal = _invite(moved[g1])
    [vevent] = cal.walk("VEVENT")
    assert str(cal["method"]) == "REQUEST" and str(vevent["uid"]) == uid
    assert vevent.decoded("dtstart") == moved_to
    assert int(vevent["sequence"]) > first_sequence
    moved_sequence = int(vevent["sequence"])

    clock.advance(timedelta(minutes=5))
    r = await client.post(f"/api/v1/sessions/{ses}/cancel", json={}, headers=h)
    assert r.status_code == 200, r.text
    cancelled = await _mailed(app, clock, mail, "is cancelled", 3)
    content_type, cal = _invite(cancelled["t1@schoola.example.org"])
    [vevent] = cal.walk("VEVENT")
    assert "method=CANCEL" in content_type.replace('"', "")
    assert str(cal["method"]) == "CANCEL" and str(vevent["uid"]) == uid
    assert str(vevent["status"]) == "CANCELLED" and int(vevent["sequence"]) > moved_sequence


async def test_a_series_is_confirmed_once_with_a_calendar_of_all_its_sessions(
    app: Starlette, world: World, client: httpx.AsyncClient, clock: FixedClock, mail: MailServer
) -> None:
    """Four weekly occurrences: four session.scheduled events with the series' id, and one
    email to each of t1, s1 and g1 (not four) saying four and the last date, with a
    PUBLISH calendar holding the four sessions under their own UIDs; cancelling one
    then sends a CANCEL for that UID alone."""
    r = await client.post(
        "/api/v1/series",
        json={
            "tutor_id": world.ids["t1"],
            "student_ids": [world.ids["s1"]],
            "subject": "maths",
            "start_date": "2030-02-04",
            "start_time": "16:00",
            "duration_minutes": 60,
            "rrule": "FREQ=WEEKLY;COUNT=4",
        },
        headers=world.as_("coord"),
    )
    assert r.status_code == 201, r.text
    events = await _events(app, "session.scheduled")
    assert len(events) == 4 and {e.payload["series_id"] for e in events} == {r.json()["id"]}
    booked = await _mailed(app, clock, mail, "and the rest of its series are booked", 3)
    text = " ".join(_plain(booked["g1@schoola.example.org"]).split())
    assert "is the first of 4 sessions booked in this series" in text
    assert "the last is on Monday 25 February 2030" in text
    content_type, cal = _invite(booked["g1@schoola.example.org"])
    assert "method=PUBLISH" in content_type.replace('"', "")
    occurrences = sorted(e.session_id for e in events)
    uids = sorted(str(v["uid"]).split("@")[0] for v in cal.walk("VEVENT"))
    assert uids == occurrences
    async with app.state.services.sessionmaker() as db:
        kinds = list(await db.scalars(select(Delivery.kind)))
    assert kinds.count(DeliveryKind.SESSION_BOOKED) == 3

    first = min(events, key=lambda e: e.payload["scheduled_start"]).session_id
    clock.advance(timedelta(minutes=1))
    r = await client.post(f"/api/v1/sessions/{first}/cancel", json={}, headers=world.as_("coord"))
    assert r.status_code == 200, r.text
    cancelled = await _mailed(app, clock, mail, "is cancelled", 3)
    _, cal = _invite(cancelled["s1@schoola.example.org"])
    [vevent] = cal.walk("VEVENT")
    assert str(cal["method"]) == "CANCEL" and str(vevent["uid"]).startswith(f"{first}@")


async def test_a_booking_whose_confirmation_went_out_is_cancelled_not_deleted(
    app: Starlette, world: World, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    """Deleted before anyone was told, a mistaken booking goes with its event; once its
    confirmation is queued, delete is a 409 that says to cancel (which tells them)."""
    h = world.as_("coord")
    booking = {
        "tutor_id": world.ids["t1"],
        "student_ids": [world.ids["s1"]],
        "subject": "maths",
        "scheduled_start": (NOW + timedelta(days=3)).isoformat(),
        "scheduled_end": (NOW + timedelta(days=3, hours=1)).isoformat(),
    }
    first = (await client.post("/api/v1/sessions", json=booking, headers=h)).json()["id"]
    assert (await client.delete(f"/api/v1/sessions/{first}", headers=h)).status_code == 204
    assert await _events(app, "session.scheduled") == []
    second = (await client.post("/api/v1/sessions", json=booking, headers=h)).json()["id"]
    await _notify(app, clock)
    r = await client.delete(f"/api/v1/sessions/{second}", headers=h)
    assert r.status_code == 409 and "cancel it instead" in r.json()["error"]["message"]
