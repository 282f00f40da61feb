"""Many sessions end at once: every handler runs for every event, and each guardian gets one email.

The scenario, shared by the benchmark and the crash tests
(``tests/eventbus/test_crash_recovery.py``):

1. one organisation with ``n`` tutors, students and guardians (every family opted in);
2. worker processes start: ``liveclass worker`` on Redis Streams, or ``liveclass
   serve`` on the embedded bus; each also runs the mail dispatcher, which sends to a
   real SMTP server (aiosmtpd) on loopback;
3. ``n`` sessions go live (their tutor joins; the student never does) and wait;
4. all ``n`` sessions end in one transaction: ``session.ended`` each, then the
   handlers run (attendance, schedule update, exceptions: the absent student,
   guardian notices: one absence email per guardian);
5. optionally one worker is killed with SIGKILL once a share of the work is done
   (and, on the embedded bus, the process is started again);
6. the run is complete when every subscribed handler has a ledger row for every
   event and every queued email is sent.

With ``--burst bookings`` step 3 is skipped and step 4 books ``n`` sessions for
tomorrow in one transaction instead (``session.scheduled`` each): the confirmations
with their calendar invites go to the tutor, the student and the guardian of each,
and every one of the ``3n`` must get exactly one.

Reported: handler runs per second from the burst to completion, and per session the
time from its ``session.ended`` (or ``session.scheduled``) to its last handler's
completion (ledger rows and sent emails).

    .venv/bin/python -m bench.events --backend redis --sessions 200 --workers 2
    .venv/bin/python -m bench.events --backend embedded --sessions 200
    .venv/bin/python -m bench.events --backend redis --burst bookings --kill-after 0.3

Loopback only: PostgreSQL and Redis on 127.0.0.1 (``LIVECLASS_TEST_POSTGRES_URL``,
``LIVECLASS_TEST_REDIS_URL``), the SMTP server and the API on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import api.models  # noqa: F401  (every table on the metadata)
from api.migrate import upgrade
from api.services import Services
from api.settings import Settings
from api.workers import build_handlers
from core.clock import SystemClock
from core.database import create_engine, create_sessionmaker
from eventbus.models import HandledEvent, HandlerFailure, OutboxEvent
from notifications import Delivery, DeliveryStatus
from scheduling.bookings import book_session
from scheduling.models import Guardianship, Role
from scheduling.people import create_organization, create_person
from sessions import changes
from sessions.lifecycle import Action
from sessions.models import PresenceType
from sessions.service import apply, record_presence

PG_ADMIN_URL = os.environ.get(
    "LIVECLASS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("LIVECLASS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "bench-secret-" + "y" * 40


class Inbox:
    """A real SMTP server on loopback that keeps what it accepted (aiosmtpd in its own thread)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []  # (recipients, Message-ID)
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or b""
        message = message_from_bytes(content)
        with self._lock:
            self.messages.append(
                ([str(r) for r in envelope.rcpt_tos], str(message.get("Message-ID", "")))
            )
        return "250 OK"

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self._controller.port}"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def per_recipient(self) -> Counter[str]:
        with self._lock:
            return Counter(r for rcpts, _ in self.messages for r in rcpts)


@dataclass
class Seeded:
    session_ids: list[str] = field(default_factory=list)
    guardian_emails: list[str] = field(default_factory=list)
    tutor_ids: dict[str, str] = field(default_factory=dict)  # session -> tutor user
    org_id: str = ""
    trios: list[dict[Role, str]] = field(default_factory=list)  # profile ids, per trio
    emails: list[str] = field(default_factory=list)  # every trio's three addresses


