"""Session reminders: 24 h and 1 h before, to tutor, students and guardians, each sent once."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from email.message import EmailMessage

import httpx
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette

from ai_docs import Briefing, BriefingItem
from api.migrate import downgrade, upgrade
from api.workers import lesson_links
from core.clock import FixedClock
from notifications import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    MailDispatcher,
    RecipientRole,
    queue_due_reminders,
)
from notifications.reminders import ReminderSweep, login_required
from scheduling.bookings import book_session
from scheduling.models import Guardian, Guardianship, LiveSession, SessionStatus, Tutor, User
from sessions.documentation import briefing_texts
from sessions.models import BriefingRecord
from sessions.timers import TimerPolicy, sweep_forever
from signaling.errors import JoinTokenError
from signaling.tokens import verify_join_token
from tests.conftest import NOW, World
from tests.notifications.test_notifications import (
    WAIT,
    MailServer,
    dispatcher,
    parts,
    set_link,
    settle,
    smtp,
    stop_link,
)

DOMAIN = "school.example"
SES1_START = NOW + timedelta(hours=1)  # seed_world books ses1, ses2 and sesB then


def address(who: str) -> str:
    return f"{who}@schoola.example.org"


@pytest.fixture
async def mail() -> AsyncIterator[MailServer]:
    server = MailServer()
    await server.start()
    yield server
    await server.stop()


async def call_off(app: Starlette, world: World, *sessions: str) -> None:
    """Set the seeded sessions this test does not look at aside (they start in an hour)."""
    async with app.state.services.sessionmaker() as db, db.begin():
        await db.execute(
            update(LiveSession)
            .where(LiveSession.id.in_([world.ids[s] for s in sessions]))
            .values(status=SessionStatus.CANCELLED)
        )


async def add_guardian(app: Starlette, world: World, guardian: str, student: str) -> None:
    async with app.state.services.sessionmaker() as db, db.begin():
        db.add(
            Guardianship(
                id=f"gsp_{guardian}_{student}",
                guardian_id=world.ids[guardian],
                student_id=world.ids[student],
                created_at=NOW,
                updated_at=NOW,
            )
        )


async def remind(app: Starlette, at: datetime) -> int:
    """One reminder pass at ``at``, committed, as a worker's sweep makes it."""
    async with app.state.services.sessionmaker() as db, db.begin():
        return await queue_due_reminders(db, at, message_domain=DOMAIN, stop_link=stop_link)


async def send(app: Starlette, clock: FixedClock, mail: MailServer, at: datetime) -> int:
    clock.set(at)
    sent: int = await dispatcher(app, smtp(mail), clock).dispatch_once()
    return sent


async def reminders(app: Starlette) -> list[Delivery]:
    async with app.state.services.sessionmaker() as db:
        return list(
            await db.scalars(
                select(Delivery)
                .where(Delivery.kind == DeliveryKind.SESSION_REMINDER)
                .order_by(Delivery.created_at, Delivery.key)
            )
        )


def by_recipient(messages: list[EmailMessage]) -> dict[str, EmailMessage]:
    out = {str(m["To"]): m for m in messages}
    assert len(out) == len(messages), "someone got two of the same reminder"
    return out


