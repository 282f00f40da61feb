"""Guardian emails: queued from events with consent, sent through a real SMTP server once."""

from __future__ import annotations

import asyncio
import email
import html as html_module
import ipaddress
import logging
import os
import signal
import socket
import ssl as ssl_module
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError
from sqlalchemy import func, select, update
from starlette.applications import Starlette

from api.settings import Settings
from core.clock import FixedClock
from eventbus.bus import EmbeddedBus
from eventbus.outbox import DomainEvent
from notifications import (
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    GuardianNotices,
    MailDispatcher,
    MailRetry,
    MailTransport,
    SmtpTransport,
    build_transport,
    queue_guardian_notice,
)
from notifications._smtp import hold
from notifications.templates import approval_note
from notifications.unsubscribe import Stop, stop_token
from scheduling.models import Guardian, Guardianship, User
from sessions.events import record
from tests.conftest import NOW, SECRET, World

WAIT = float(os.environ.get("LIVECLASS_TEST_WAIT_FACTOR", "1"))
FROM = "Liveclass <no-reply@school.example>"
APP_URL = "https://liveclass.school.example/app"


def stop_link(stop: Stop) -> str:
    """A guardian email's one-click stop, as the handler would make it."""
    return f"https://liveclass.school.example/unsubscribe/{stop_token(stop, secret=SECRET)}"


SUMMARY = "Worked through fractions <carefully>; practise 10 minutes a day."


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what it accepted; ``refuse`` answers the first DATAs."""

    messages: list[Envelope] = field(default_factory=list)
    refuse: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        if self.refuse:
            return self.refuse.pop(0)
        self.messages.append(envelope)
        return "250 Message accepted for delivery"

    def parsed(self) -> list[EmailMessage]:
        out = []
        for envelope in self.messages:
            assert isinstance(envelope.content, bytes)
            msg = email.message_from_bytes(envelope.content, policy=default_policy)
            assert isinstance(msg, EmailMessage)
            out.append(msg)
        return out


class MailServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1, in the test's event loop.

    ``protocol`` builds each connection's ``aiosmtpd.smtp.SMTP`` (TLS, AUTH);
    ``ssl`` makes it an implicit-TLS (smtps) listener.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        protocol: Callable[[Inbox], SMTPServer] | None = None,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        self.inbox = Inbox()
        self.port = port
        self._protocol = protocol
        self._ssl = ssl
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def protocol() -> SMTPServer:
            if self._protocol is not None:
                return self._protocol(self.inbox)
            return SMTPServer(self.inbox, hostname="mail.test", loop=loop)

        self._server = await loop.create_server(protocol, "127.0.0.1", self.port, ssl=self._ssl)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


@pytest.fixture
async def mail() -> AsyncIterator[MailServer]:
    server = MailServer()
    await server.start()
    yield server
    await server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def smtp(server: MailServer) -> SmtpTransport:
    return SmtpTransport.from_url(server.url, timeout=5 * WAIT)


def dispatcher(app: Starlette, transport: MailTransport, clock: FixedClock, **kw: Any) -> Any:
    return MailDispatcher(
        app.state.services.sessionmaker, transport, clock=clock.now, mail_from=FROM, **kw
    )


async def set_link(app: Starlette, world: World, guardian: str, **values: Any) -> None:
    async with app.state.services.sessionmaker() as db, db.begin():
        await db.execute(
            update(Guardianship)
            .where(Guardianship.guardian_id == world.ids[guardian])
            .values(**values)
        )


async def raise_absence(app: Starlette, world: World, *students: str) -> list[str]:
    async with app.state.services.sessionmaker() as db, db.begin():
        rows = [
            record(
                db,
                "exception.raised",
                session_id=world.ids["ses1"],
                at=NOW,
                payload={"kind": "student_absent", "student_id": world.ids[s]},
            )
            for s in students
        ]
    return [r.id for r in rows]


async def run_handlers(app: Starlette, clock: FixedClock) -> None:
    bus = EmbeddedBus(
        app.state.services.sessionmaker,
        [GuardianNotices(app_url=APP_URL, secret=SECRET, mail_from=FROM)],
        clock=clock.now,
    )
    await bus.dispatch_once()


async def deliveries(app: Starlette) -> list[Delivery]:
    async with app.state.services.sessionmaker() as db:
        return list(await db.scalars(select(Delivery).order_by(Delivery.guardian_id)))


async def settle(inbox: Inbox, count: int) -> None:
    """Give the server time to act on what it was sent (it never should beyond ``count``)."""
    for _ in range(int(20 * WAIT)):
        await asyncio.sleep(0.02)
    assert len(inbox.messages) == count


def parts(msg: EmailMessage) -> tuple[str, str]:
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


async def test_absence_notice_reaches_the_guardian_in_their_time_zone(
    app: Starlette,
    world: World,
    clock: FixedClock,
    mail: MailServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The guardian gets one email, text and HTML, naming the child, subject and local time;
    our logs name neither child nor guardian."""
    caplog.set_level(logging.DEBUG, logger="liveclass")
    async with app.state.services.sessionmaker() as db, db.begin():
        await db.execute(
            update(Guardian)
            .where(Guardian.id == world.ids["g1"])
            .values(time_zone="America/New_York")
        )
        await db.execute(
            update(User)
            .where(User.id == world.users["s1"].id)
            .values(display_name="Zoë <b>Bold</b> & Co")
        )
    await raise_absence(app, world, "s1")
    await run_handlers(app, clock)

    assert await dispatcher(app, smtp(mail), clock).dispatch_once() == 1

    [envelope] = mail.inbox.messages
    assert envelope.rcpt_tos == ["g1@schoola.example.org"]
    assert envelope.mail_from == "no-reply@school.example"
    [msg] = mail.inbox.parsed()
    [row] = await deliveries(app)
    assert row.status is DeliveryStatus.SENT and row.sent_at == NOW and row.attempts == 1
    assert msg["Message-ID"] == row.message_id
    assert row.message_id.endswith("@school.example>")
    assert msg["Subject"] == "Zoë <b>Bold</b> & Co missed a maths session"
    assert msg["To"] == "g1@schoola.example.org"
    text, html = parts(msg)
    # The session starts 10:00 UTC: five in the morning in New York, in winter.
    assert "Monday 7 January 2030, 05:00 (America/New_York)" in text
    assert "Zoë <b>Bold</b> & Co did not join the maths session" in text
    assert "Monday 7 January 2030, 05:00 (America/New_York)" in html
    assert "Zoë &lt;b&gt;Bold&lt;/b&gt; &amp; Co" in html
    assert "<b>Bold</b>" not in html
    # Nothing more to send: a second pass sends nothing again.
    assert await dispatcher(app, smtp(mail), clock).dispatch_once() == 0
    await settle(mail.inbox, 1)
    ours = [r for r in caplog.records if r.name.startswith("liveclass")]
    assert any(getattr(r, "fields", {}).get("delivery") == row.id for r in ours)
    logged = " ".join(f"{r.getMessage()} {getattr(r, 'fields', {})}" for r in ours)
    for secret in ("g1@schoola", "Zoë", "Bold", "Person g1"):
        assert secret not in logged