async def seed_people(
    sessionmaker: async_sessionmaker[AsyncSession], n: int, *, book: bool = True
) -> Seeded:
    """``n`` tutor/student/guardian trios and (with ``book``) a session for each, running now."""
    now = datetime.now(UTC)
    seeded = Seeded()
    tag = secrets.token_hex(3)
    async with sessionmaker() as db, db.begin():
        org = await create_organization(db, f"Bench {tag}", now=now)
        seeded.org_id = org.id
        for i in range(n):
            ids = {}
            for role in (Role.TUTOR, Role.STUDENT, Role.GUARDIAN):
                ids[role] = await create_person(
                    db,
                    role,
                    org_id=org.id,
                    email=f"{role.value}{i}-{tag}@bench.example.org",
                    display_name=f"{role.value.title()} {i}",
                    password_hash=None,
                    now=now,
                    subjects=["maths"],
                    levels=["gcse"],
                    level="gcse",
                    time_zone="Europe/London",
                )
            db.add(
                Guardianship(
                    id=f"gsp_{tag}{i}",
                    guardian_id=ids[Role.GUARDIAN],
                    student_id=ids[Role.STUDENT],
                    recording_consent=True,
                    ai_processing_consent=True,
                    created_at=now,
                    updated_at=now,
                )
            )
            seeded.trios.append(ids)
            seeded.emails += [f"{r.value}{i}-{tag}@bench.example.org" for r in ids]
            if not book:
                continue
            live = await book_session(
                db,
                org_id=org.id,
                tutor_id=ids[Role.TUTOR],
                student_ids=[ids[Role.STUDENT]],
                subject="maths",
                scheduled_start=now - timedelta(minutes=30),
                scheduled_end=now + timedelta(minutes=30),
                now=now,
            )
            seeded.session_ids.append(live.id)
            seeded.tutor_ids[live.id] = ids[Role.TUTOR]
            seeded.guardian_emails.append(f"guardian{i}-{tag}@bench.example.org")
    return seeded


async def go_live(sessionmaker: async_sessionmaker[AsyncSession], seeded: Seeded) -> None:
    """Each session's tutor joins (the room opens and goes live); students stay away."""
    at = datetime.now(UTC) - timedelta(minutes=25)
    for session_id in seeded.session_ids:
        async with sessionmaker() as db, db.begin():
            await record_presence(
                db,
                session_id=session_id,
                participant_id=seeded.tutor_ids[session_id],
                role="tutor",
                type_=PresenceType.JOINED,
                at=at,
            )