async def test_reminders_go_24h_and_1h_before_to_the_tutor_the_student_and_each_guardian(
    app: Starlette,
    world: World,
    clock: FixedClock,
    mail: MailServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nothing until 24 h before; then one email each to tutor, student and both guardians,
    in each one's own zone; again at 1 h; never twice; our logs name nobody."""
    caplog.set_level(logging.DEBUG, logger="liveclass")
    await call_off(app, world, "ses1", "ses2", "sesB")
    await add_guardian(app, world, "g2", "s1")
    start = NOW + timedelta(days=2)  # Wednesday 9 January 2030, 09:00 UTC
    async with app.state.services.sessionmaker() as db, db.begin():
        await db.execute(
            update(Tutor).where(Tutor.id == world.ids["t1"]).values(time_zone="Asia/Tokyo")
        )
        await db.execute(
            update(Guardian)
            .where(Guardian.id == world.ids["g1"])
            .values(time_zone="America/New_York")
        )
        await db.execute(
            update(User)
            .where(User.id == world.users["s1"].id)
            .values(display_name="Zoë <b>Bold</b>")
        )
        lesson = await book_session(
            db,
            org_id=world.ids["orgA"],
            tutor_id=world.ids["t1"],
            student_ids=[world.ids["s1"]],
            subject="maths",
            scheduled_start=start,
            scheduled_end=start + timedelta(hours=1),
            now=NOW,
        )

    assert await remind(app, NOW) == 0
    assert await remind(app, start - timedelta(hours=24, seconds=1)) == 0
    assert await send(app, clock, mail, start - timedelta(hours=24, seconds=1)) == 0

    day_before = start - timedelta(hours=24)
    assert await remind(app, day_before) == 4
    assert await remind(app, day_before + timedelta(minutes=10)) == 0  # never twice
    assert await send(app, clock, mail, day_before + timedelta(minutes=10)) == 4
    first = by_recipient(mail.inbox.parsed())
    assert set(first) == {address("t1"), address("s1"), address("g1"), address("g2")}
    tutor, student, guardian = first[address("t1")], first[address("s1")], first[address("g1")]
    assert tutor["Subject"] == "Reminder: your maths session in 24 hours"
    assert student["Subject"] == "Reminder: your maths session in 24 hours"
    assert guardian["Subject"] == "Reminder: Zoë <b>Bold</b>'s maths session in 24 hours"
    text, _ = parts(tutor)
    assert "Wednesday 9 January 2030, 18:00 (Asia/Tokyo)" in text
    assert "Your maths session with Zoë <b>Bold</b> starts" in text
    text, _ = parts(student)
    assert "Your maths session with Person t1 starts Wednesday 9 January 2030, 09:00 (UTC)" in text
    text, html = parts(guardian)
    assert "Wednesday 9 January 2030, 04:00 (America/New_York)" in text
    assert "Zoë <b>Bold</b>'s maths session with Person t1" in text
    assert "Zoë &lt;b&gt;Bold&lt;/b&gt;" in html and "<b>Bold</b>" not in html
    assert "09:00 (UTC)" in parts(first[address("g2")])[0]
    # A guardian's reminder carries its one-click stop; the tutor's and student's do not.
    stop = guardian["List-Unsubscribe"].strip("<>")
    assert "/unsubscribe/" in stop and f"Stop these reminders with one click: {stop}" in text
    assert guardian["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert tutor["List-Unsubscribe"] is None and student["List-Unsubscribe"] is None

    hour_before = start - timedelta(hours=1)
    assert await remind(app, hour_before - timedelta(seconds=1)) == 0
    assert await remind(app, hour_before) == 4
    assert await send(app, clock, mail, hour_before) == 4
    second = by_recipient(mail.inbox.parsed()[4:])
    assert set(second) == set(first)
    assert {m["Subject"] for m in second.values()} == {
        "Reminder: your maths session in 1 hour",
        "Reminder: Zoë <b>Bold</b>'s maths session in 1 hour",
    }
    assert not {m["Message-ID"] for m in second.values()} & {
        m["Message-ID"] for m in first.values()
    }

    assert await remind(app, start - timedelta(minutes=30)) == 0
    assert await send(app, clock, mail, start - timedelta(minutes=30)) == 0
    await settle(mail.inbox, 8)
    rows = await reminders(app)
    assert {r.session_id for r in rows} == {lesson.id}
    assert {r.recipient_role for r in rows} == set(RecipientRole)
    logged = " ".join(
        f"{r.getMessage()} {getattr(r, 'fields', {})}"
        for r in caplog.records
        if r.name.startswith("liveclass")
    )
    assert "reminder queued" in logged
    for secret in ("schoola", "Zoë", "Person"):
        assert secret not in logged


async def test_a_session_booked_within_the_hour_gets_only_its_1h_reminder(
    app: Starlette, world: World, clock: FixedClock, mail: MailServer
) -> None:
    """A reminder whose moment passed before it could go is left out, not sent late."""
    await call_off(app, world, "ses2", "sesB")
    half_hour_before = SES1_START - timedelta(minutes=30)
    assert await remind(app, half_hour_before) == 3
    assert await remind(app, SES1_START - timedelta(minutes=5)) == 0
    assert await send(app, clock, mail, SES1_START - timedelta(minutes=5)) == 3
    await settle(mail.inbox, 3)
    messages = by_recipient(mail.inbox.parsed())
    assert set(messages) == {address("t1"), address("s1"), address("g1")}
    assert {m["Subject"] for m in messages.values()} == {
        "Reminder: your maths session in 30 minutes",
        "Reminder: Person s1's maths session in 30 minutes",
    }
    assert all(":1h:" in r.key for r in await reminders(app))


async def test_guardians_who_turned_off_reminders_or_email_get_none_and_the_log_says_why(
    app: Starlette, world: World, clock: FixedClock, mail: MailServer
) -> None:
    """notify_reminders off, or notify_email off: a skipped row with the reason, no email;
    the tutor and the student still get theirs."""
    await call_off(app, world, "ses2", "sesB")
    await add_guardian(app, world, "g2", "s1")
    await set_link(app, world, "g1", notify_reminders=False)
    await set_link(app, world, "g2", notify_email=False)

    assert await remind(app, NOW) == 2
    assert await send(app, clock, mail, NOW) == 2
    await settle(mail.inbox, 2)
    assert set(by_recipient(mail.inbox.parsed())) == {address("t1"), address("s1")}
    rows = {r.guardian_id: r for r in await reminders(app)}
    g1, g2 = rows[world.ids["g1"]], rows[world.ids["g2"]]
    assert g1.status is g2.status is DeliveryStatus.SKIPPED
    assert g1.skip_reason is not None and "notify_reminders" in g1.skip_reason
    assert g2.skip_reason is not None and "notify_email" in g2.skip_reason
    assert g1.text_body is None and g2.html_body is None
    assert await remind(app, NOW + timedelta(minutes=1)) == 0  # skipped rows stand too
    assert len(await reminders(app)) == 4


async def test_a_tutor_who_turned_off_reminders_gets_none_and_others_still_do(
    app: Starlette,
    world: World,
    clock: FixedClock,
    mail: MailServer,
    client: httpx.AsyncClient,
) -> None:
    """t1 turns their own reminders off: a skipped row says so, s1 and g1 still get theirs.
    A guardian is pointed to their per-child setting; a coordinator sees and can restore it."""
    await call_off(app, world, "ses2", "sesB")
    r = await client.patch(
        "/api/v1/me/preferences", json={"notify_reminders": False}, headers=world.as_("t1")
    )
    assert r.status_code == 200 and r.json() == {"notify_reminders": False}
    r = await client.patch(
        "/api/v1/me/preferences", json={"notify_reminders": False}, headers=world.as_("g1")
    )
    assert r.status_code == 409 and "/api/v1/guardians/" in r.json()["error"]["message"]
    tutor = await client.get(f"/api/v1/tutors/{world.ids['t1']}", headers=world.as_("coord"))
    assert tutor.json()["notify_reminders"] is False

    assert await remind(app, NOW) == 2
    assert await send(app, clock, mail, NOW) == 2
    await settle(mail.inbox, 2)
    assert set(by_recipient(mail.inbox.parsed())) == {address("s1"), address("g1")}
    [t1] = [r for r in await reminders(app) if r.guardian_id == world.ids["t1"]]
    assert t1.status is DeliveryStatus.SKIPPED
    assert t1.skip_reason == "tutor turned off session reminders (notify_reminders)"

    r = await client.patch(
        f"/api/v1/tutors/{world.ids['t1']}",
        json={"notify_reminders": True},
        headers=world.as_("coord"),
    )
    assert r.status_code == 200 and r.json()["notify_reminders"] is True


async def test_a_cancelled_session_gets_no_reminders_and_loses_queued_ones(
    app: Starlette, world: World, client: httpx.AsyncClient, clock: FixedClock, mail: MailServer
) -> None:
    """A session cancelled before its reminders get none; one cancelled while its reminders
    wait to be sent has them withdrawn, with the reason in the log."""
    await call_off(app, world, "sesB")
    r = await client.post(
        f"/api/v1/sessions/{world.ids['ses2']}/cancel", json={}, headers=world.as_("coord")
    )
    assert r.status_code == 200, r.text
    assert await remind(app, NOW) == 3  # ses1 only
    r = await client.post(
        f"/api/v1/sessions/{world.ids['ses1']}/cancel", json={}, headers=world.as_("coord")
    )
    assert r.status_code == 200, r.text

    assert await remind(app, NOW + timedelta(seconds=5)) == 0
    assert await send(app, clock, mail, NOW + timedelta(seconds=5)) == 0
    await settle(mail.inbox, 0)
    rows = await reminders(app)
    assert {r.session_id for r in rows} == {world.ids["ses1"]}
    assert {r.status for r in rows} == {DeliveryStatus.SKIPPED}
    assert all(r.skip_reason == "the session is cancelled" for r in rows)


async def test_reminders_still_waiting_when_the_session_starts_are_not_sent(
    app: Starlette, world: World, clock: FixedClock, mail: MailServer
) -> None:
    """Mail was down for the whole last hour: nobody gets "starts in 1 hour" after the start."""
    await call_off(app, world, "ses2", "sesB")
    assert await remind(app, NOW) == 3
    assert await remind(app, SES1_START) == 0
    assert await send(app, clock, mail, SES1_START) == 0
    await settle(mail.inbox, 0)
    rows = await reminders(app)
    assert len(rows) == 3 and {r.status for r in rows} == {DeliveryStatus.SKIPPED}
    assert all(r.skip_reason and "started" in r.skip_reason for r in rows)


async def test_a_moved_session_gets_reminders_for_its_new_time(
    app: Starlette, world: World, client: httpx.AsyncClient, clock: FixedClock, mail: MailServer
) -> None:
    """Moved after its reminders went: everyone hears the new time; moved again before they
    went: only the newest time is ever sent."""
    await call_off(app, world, "ses2", "sesB")
    assert await remind(app, NOW) == 3
    assert await send(app, clock, mail, NOW) == 3

    async def move(hour: int) -> None:
        r = await client.patch(
            f"/api/v1/sessions/{world.ids['ses1']}",
            json={
                "scheduled_start": NOW.replace(hour=hour).isoformat(),
                "scheduled_end": NOW.replace(hour=hour + 1).isoformat(),
            },
            headers=world.as_("coord"),
        )
        assert r.status_code == 200, r.text

    clock.set(NOW)
    await move(13)
    assert await remind(app, NOW) == 3  # queued for 13:00, not sent yet
    await move(15)
    assert await remind(app, NOW) == 3  # the 13:00 ones are withdrawn for these
    assert await send(app, clock, mail, NOW) == 3
    assert await remind(app, NOW.replace(hour=14)) == 3
    assert await send(app, clock, mail, NOW.replace(hour=14)) == 3
    await settle(mail.inbox, 9)

    def says(m: EmailMessage) -> str:
        return parts(m)[0]

    first, *after = [mail.inbox.parsed()[i : i + 3] for i in (0, 3, 6)]
    assert all("Monday 7 January 2030, 10:00 (UTC)" in says(m) for m in first)
    for batch in after:
        assert set(by_recipient(batch)) == {address("t1"), address("s1"), address("g1")}
        assert all("Monday 7 January 2030, 15:00 (UTC)" in says(m) for m in batch)
    assert not any("13:00" in says(m) for m in mail.inbox.parsed())


async def test_two_workers_queueing_at_once_write_and_send_each_reminder_once(
    app: Starlette, world: World, clock: FixedClock, mail: MailServer
) -> None:
    """A second worker that cannot yet see the first one's reminders writes none of its own;
    two passes and two dispatchers running together: one email per person per reminder."""
    await call_off(app, world, "ses2", "sesB")
    await add_guardian(app, world, "g2", "s1")
    sessionmaker = app.state.services.sessionmaker

    async with sessionmaker() as first, first.begin():
        assert await queue_due_reminders(first, NOW, message_domain=DOMAIN) == 4
        # Not committed yet: the second worker's read finds nothing, and its insert
        # has to wait for this transaction (PostgreSQL: the key's index; SQLite: the lock).
        second = asyncio.ensure_future(remind(app, NOW))
        await asyncio.sleep(0.2 * WAIT)
        assert not second.done()  # it is waiting on this transaction's reminders
    assert await second == 0

    async def drain(d: MailDispatcher) -> int:
        total = 0
        while True:
            total += await d.dispatch_once()
            if not [r for r in await reminders(app) if r.status is DeliveryStatus.PENDING]:
                return total
            await asyncio.sleep(0)

    async def two_dispatchers(at: datetime) -> int:
        clock.set(at)
        a, b = (dispatcher(app, smtp(mail), clock, batch=1) for _ in range(2))
        return sum(await asyncio.gather(drain(a), drain(b)))

    assert await two_dispatchers(NOW) == 4

    start = NOW + timedelta(days=3)
    async with sessionmaker() as db, db.begin():
        await book_session(
            db,
            org_id=world.ids["orgA"],
            tutor_id=world.ids["t1"],
            student_ids=[world.ids["s1"]],
            subject="maths",
            scheduled_start=start,
            scheduled_end=start + timedelta(hours=1),
            now=NOW,
        )
    day_before = start - timedelta(hours=24)
    assert sum(await asyncio.gather(remind(app, day_before), remind(app, day_before))) == 4
    assert await two_dispatchers(day_before) == 4
    await settle(mail.inbox, 8)
    seen = [(m["To"], m["Subject"]) for m in mail.inbox.parsed()]
    assert len(set(seen)) == 8  # 1 h (ses1) and 24 h (the new lesson) for each person
    assert {to for to, _ in seen} == {address(w) for w in ("t1", "s1", "g1", "g2")}
    assert len(await reminders(app)) == 8


async def test_reminders_sent_once_with_two_workers(
    app: Starlette, world: World, clock: FixedClock, mail: MailServer
) -> None:
    """Two lifecycle sweeps and two mail dispatchers running side by side, as two
    ``liveclass worker`` processes do: each person gets the reminder exactly once."""
    await call_off(app, world, "ses2", "sesB")
    sessionmaker = app.state.services.sessionmaker
    policy = TimerPolicy()
    steps = [ReminderSweep(message_domain=DOMAIN)]
    stop = asyncio.Event()  # stopped between steps, as a worker stops them
    tasks = [
        asyncio.create_task(
            sweep_forever(sessionmaker, clock.now, policy, interval=0.01, stop=stop, steps=steps)
        ),
        asyncio.create_task(
            sweep_forever(sessionmaker, clock.now, policy, interval=0.01, stop=stop, steps=steps)
        ),
        asyncio.create_task(dispatcher(app, smtp(mail), clock).run_forever(0.01, stop=stop)),
        asyncio.create_task(dispatcher(app, smtp(mail), clock).run_forever(0.01, stop=stop)),
    ]
    try:
        async with asyncio.timeout(10 * WAIT):
            while len(mail.inbox.messages) < 3:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.5 * WAIT)  # many more sweeps and dispatches
    finally:
        stop.set()
        async with asyncio.timeout(10 * WAIT):
            for result in await asyncio.gather(*tasks, return_exceptions=True):
                assert result is None, result
    await settle(mail.inbox, 3)
    messages = by_recipient(mail.inbox.parsed())
    assert set(messages) == {address("t1"), address("s1"), address("g1")}
    assert all(m["Message-ID"].endswith(f"@{DOMAIN}>") for m in messages.values())
    assert {r.status for r in await reminders(app)} == {DeliveryStatus.SENT}


async def test_0009_downgrade_drops_reminders_and_keeps_guardian_emails(
    empty_database: str,
) -> None:
    """Stepping back to 0008 removes reminders (tutors' and students' rows have no place
    there) and keeps guardian emails; going up again marks those as guardians'."""
    engine = create_async_engine(empty_database)
    row = (
        "INSERT INTO notification_deliveries (id, key, org_id, guardian_id, student_id, kind, "
        "to_address, message_id, status, attempts, created_at) VALUES "
        "(:id, :id, 'org_1', 'gua_1', 'stu_1', :kind, 'a@b.example', '<m>', 'sent', 1, "
        "'2030-01-07 09:00:00')"
    )
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO organizations (id, name, created_at) "
                    "VALUES ('org_1', 'A', '2030-01-07 09:00:00')"
                )
            )
            await conn.execute(text(row), {"id": "dlv_1", "kind": "absence_notice"})
            await conn.execute(text(row), {"id": "dlv_2", "kind": "session_reminder"})
        await downgrade(engine, "0008")
        async with engine.connect() as conn:
            ids = (await conn.execute(text("SELECT id FROM notification_deliveries"))).all()
        assert [i for (i,) in ids] == ["dlv_1"]
        await upgrade(engine)
        async with engine.connect() as conn:
            roles = (
                await conn.execute(text("SELECT recipient_role FROM notification_deliveries"))
            ).all()
        assert roles == [("guardian",)]
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("born", "allowed", "login"),
    [
        (None, [], True),  # age unknown, nobody to allow it: log in
        (None, [True], False),  # every guardian allowed the direct link
        (date(2015, 1, 1), [True, False], True),  # one guardian did not
        (date(2012, 1, 8), [], True),  # 17 (18 tomorrow)
        (date(2012, 1, 7), [], False),  # 18 today: an adult's link
    ],
)
def test_a_minors_reminder_link_asks_for_a_login_unless_every_guardian_allowed_it(
    born: date | None, allowed: list[bool], login: bool
) -> None:
    assert login_required(born, allowed, today=date(2030, 1, 7)) is login