async def test_without_smtp_emails_are_written_to_the_outbox_folder(
    app: Starlette, world: World, clock: FixedClock, settings: Settings
) -> None:
    """No LIVECLASS_SMTP_URL: each email is one whole .eml file named by its delivery id."""
    assert settings.smtp_url is None
    await raise_absence(app, world, "s1")
    await run_handlers(app, clock)
    d = MailDispatcher.from_settings(app.state.services.sessionmaker, settings, clock=clock.now)
    assert await d.dispatch_once() == 1

    [row] = await deliveries(app)
    outbox = settings.data_dir / "outbox"
    assert sorted(p.name for p in outbox.iterdir()) == [f"{row.id}.eml"]
    msg = email.message_from_bytes((outbox / f"{row.id}.eml").read_bytes(), policy=default_policy)
    assert isinstance(msg, EmailMessage)
    assert msg["To"] == "g1@schoola.example.org"
    assert msg["Message-ID"] == row.message_id
    text, _ = parts(msg)
    assert "Person s1 did not join the maths session" in text
    assert row.status is DeliveryStatus.SENT


async def test_guardians_who_opted_out_get_no_email_and_the_log_says_why(
    app: Starlette, world: World, clock: FixedClock, mail: MailServer
) -> None:
    """notify_email off, or notify_absences off: a skipped row with the reason, nothing sent."""
    await set_link(app, world, "g1", notify_absences=False)
    await set_link(app, world, "g2", notify_email=False)
    await raise_absence(app, world, "s1", "s2")
    await run_handlers(app, clock)

    assert await dispatcher(app, smtp(mail), clock).dispatch_once() == 0
    await settle(mail.inbox, 0)
    rows = {r.guardian_id: r for r in await deliveries(app)}
    g1, g2 = rows[world.ids["g1"]], rows[world.ids["g2"]]
    assert g1.status is g2.status is DeliveryStatus.SKIPPED
    assert g1.skip_reason is not None and "notify_absences" in g1.skip_reason
    assert g2.skip_reason is not None and "notify_email" in g2.skip_reason
    assert g1.text_body is None and g2.html_body is None and g1.attempts == 0