async def book_all(sessionmaker: async_sessionmaker[AsyncSession], seeded: Seeded) -> datetime:
    """Each trio's lesson for tomorrow booked in one transaction, as a coordinator's batch
    would: ``session.scheduled`` each, and the confirmations to send."""
    now = datetime.now(UTC)
    start = (now + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    async with sessionmaker() as db, db.begin():
        for ids in seeded.trios:
            live = await changes.book(
                db,
                org_id=seeded.org_id,
                tutor_id=ids[Role.TUTOR],
                student_ids=[ids[Role.STUDENT]],
                subject="maths",
                scheduled_start=start,
                scheduled_end=start + timedelta(hours=1),
                now=now,
            )
            seeded.session_ids.append(live.id)
    return now


async def end_all(sessionmaker: async_sessionmaker[AsyncSession], seeded: Seeded) -> datetime:
    """Every session ends in one transaction, as a burst at the top of the hour would."""
    now = datetime.now(UTC)
    async with sessionmaker() as db, db.begin():
        for session_id in seeded.session_ids:
            await apply(db, session_id, Action.END, now=now, reason="bench")
    return now


@dataclass
class Progress:
    """How far the handlers have got, read from the database."""

    expected: int  # handler runs owed: subscribed handlers x events
    handled: int
    failures: int
    dead: int
    emails_queued: int
    emails_sent: int

    @property
    def complete(self) -> bool:
        return (
            self.handled >= self.expected
            and self.dead == 0
            and self.emails_sent == self.emails_queued
        )


async def progress(
    sessionmaker: async_sessionmaker[AsyncSession], subscriptions: dict[str, frozenset[str]]
) -> Progress:
    async with sessionmaker() as db:
        rows = await db.execute(select(OutboxEvent.type, func.count()).group_by(OutboxEvent.type))
        by_type: dict[str, int] = {row[0]: int(row[1]) for row in rows}
        expected = sum(
            count for types in subscriptions.values() for t, count in by_type.items() if t in types
        )
        handled = await db.scalar(
            select(func.count())
            .select_from(HandledEvent)
            .where(HandledEvent.handler.in_(list(subscriptions)))
        )
        failures = await db.scalar(select(func.count()).select_from(HandlerFailure))
        dead = await db.scalar(
            select(func.count()).select_from(HandlerFailure).where(HandlerFailure.dead.is_(True))
        )
        status_rows = await db.execute(
            select(Delivery.status, func.count()).group_by(Delivery.status)
        )
        statuses: dict[DeliveryStatus, int] = {row[0]: int(row[1]) for row in status_rows}
    queued = sum(n for s, n in statuses.items() if s is not DeliveryStatus.SKIPPED)
    return Progress(
        expected=expected,
        handled=int(handled or 0),
        failures=int(failures or 0),
        dead=int(dead or 0),
        emails_queued=queued,
        emails_sent=statuses.get(DeliveryStatus.SENT, 0),
    )


async def latencies(
    sessionmaker: async_sessionmaker[AsyncSession],
    session_ids: list[str],
    burst_event: str = "session.ended",
) -> list[float]:
    """Per session: seconds from its ``burst_event`` to its last handler run or sent email."""
    out = []
    async with sessionmaker() as db:
        for session_id in session_ids:
            ended = await db.scalar(
                select(OutboxEvent.occurred_at).where(
                    OutboxEvent.session_id == session_id, OutboxEvent.type == burst_event
                )
            )
            last_handled = await db.scalar(
                select(func.max(HandledEvent.handled_at))
                .join(OutboxEvent, OutboxEvent.id == HandledEvent.event_id)
                .where(OutboxEvent.session_id == session_id)
            )
            last_sent = await db.scalar(
                select(func.max(Delivery.sent_at)).where(Delivery.session_id == session_id)
            )
            if ended is None or last_handled is None:
                continue
            last = max(t for t in (last_handled, last_sent) if t is not None)
            out.append((last - ended).total_seconds())
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Deployment:
    """Where the run's processes point: one database, maybe Redis, the SMTP server."""

    backend: str  # "redis" or "embedded"
    database_url: str
    data_dir: Path
    smtp_url: str
    prefix: str = field(default_factory=lambda: f"bench-{secrets.token_hex(4)}")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIVECLASS_")}
        env.update(
            LIVECLASS_DATABASE_URL=self.database_url,
            LIVECLASS_DATA_DIR=str(self.data_dir),
            LIVECLASS_SECRET_KEY=SECRET,
            LIVECLASS_SMTP_URL=self.smtp_url,
            LIVECLASS_EVENT_STREAM_PREFIX=self.prefix,
            LIVECLASS_EVENT_POLL_SECONDS="0.1",
            LIVECLASS_EVENT_RETRY_SECONDS="0.5",
            LIVECLASS_EVENT_CLAIM_IDLE_SECONDS="3",
            LIVECLASS_LIFECYCLE_SWEEP_SECONDS="0",
            LIVECLASS_MAIL_TIMEOUT_SECONDS="1",
            LIVECLASS_MAIL_LEASE_SECONDS="1",
            LIVECLASS_LOG_LEVEL="WARNING",
        )
        if self.backend == "redis":
            env["LIVECLASS_REDIS_URL"] = REDIS_URL
        return env

    def settings(self) -> Settings:
        return Settings(
            _env_file=None,
            database_url=self.database_url,
            data_dir=self.data_dir,
            secret_key=SECRET,
            smtp_url=self.smtp_url,
            redis_url=REDIS_URL if self.backend == "redis" else None,
            event_stream_prefix=self.prefix,
        )

    def start_process(self, log: Path) -> subprocess.Popen[bytes]:
        """One worker: ``liveclass worker`` (Redis) or ``liveclass serve`` (embedded)."""
        command = (
            ["worker"]
            if self.backend == "redis"
            else ["serve", "--host", "127.0.0.1", "--port", str(free_port()), "--no-migrate"]
        )
        with log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "api.cli", *command],
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one run, dropped afterwards."""
    name = f"liveclass_bench_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        yield f"{base}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Report:
    backend: str
    sessions: int
    workers: int
    killed: bool
    handler_runs: int
    emails: int
    seconds: float
    runs_per_second: float
    latency_p50: float
    latency_p95: float
    latency_max: float
    emails_per_recipient: dict[str, int]
    guardian_emails: list[str]
    failures: int

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out.pop("emails_per_recipient")
        out.pop("guardian_emails")
        return out


@contextlib.asynccontextmanager
async def processes(
    deployment: Deployment, count: int, log: Path
) -> AsyncIterator[list[subprocess.Popen[bytes]]]:
    procs = [deployment.start_process(log) for _ in range(count)]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def run(
    deployment: Deployment,
    *,
    sessions: int,
    workers: int,
    kill_after: float | None,
    timeout: float,
    log: Path,
    burst: str = "ends",
) -> Report:
    """Run the scenario once; ``kill_after`` is the share of work after which one worker
    gets SIGKILL (on the embedded bus a new process then takes over); ``burst`` is
    ``ends`` (sessions ending) or ``bookings`` (sessions booked)."""
    settings = deployment.settings()
    engine = create_engine(settings)
    services = Services.build(settings, SystemClock())
    subscriptions = {h.name: h.types for h in build_handlers(services)}
    await services.aclose()
    try:
        await upgrade(engine)
        sessionmaker = create_sessionmaker(engine)
        bookings = burst == "bookings"
        seeded = await seed_people(sessionmaker, sessions, book=not bookings)
        async with processes(deployment, workers, log) as procs:
            if not bookings:
                await go_live(sessionmaker, seeded)
            # Let the joins settle so the measured burst is the ends alone.
            await _wait(sessionmaker, subscriptions, timeout, procs)
            before = await progress(sessionmaker, subscriptions)
            started = time.perf_counter()
            await (book_all if bookings else end_all)(sessionmaker, seeded)
            killed = False
            if kill_after is not None:
                owed = (await progress(sessionmaker, subscriptions)).expected - before.handled
                await _wait_for_share(
                    sessionmaker, subscriptions, before, owed, kill_after, timeout
                )
                procs[0].send_signal(signal.SIGKILL)
                procs[0].wait()
                killed = True
                if deployment.backend == "embedded":
                    procs[0] = deployment.start_process(log)
            done = await _wait(sessionmaker, subscriptions, timeout, procs)
            seconds = time.perf_counter() - started
        lat = sorted(
            await latencies(
                sessionmaker,
                seeded.session_ids,
                "session.scheduled" if bookings else "session.ended",
            )
        )
        return Report(
            backend=deployment.backend,
            sessions=sessions,
            workers=workers,
            killed=killed,
            handler_runs=done.handled - before.handled,
            emails=done.emails_sent,
            seconds=round(seconds, 3),
            runs_per_second=round((done.handled - before.handled) / seconds, 1),
            latency_p50=round(statistics.median(lat), 3) if lat else 0.0,
            latency_p95=round(lat[int(0.95 * (len(lat) - 1))], 3) if lat else 0.0,
            latency_max=round(lat[-1], 3) if lat else 0.0,
            emails_per_recipient={},
            guardian_emails=seeded.emails if bookings else seeded.guardian_emails,
            failures=done.failures,
        )
    finally:
        await engine.dispose()
        if deployment.backend == "redis":
            redis = Redis.from_url(REDIS_URL)
            try:
                keys = [k async for k in redis.scan_iter(match=f"{deployment.prefix}:*")]
                if keys:
                    await redis.delete(*keys)
            finally:
                await redis.aclose()


async def _wait(
    sessionmaker: async_sessionmaker[AsyncSession],
    subscriptions: dict[str, frozenset[str]],
    timeout: float,
    procs: list[subprocess.Popen[bytes]],
) -> Progress:
    async with asyncio.timeout(timeout):
        while True:
            now = await progress(sessionmaker, subscriptions)
            if now.complete:
                return now
            for proc in procs:
                if proc.poll() is not None and proc.returncode != -signal.SIGKILL:
                    raise RuntimeError(f"a worker exited with status {proc.returncode}")
            await asyncio.sleep(0.05)


async def _wait_for_share(
    sessionmaker: async_sessionmaker[AsyncSession],
    subscriptions: dict[str, frozenset[str]],
    before: Progress,
    owed: int,
    share: float,
    timeout: float,
) -> None:
    async with asyncio.timeout(timeout):
        while True:
            now = await progress(sessionmaker, subscriptions)
            if now.handled - before.handled >= share * owed:
                return
            await asyncio.sleep(0.01)


def run_scenario(
    backend: str,
    *,
    sessions: int,
    workers: int,
    kill_after: float | None,
    timeout: float,
    folder: Path,
    inbox: Inbox,
    burst: str = "ends",
) -> Report:
    """Start a database for ``backend``, run once, and count what the SMTP server got."""
    data_dir = folder / "var"
    data_dir.mkdir(parents=True, exist_ok=True)
    log = folder / "workers.log"
    with contextlib.ExitStack() as stack:
        if backend == "redis":
            url = stack.enter_context(postgres_database())
        else:
            url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
        deployment = Deployment(backend, url, data_dir, inbox.url)
        report = asyncio.run(
            run(
                deployment,
                sessions=sessions,
                workers=workers,
                kill_after=kill_after,
                timeout=timeout,
                log=log,
                burst=burst,
            )
        )
    counts = inbox.per_recipient()
    report.emails_per_recipient = {e: counts.get(e, 0) for e in report.guardian_emails}
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--backend", choices=["redis", "embedded", "both"], default="both")
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="Redis workers (embedded: 1)")
    parser.add_argument(
        "--kill-after", type=float, default=None, help="SIGKILL one worker after this share"
    )
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument(
        "--burst",
        choices=["ends", "bookings"],
        default="ends",
        help="what happens at once: sessions end, or sessions are booked (confirmations)",
    )
    parser.add_argument("--json", type=Path, help="also write the reports here")
    args = parser.parse_args(argv)
    backends = ["redis", "embedded"] if args.backend == "both" else [args.backend]
    reports = []
    inbox = Inbox()
    inbox.start()
    try:
        for backend in backends:
            with tempfile.TemporaryDirectory() as folder:
                report = run_scenario(
                    backend,
                    sessions=args.sessions,
                    workers=args.workers if backend == "redis" else 1,
                    kill_after=args.kill_after,
                    timeout=args.timeout,
                    folder=Path(folder),
                    inbox=inbox,
                    burst=args.burst,
                )
            wrong = {e: n for e, n in report.emails_per_recipient.items() if n != 1}
            reports.append(report.as_dict())
            print(
                f"{backend:>8}: {report.sessions} sessions "
                f"{'booked' if args.burst == 'bookings' else 'ended'} at once, {report.workers} "
                f"worker(s){' (one killed)' if report.killed else ''}: {report.handler_runs} "
                f"handler runs and {report.emails} emails in {report.seconds:.2f} s "
                f"({report.runs_per_second:.0f} runs/s); burst to last handler: "
                f"p50 {report.latency_p50:.2f} s, p95 {report.latency_p95:.2f} s, "
                f"max {report.latency_max:.2f} s; recipients without exactly one email: "
                f"{len(wrong)}",
                file=sys.stderr,
            )
    finally:
        inbox.stop()
    print(json.dumps(reports, indent=2))
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2))


if __name__ == "__main__":
    main()