async def test_the_tutors_and_students_reminders_link_into_that_lesson(
    app: Starlette, world: World, clock: FixedClock, mail: MailServer, client: httpx.AsyncClient
) -> None:
    """ses1 starts in an hour. t1's reminder links to its lesson page with a join token
    for t1 and ses1 alone, good until shortly after its end; s1 (no date of birth: a
    minor) gets the page's address only, behind a login; g1's reminder has no link.
    Once g1 allows it (the family portal's API), s1's next reminder lets them in."""
    await call_off(app, world, "ses2", "sesB")
    settings, secret = app.state.services.settings, app.state.services.secret
    ses = world.ids["ses1"]

    async def remind_with_links(at: datetime) -> int:
        async with app.state.services.sessionmaker() as db, db.begin():
            return await queue_due_reminders(
                db, at, message_domain=DOMAIN, lesson_link=lesson_links(settings, secret=secret)
            )

    assert await remind_with_links(NOW) == 3
    assert await send(app, clock, mail, NOW) == 3
    await settle(mail.inbox, 3)
    inbox = by_recipient(mail.inbox.parsed())
    page = f"{settings.public_url}/join/{ses}"
    tutor_text, _ = parts(inbox[address("t1")])
    [token] = re.findall(rf"{re.escape(page)}\?token=(\S+)", tutor_text)
    grant = verify_join_token(token, secret=secret, session_id=ses, now=NOW)
    assert grant.participant_id == world.users["t1"].id and grant.role == "tutor"
    assert grant.expires_at == SES1_START + timedelta(
        hours=1, seconds=settings.join_token_grace_seconds
    )
    with pytest.raises(JoinTokenError):  # another session's room: refused
        verify_join_token(token, secret=secret, session_id=world.ids["ses2"], now=NOW)
    with pytest.raises(JoinTokenError):  # after the window: refused
        verify_join_token(token, secret=secret, session_id=ses, now=grant.expires_at)
    student_text, _ = parts(inbox[address("s1")])
    assert f"(you will be asked to log in first): {page}\r\n" in student_text
    assert "token=" not in student_text
    guardian_text, _ = parts(inbox[address("g1")])
    assert "/join/" not in guardian_text

    r = await client.patch(
        f"/api/v1/guardians/{world.ids['g1']}/students/{world.ids['s1']}",
        json={"join_without_login": True},
        headers=world.as_("g1"),
    )
    assert r.status_code == 200, r.text
    async with app.state.services.sessionmaker() as db, db.begin():
        await db.execute(  # the session moves by an hour: a new pass of reminders
            update(LiveSession)
            .where(LiveSession.id == ses)
            .values(
                scheduled_start=SES1_START + timedelta(minutes=30),
                scheduled_end=SES1_START + timedelta(minutes=90),
            )
        )
    assert await remind_with_links(NOW + timedelta(minutes=31)) == 3
    assert await send(app, clock, mail, NOW + timedelta(minutes=31)) == 3
    await settle(mail.inbox, 6)
    again = by_recipient(mail.inbox.parsed()[3:])
    student_text, _ = parts(again[address("s1")])
    [token] = re.findall(rf"{re.escape(page)}\?token=(\S+)", student_text)
    assert verify_join_token(token, secret=secret, session_id=ses, now=NOW).participant_id == (
        world.users["s1"].id
    )