async def test_no_summary_email_without_ai_processing_consent(
    app: Starlette, world: World, clock: FixedClock, mail: MailServer
) -> None:
    """An approved summary goes only to guardians who consented to AI processing."""
    await set_link(app, world, "g1", ai_processing_consent=True)
    await set_link(app, world, "g2", ai_processing_consent=False)
    async with app.state.services.sessionmaker() as db, db.begin():
        record(
            db,
            "summary.approved",
            session_id=world.ids["ses1"],
            at=NOW,
            payload={
                "student_ids": [world.ids["s1"], world.ids["s2"]],
                "parent_summary": SUMMARY,
                "document_id": "doc_1",
            },
        )
    await run_handlers(app, clock)
    assert await dispatcher(app, smtp(mail), clock).dispatch_once() == 1

    [envelope] = mail.inbox.messages
    assert envelope.rcpt_tos == ["g1@schoola.example.org"]
    [msg] = mail.inbox.parsed()
    assert msg["Subject"] == "Person s1's maths session on Monday 7 January 2030"
    text, html = parts(msg)
    assert SUMMARY in text
    assert "Worked through fractions &lt;carefully&gt;" in html
    # The event says nothing of how it was approved (as before it could): no claim either way.
    neutral = "This summary was drafted automatically from the session's recording."
    assert neutral in text and html_module.escape(neutral) in html and "review" not in text
    rows = {r.guardian_id: r for r in await deliveries(app)}
    skipped = rows[world.ids["g2"]]
    assert skipped.status is DeliveryStatus.SKIPPED and skipped.kind is DeliveryKind.SESSION_SUMMARY
    assert skipped.skip_reason is not None and "ai_processing_consent" in skipped.skip_reason
    assert skipped.text_body is None


async def test_the_same_event_handled_twice_queues_one_delivery(
    app: Starlette, world: World, clock: FixedClock, mail: MailServer
) -> None:
    """A handler run again for an event (a retry) adds no second email."""
    [event_id] = await raise_absence(app, world, "s1")
    event = DomainEvent(
        id=event_id,
        type="exception.raised",
        schema_version=1,
        session_id=world.ids["ses1"],
        occurred_at=NOW,
        payload={"kind": "student_absent", "student_id": world.ids["s1"]},
    )
    handler = GuardianNotices(app_url=APP_URL, secret=SECRET, mail_from=FROM)
    for _ in range(2):
        async with app.state.services.sessionmaker() as db, db.begin():
            await handler.handle(db, event)
    assert len(await deliveries(app)) == 1
    assert await dispatcher(app, smtp(mail), clock).dispatch_once() == 1
    await settle(mail.inbox, 1)


async def test_smtp_down_is_retried_with_backoff_and_sent_once_up(
    app: Starlette, world: World, clock: FixedClock
) -> None:
    """A refused connection waits out its backoff, then the email goes once the server is up."""
    server = MailServer(port=free_port())
    await raise_absence(app, world, "s1")
    await run_handlers(app, clock)
    d = dispatcher(app, smtp(server), clock, retry=MailRetry(first_delay=timedelta(seconds=30)))

    assert await d.dispatch_once() == 0
    [row] = await deliveries(app)
    assert row.status is DeliveryStatus.PENDING and row.attempts == 1
    assert row.next_attempt_at == NOW + timedelta(seconds=30)
    assert row.last_error is not None and "MailUnavailable" in row.last_error

    clock.advance(timedelta(seconds=10))
    assert await d.dispatch_once() == 0  # not due yet: no new attempt
    assert (await deliveries(app))[0].attempts == 1

    clock.advance(timedelta(seconds=20))
    assert await d.dispatch_once() == 0  # due, still down: the wait doubles
    [row] = await deliveries(app)
    assert row.attempts == 2 and row.next_attempt_at == clock.now() + timedelta(seconds=60)

    await server.start()
    try:
        clock.advance(timedelta(seconds=60))
        assert await d.dispatch_once() == 1
        await settle(server.inbox, 1)
    finally:
        await server.stop()
    [row] = await deliveries(app)
    assert row.status is DeliveryStatus.SENT and row.attempts == 3 and row.last_error is None


