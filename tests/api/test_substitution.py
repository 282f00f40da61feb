"""Substitution over REST: a coordinator lists who could stand in, confirms one, all are told."""

from __future__ import annotations

from datetime import timedelta

import httpx
from icalendar import Calendar
from sqlalchemy import select
from starlette.applications import Starlette

from core.clock import FixedClock
from core.ids import new_id
from eventbus.bus import EmbeddedBus
from eventbus.models import OutboxEvent
from eventbus.outbox import DomainEvent
from notifications import Delivery, DeliveryStatus, SubstitutionNotices
from notifications.reminders import queue_due_reminders, withdraw_stale_reminders
from scheduling.bookings import book_session
from scheduling.models import Guardianship, LiveSession, Role, SessionStatus, TutorQualification
from scheduling.people import create_person
from sessions.session_exceptions import detect_due, raise_tutor_no_show
from sessions.substitute_confirmation import substitute_tutor
from tests.conftest import NOW, World
from tests.notifications.test_notifications import FROM, MailServer, dispatcher, settle, smtp
from tests.notifications.test_notifications import mail as mail  # noqa: F401  (the fixture)

SES1_START = NOW + timedelta(hours=1)  # the world's ses1 (t1, s1) and ses2 (t2, s2)


async def _person(app: Starlette, world: World, key: str, role: Role) -> str:
    async with app.state.services.sessionmaker() as db, db.begin():
        pid = await create_person(
            db,
            role,
            org_id=world.ids["orgA"],
            email=f"{key}@schoola.example.org",
            display_name=f"Person {key}",
            password_hash=None,
            now=NOW,
        )
        if role is Role.TUTOR:
            db.add(
                TutorQualification(
                    id=new_id("qal"), tutor_id=pid, subject="maths", level="gcse", created_at=NOW
                )
            )
    world.ids[key] = pid
    return pid


async def _guardian_of_s1(app: Starlette, world: World, key: str, *, email: bool = True) -> None:
    gid = await _person(app, world, key, Role.GUARDIAN)
    async with app.state.services.sessionmaker() as db, db.begin():
        db.add(
            Guardianship(
                id=f"gsp_{key}",
                guardian_id=gid,
                student_id=world.ids["s1"],
                notify_email=email,
                created_at=NOW,
                updated_at=NOW,
            )
        )


async def _stand_ins(app: Starlette, world: World) -> None:
    """t3 taught s1 last week (ranked first); t4 is free and new to s1."""
    t3 = await _person(app, world, "t3", Role.TUTOR)
    await _person(app, world, "t4", Role.TUTOR)
    async with app.state.services.sessionmaker() as db, db.begin():
        past = await book_session(
            db,
            org_id=world.ids["orgA"],
            tutor_id=t3,
            student_ids=[world.ids["s1"]],
            subject="maths",
            scheduled_start=SES1_START - timedelta(days=7),
            scheduled_end=SES1_START - timedelta(days=7, minutes=-60),
            now=NOW,
        )
        past.status = SessionStatus.ENDED


def _url(world: World, what: str) -> str:
    return f"/api/v1/sessions/{world.ids['ses1']}/{what}"


async def _tutor_of_ses1(app: Starlette, world: World) -> str:
    async with app.state.services.sessionmaker() as db:
        live = await db.get(LiveSession, world.ids["ses1"])
        assert live is not None
        return live.tutor_id


async def _substitutions(app: Starlette) -> list[OutboxEvent]:
    async with app.state.services.sessionmaker() as db:
        rows = await db.scalars(
            select(OutboxEvent).where(OutboxEvent.type == "session.tutor_substituted")
        )
        return list(rows)