async def test_the_tutors_reminder_carries_each_students_briefing_and_audits_it(
    app: Starlette, world: World, clock: FixedClock, mail: MailServer, client: httpx.AsyncClient
) -> None:
    """ses1 has a briefing for s1: t1's reminder lists what is still difficult and what to
    focus on under s1's name; s1's and g1's reminders do not; the audit log has t1's read
    of s1's briefing by email."""
    await call_off(app, world, "ses2", "sesB")
    briefing = Briefing(
        open_difficulties=[
            BriefingItem(text="adding fractions with unlike denominators", documents=[0])
        ],
        suggested_focus=[BriefingItem(text="common denominators first", documents=[0])],
        based_on=1,
        drafted_by="offline",
    )
    async with app.state.services.sessionmaker() as db, db.begin():
        db.add(
            BriefingRecord(
                session_id=world.ids["ses1"],
                student_id=world.ids["s1"],
                source_session_id=world.ids["ses1"],
                content=briefing.model_dump(mode="json"),
                created_at=NOW,
            )
        )
    async with app.state.services.sessionmaker() as db, db.begin():
        assert await queue_due_reminders(db, NOW, briefings=briefing_texts) == 3
    assert await send(app, clock, mail, NOW) == 3
    await settle(mail.inbox, 3)
    inbox = by_recipient(mail.inbox.parsed())
    tutor_text, tutor_html = parts(inbox[address("t1")])
    assert (
        "Before the lesson, from your last lessons together:\r\n\r\nPerson s1\r\n"
        "Still difficult: adding fractions with unlike denominators\r\n"
        "Suggested focus: common denominators first" in tutor_text
    )
    assert "common denominators first" in tutor_html
    for who in ("s1", "g1"):
        assert "Still difficult" not in parts(inbox[address(who)])[0], who
    log = await client.get(
        "/api/v1/audit",
        params={"student_id": world.ids["s1"], "actor_id": world.users["t1"].id},
        headers=world.as_("coord"),
    )
    assert [(e["resource"], e["action"], e["route"]) for e in log.json()["items"]] == [
        ("briefing", "read", "email: session reminder")
    ]