async def test_an_email_that_keeps_failing_is_marked_failed(
    app: Starlette, world: World, clock: FixedClock
) -> None:
    """After the last attempt the row says failed and is not tried again."""
    await raise_absence(app, world, "s1")
    await run_handlers(app, clock)
    d = dispatcher(
        app,
        SmtpTransport.from_url(f"smtp://127.0.0.1:{free_port()}", timeout=5 * WAIT),
        clock,
        retry=MailRetry(max_attempts=2, first_delay=timedelta(seconds=1)),
    )
    assert await d.dispatch_once() == 0
    clock.advance(timedelta(minutes=1))
    assert await d.dispatch_once() == 0
    clock.advance(timedelta(hours=2))
    assert await d.dispatch_once() == 0
    [row] = await deliveries(app)
    assert row.status is DeliveryStatus.FAILED and row.attempts == 2
    assert row.next_attempt_at is None


async def test_a_refusal_at_end_of_data_is_retried(
    app: Starlette, world: World, clock: FixedClock, mail: MailServer
) -> None:
    """A 4xx final reply after "sent" was recorded puts the email back to retry, then it goes."""
    mail.inbox.refuse.append("451 4.3.0 Try again later")
    await raise_absence(app, world, "s1")
    await run_handlers(app, clock)
    d = dispatcher(app, smtp(mail), clock)
    assert await d.dispatch_once() == 0
    [row] = await deliveries(app)
    assert row.status is DeliveryStatus.PENDING and row.sent_at is None
    assert row.last_error is not None and "451" in row.last_error
    clock.advance(timedelta(minutes=1))
    assert await d.dispatch_once() == 1
    await settle(mail.inbox, 1)


async def test_two_dispatchers_racing_over_fifty_emails_send_fifty(
    app: Starlette, world: World, clock: FixedClock, mail: MailServer
) -> None:
    """Two dispatchers claiming from one table at once: each email exactly once."""
    async with app.state.services.sessionmaker() as db, db.begin():
        for n in range(50):
            await queue_guardian_notice(
                db,
                kind="absence_notice",
                student_id=world.ids["s1"],
                session_id=world.ids["ses1"],
                event_id=f"evt_{n:02d}",
                context={"stop_link": stop_link},
                now=NOW,
            )

    async def drain(d: MailDispatcher) -> int:
        total = 0
        while True:
            sent = await d.dispatch_once()
            total += sent
            async with app.state.services.sessionmaker() as db:
                left = await db.scalar(
                    select(func.count())
                    .select_from(Delivery)
                    .where(Delivery.status != DeliveryStatus.SENT)
                )
            if not left:
                return total
            await asyncio.sleep(0)

    a, b = (dispatcher(app, smtp(mail), clock, batch=5) for _ in range(2))
    sent = await asyncio.gather(drain(a), drain(b))
    assert sum(sent) == 50
    await settle(mail.inbox, 50)
    ids = [m["Message-ID"] for m in mail.inbox.parsed()]
    assert len(set(ids)) == 50
    assert {r.status for r in await deliveries(app)} == {DeliveryStatus.SENT}


async def test_a_message_cut_off_before_its_final_dot_is_never_delivered(
    mail: MailServer,
) -> None:
    """The seam itself: body sent, connection dropped before the dot: the server keeps nothing."""
    message = b"Subject: test\r\n\r\n.starts with a dot\r\nend\r\n"
    held = await hold(
        SmtpTransport.from_url(mail.url, timeout=5).client(),
        sender="a@school.example",
        recipient="b@school.example",
        message=message,
        timeout=5,
    )
    held.abort()
    await settle(mail.inbox, 0)

    held = await hold(
        SmtpTransport.from_url(mail.url, timeout=5).client(),
        sender="a@school.example",
        recipient="b@school.example",
        message=message,
        timeout=5,
    )
    await held.release()
    await settle(mail.inbox, 1)
    assert mail.inbox.messages[0].content == message  # dot-stuffing undone by the server


@dataclass
class StallAfterBody:
    """The real SMTP transport, but the dispatcher stalls right after the body is sent:
    where a worker killed mid-send would be when the kill came."""

    inner: SmtpTransport
    held: asyncio.Event = field(default_factory=asyncio.Event)

    async def prepare(self, *, sender: str, recipient: str, message: bytes, name: str) -> Any:
        prepared = await self.inner.prepare(
            sender=sender, recipient=recipient, message=message, name=name
        )
        self.held.set()
        await asyncio.Event().wait()
        return prepared