async def test_a_coordinator_sees_free_qualified_tutors_best_first_with_reasons(
    app: Starlette, world: World, client: httpx.AsyncClient
) -> None:
    """t3 (taught s1 before) then t4; t2 teaches ses2 then and t1 is the tutor replaced."""
    await _stand_ins(app, world)
    r = await client.get(_url(world, "substitutes"), headers=world.as_("coord"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tutor_id"] == world.ids["t1"]
    assert [c["tutor_id"] for c in body["items"]] == [world.ids["t3"], world.ids["t4"]]
    first, second = body["items"]
    assert first["name"] == "Person t3" and first["sessions_with_students"] == 1
    assert "taught Person s1 once before" in first["reasons"]
    assert "qualified for maths at level gcse" in first["reasons"]
    assert "has not taught Person s1 before" in second["reasons"]


async def test_a_confirmed_substitution_changes_the_tutor_resolves_the_no_show_and_tells_everyone(
    app: Starlette, world: World, client: httpx.AsyncClient, clock: FixedClock, mail: MailServer
) -> None:
    """The session gets t3, the tutor_no_show is resolved, and each guardian of s1 and both
    tutors get exactly one email, however often the handler runs; an opted-out guardian none."""
    await _stand_ins(app, world)
    await _guardian_of_s1(app, world, "g3")
    await _guardian_of_s1(app, world, "g4", email=False)
    async with app.state.services.sessionmaker() as db, db.begin():
        live = await db.get(LiveSession, world.ids["ses1"])
        assert live is not None
        exc = await raise_tutor_no_show(db, live, now=NOW, reason="tutor not in the room")
        assert exc is not None
    h = world.as_("coord")

    r = await client.post(
        _url(world, "substitute"),
        json={"tutor_id": world.ids["t3"], "note": "t1 is ill"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["tutor_id"] == world.ids["t3"]
    r = await client.get(f"/api/v1/sessions/{world.ids['ses1']}", headers=h)
    assert r.json()["tutor_id"] == world.ids["t3"]
    r = await client.get("/api/v1/exceptions", params={"session_id": world.ids["ses1"]}, headers=h)
    [row] = r.json()["items"]
    assert row["kind"] == "tutor_no_show" and row["status"] == "resolved"
    assert row["resolved_by"] == world.users["coord"].id
    assert row["note"] == f"substituted by tutor {world.ids['t3']}: t1 is ill"
    [event] = await _substitutions(app)
    assert event.payload == {
        "from_tutor_id": world.ids["t1"],
        "to_tutor_id": world.ids["t3"],
        "by": world.users["coord"].id,
        "student_ids": [world.ids["s1"]],
        "note": "t1 is ill",
    }

    handler = SubstitutionNotices(mail_from=FROM)
    for _ in range(2):  # the bus twice, then the handler by hand: a retry queues nothing new
        await EmbeddedBus(
            app.state.services.sessionmaker, [handler], clock=clock.now
        ).dispatch_once()
    async with app.state.services.sessionmaker() as db, db.begin():
        await handler.handle(db, DomainEvent.from_row(event))
    assert await dispatcher(app, smtp(mail), clock).dispatch_once() == 4
    assert await dispatcher(app, smtp(mail), clock).dispatch_once() == 0
    await settle(mail.inbox, 4)

    inbox = {m["To"]: m for m in mail.inbox.parsed()}
    assert sorted(inbox) == [
        "g1@schoola.example.org",
        "g3@schoola.example.org",
        "t1@schoola.example.org",
        "t3@schoola.example.org",
    ]
    assert (
        inbox["t3@schoola.example.org"]["Subject"] == "You now teach a maths session with Person s1"
    )
    assert (
        inbox["t1@schoola.example.org"]["Subject"]
        == "Your maths session is now taught by Person t3"
    )
    incoming = inbox["t3@schoola.example.org"].get_body(preferencelist=("plain",))
    assert incoming is not None
    assert "Monday 7 January 2030, 10:00 (UTC), in place of Person t1" in incoming.get_content()
    guardian = inbox["g1@schoola.example.org"]
    assert guardian["Subject"] == "Person s1's maths session has a new tutor"
    text = guardian.get_body(preferencelist=("plain",))
    assert text is not None
    assert "will be taught by Person t3 instead of Person t1" in text.get_content()
    # Their calendars follow: the families' and t3's invite names t3 (REQUEST, the
    # session's UID); t1's removes the event (CANCEL).
    for who, method, summary in (
        ("g1", "REQUEST", "maths with Person t3"),
        ("t3", "REQUEST", "maths with Person s1"),
        ("t1", "CANCEL", "maths with Person s1"),
    ):
        [part] = [
            p
            for p in inbox[f"{who}@schoola.example.org"].iter_attachments()
            if p.get_content_type() == "text/calendar"
        ]
        assert part.get_param("method") == method, who
        cal = Calendar.from_ical(part.get_content())
        [vevent] = cal.walk("VEVENT")
        assert str(cal["method"]) == method and str(vevent["summary"]) == summary, who
        assert str(vevent["uid"]).startswith(f"{world.ids['ses1']}@"), who
    async with app.state.services.sessionmaker() as db:
        [skipped] = await db.scalars(
            select(Delivery).where(Delivery.status == DeliveryStatus.SKIPPED)
        )
    assert skipped.guardian_id == world.ids["g4"]
    assert skipped.skip_reason == "guardian turned off email (notify_email)"


async def test_only_coordinators_list_and_confirm_substitutes(
    app: Starlette, world: World, client: httpx.AsyncClient
) -> None:
    """The session's tutor gets 403; a guardian of another child and another org's
    coordinator get 404; nothing changes."""
    await _stand_ins(app, world)
    for who, status in (("t1", 403), ("g2", 404), ("coordB", 404)):
        r = await client.get(_url(world, "substitutes"), headers=world.as_(who))
        assert r.status_code == status, (who, r.text)
        r = await client.post(
            _url(world, "substitute"), json={"tutor_id": world.ids["t3"]}, headers=world.as_(who)
        )
        assert r.status_code == status, (who, r.text)
    assert await _tutor_of_ses1(app, world) == world.ids["t1"]
    assert await _substitutions(app) == []


async def test_a_tutor_busy_then_is_refused_with_the_conflict(
    app: Starlette, world: World, client: httpx.AsyncClient
) -> None:
    """t2 teaches ses2 at the same time: 409 booking_conflict naming ses2; ses1 keeps t1."""
    r = await client.post(
        _url(world, "substitute"), json={"tutor_id": world.ids["t2"]}, headers=world.as_("coord")
    )
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "booking_conflict"
    [detail] = error["details"]
    assert detail["type"] == "tutor_double_booked"
    assert world.ids["ses2"] in detail["message"]
    assert await _tutor_of_ses1(app, world) == world.ids["t1"]
    assert await _substitutions(app) == []


async def test_the_same_tutor_is_refused(
    app: Starlette, world: World, client: httpx.AsyncClient
) -> None:
    """Giving ses1 to t1, its own tutor, is a 422 on `tutor_id` and writes no event."""
    r = await client.post(
        _url(world, "substitute"), json={"tutor_id": world.ids["t1"]}, headers=world.as_("coord")
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["loc"] == ["body", "tutor_id"]
    assert await _substitutions(app) == []


async def test_an_ended_session_cannot_change_tutor(
    app: Starlette, world: World, client: httpx.AsyncClient
) -> None:
    """Listing and confirming both answer 409 naming the state."""
    await _stand_ins(app, world)
    async with app.state.services.sessionmaker() as db, db.begin():
        live = await db.get(LiveSession, world.ids["ses1"])
        assert live is not None
        live.status = SessionStatus.ENDED
    h = world.as_("coord")
    r = await client.get(_url(world, "substitutes"), headers=h)
    assert r.status_code == 409, r.text
    assert "ended" in r.json()["error"]["message"]
    r = await client.post(_url(world, "substitute"), json={"tutor_id": world.ids["t3"]}, headers=h)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "invalid_transition"
    assert "session that is ended" in r.json()["error"]["message"]
    assert await _tutor_of_ses1(app, world) == world.ids["t1"]


async def test_the_replaced_tutor_loses_reminders_and_a_substitute_who_stays_away_is_raised(
    app: Starlette, world: World
) -> None:
    """t1's 1 h reminder for ses1 is queued, then t1 fails to come and t3 stands in: t1's
    pending reminder is withdrawn with the reason, and when t3 does not come either, t3's
    own tutor_no_show is raised ten minutes after the substitution, not at once."""
    await _stand_ins(app, world)
    async with app.state.services.sessionmaker() as db, db.begin():
        # 1 h before ses1 (t1, s1, g1), ses2 (t2, s2, g2) and sesB (tB, sB)
        assert await queue_due_reminders(db, NOW) == 8

    now = SES1_START + timedelta(minutes=15)
    async with app.state.services.sessionmaker() as db, db.begin():
        live = await db.get(LiveSession, world.ids["ses1"])
        assert live is not None
        live.status = SessionStatus.OPEN
    after = timedelta(minutes=10)
    async with app.state.services.sessionmaker() as db, db.begin():
        raised = await detect_due(db, now, tutor_no_show_after=after, recording_wait=after)
        assert [(x.kind.value, x.subject) for x in raised] == [("tutor_no_show", world.ids["t1"])]
        await substitute_tutor(
            db,
            world.ids["ses1"],
            world.ids["t3"],
            org_id=world.ids["orgA"],
            by=world.users["coord"].id,
            now=now,
        )

    async with app.state.services.sessionmaker() as db, db.begin():
        # Withdrawn as of an hour before the start, when it would have gone.
        assert await withdraw_stale_reminders(db, NOW) == 1
        [row] = await db.scalars(select(Delivery).where(Delivery.guardian_id == world.ids["t1"]))
        assert row.status is DeliveryStatus.SKIPPED
        assert row.skip_reason == "another tutor now teaches this session"

    for minutes, expected in ((5, []), (11, [("tutor_no_show", world.ids["t3"])])):
        at = now + timedelta(minutes=minutes)
        async with app.state.services.sessionmaker() as db, db.begin():
            raised = await detect_due(db, at, tutor_no_show_after=after, recording_wait=after)
            assert [(x.kind.value, x.subject) for x in raised] == expected, minutes