async def test_a_dispatcher_killed_before_the_final_dot_leaves_one_email_for_the_next(
    app: Starlette, world: World, clock: FixedClock, mail: MailServer
) -> None:
    """Cancelled after the body, before "sent": nothing arrives; after the lease, exactly one."""
    await raise_absence(app, world, "s1")
    await run_handlers(app, clock)
    stalled = StallAfterBody(smtp(mail))
    doomed = asyncio.create_task(dispatcher(app, stalled, clock).dispatch_once())
    await asyncio.wait_for(stalled.held.wait(), 10 * WAIT)
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    await settle(mail.inbox, 0)
    [row] = await deliveries(app)
    assert row.status is DeliveryStatus.SENDING

    survivor = dispatcher(app, smtp(mail), clock, lease=timedelta(minutes=5))
    assert await survivor.dispatch_once() == 0  # the lease still holds
    clock.advance(timedelta(minutes=5, seconds=1))
    assert await survivor.dispatch_once() == 1
    assert await survivor.dispatch_once() == 0
    await settle(mail.inbox, 1)
    [row] = await deliveries(app)
    assert row.status is DeliveryStatus.SENT and row.attempts == 2


def test_a_bad_smtp_url_is_refused_with_what_to_write(tmp_path: Path) -> None:
    """LIVECLASS_SMTP_URL must be smtp:// or smtps://, with a host and known options."""
    for url, says in (
        ("http://mail.example", "smtp://"),
        ("smtp://", "no host"),
        ("smtp://mail.example:99999", "port"),
        ("smtp://mail.example?tls=yes", "unknown option"),
        ("smtps://mail.example?starttls=true", "already TLS"),
    ):
        with pytest.raises(ValidationError, match=says):
            Settings(_env_file=None, data_dir=tmp_path, smtp_url=url)  # type: ignore[call-arg,arg-type]
    ok = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        smtp_url="smtp://u:p%40ss@mail.example:587?starttls=true",  # type: ignore[arg-type]
    )
    transport = build_transport(ok)
    assert transport == SmtpTransport(
        hostname="mail.example",
        port=587,
        start_tls=True,
        username="u",
        password="p@ss",
        timeout=10.0,
    )
    assert "p@ss" not in repr(ok)


async def test_other_exceptions_queue_no_email(
    app: Starlette, world: World, clock: FixedClock
) -> None:
    """An exception that is not a student's absence is not for guardians."""
    async with app.state.services.sessionmaker() as db, db.begin():
        record(
            db,
            "exception.raised",
            session_id=world.ids["ses1"],
            at=NOW,
            payload={"kind": "tutor_no_show", "tutor_id": world.ids["t1"]},
        )
    await run_handlers(app, clock)
    assert await deliveries(app) == []


WORKER = """
import asyncio, sys
from datetime import datetime
from sqlalchemy.ext.asyncio import create_async_engine
from core.database import create_sessionmaker
from notifications import MailDispatcher, SmtpTransport

class StallOnFourth:
    def __init__(self, inner):
        self.inner, self.calls = inner, 0
    async def prepare(self, **kw):
        prepared = await self.inner.prepare(**kw)
        self.calls += 1
        if self.calls == 4:
            print("held", flush=True)
            await asyncio.Event().wait()
        return prepared

async def main():
    engine = create_async_engine(sys.argv[1])
    now = datetime.fromisoformat(sys.argv[3])
    transport = StallOnFourth(SmtpTransport.from_url(sys.argv[2], timeout=10))
    d = MailDispatcher(create_sessionmaker(engine), transport, clock=lambda: now,
                       mail_from="Liveclass <no-reply@school.example>")
    await d.dispatch_once()

asyncio.run(main())
"""


async def test_a_worker_killed_with_sigkill_mid_run_sends_each_notice_once(
    app: Starlette, world: World, clock: FixedClock, mail: MailServer, settings: Settings
) -> None:
    """A worker process SIGKILLed mid-batch, its fourth email's body already sent:
    after the lease another worker finishes, and every notice arrives exactly once."""
    async with app.state.services.sessionmaker() as db, db.begin():
        for n in range(10):
            await queue_guardian_notice(
                db,
                kind="absence_notice",
                student_id=world.ids["s1"],
                session_id=world.ids["ses1"],
                event_id=f"evt_{n:02d}",
                context={"stop_link": stop_link},
                now=NOW,
            )
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WORKER,
        str(settings.database_url),
        mail.url,
        NOW.isoformat(),
        stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert worker.stdout is not None
        line = await asyncio.wait_for(worker.stdout.readline(), 30 * WAIT)
        assert line == b"held\n"
    finally:
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
    assert worker.returncode == -signal.SIGKILL
    await settle(mail.inbox, 3)
    statuses = [r.status for r in await deliveries(app)]
    assert statuses.count(DeliveryStatus.SENT) == 3
    assert statuses.count(DeliveryStatus.SENDING) == 7

    clock.advance(timedelta(minutes=5, seconds=1))
    assert await dispatcher(app, smtp(mail), clock).dispatch_once() == 7
    await settle(mail.inbox, 10)
    assert len({m["Message-ID"] for m in mail.inbox.parsed()}) == 10
    assert {r.status for r in await deliveries(app)} == {DeliveryStatus.SENT}


@dataclass
class Certificate:
    """A self-signed certificate for 127.0.0.1, and contexts for both ends."""

    folder: Path

    def __post_init__(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        self.cert = self.folder / "cert.pem"
        self.key = self.folder / "key.pem"
        self.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    def server(self) -> ssl_module.SSLContext:
        ctx = ssl_module.SSLContext(ssl_module.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def client(self) -> ssl_module.SSLContext:
        return ssl_module.create_default_context(cafile=str(self.cert))


async def test_starttls_with_login_delivers(
    app: Starlette, world: World, clock: FixedClock, tmp_path: Path
) -> None:
    """smtp://user:pass@host:port?starttls=true upgrades, logs in, then sends."""
    tls = Certificate(tmp_path)
    logins: list[tuple[bytes, bytes]] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        logins.append((data.login, data.password))
        return AuthResult(success=data.login == b"mailer" and data.password == b"s3cr:t@")

    def protocol(inbox: Inbox) -> SMTPServer:
        return SMTPServer(
            inbox,
            hostname="mail.test",
            tls_context=tls.server(),
            require_starttls=True,
            auth_required=True,
            authenticator=authenticate,
            loop=asyncio.get_running_loop(),
        )

    server = MailServer(protocol=protocol)
    await server.start()
    try:
        await raise_absence(app, world, "s1")
        await run_handlers(app, clock)
        url = f"smtp://mailer:s3cr%3At%40@127.0.0.1:{server.port}?starttls=true"
        transport = SmtpTransport.from_url(url, timeout=5 * WAIT, tls_context=tls.client())
        assert await dispatcher(app, transport, clock).dispatch_once() == 1
        await settle(server.inbox, 1)
    finally:
        await server.stop()
    assert logins == [(b"mailer", b"s3cr:t@")]
    assert server.inbox.messages[0].rcpt_tos == ["g1@schoola.example.org"]


async def test_smtps_delivers_over_implicit_tls(
    app: Starlette, world: World, clock: FixedClock, tmp_path: Path
) -> None:
    """smtps:// speaks TLS from the first byte."""
    tls = Certificate(tmp_path)
    server = MailServer(ssl=tls.server())
    await server.start()
    try:
        await raise_absence(app, world, "s1")
        await run_handlers(app, clock)
        transport = SmtpTransport.from_url(
            f"smtps://127.0.0.1:{server.port}", timeout=5 * WAIT, tls_context=tls.client()
        )
        assert transport.use_tls and not transport.start_tls
        assert await dispatcher(app, transport, clock).dispatch_once() == 1
        await settle(server.inbox, 1)
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("how", "note"),
    [
        (
            {"automatic": False, "approver_name": "Ann Tutor"},
            "This summary was drafted automatically from the session's recording, then "
            "reviewed and approved by Ann Tutor.",
        ),
        (
            {"automatic": False},
            "This summary was drafted automatically from the session's recording, then "
            "reviewed and approved before it was sent.",
        ),
        (
            {"automatic": True, "after_minutes": 1},
            "This summary was drafted automatically from the session's recording and sent "
            "without review, as nobody reviewed it within 1 minute.",
        ),
        (
            {"automatic": True},
            "This summary was drafted automatically from the session's recording and sent "
            "without review.",
        ),
        (
            {"automatic": None},
            "This summary was drafted automatically from the session's recording.",
        ),
    ],
    ids=["named reviewer", "reviewer unknown", "after the wait", "wait unknown", "old event"],
)
def test_a_summary_email_says_how_it_was_approved(how: dict[str, Any], note: str) -> None:
    """Reviewed by someone, sent without review after a wait, or (unknown) neither claim."""
    assert approval_note(**how) == note
