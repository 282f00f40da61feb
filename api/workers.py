"""What runs beside the API: the event handlers, the bus that feeds them, the lifecycle sweep.

``build_handlers`` is the one list of handlers; each package that reacts to
events (attendance, exceptions, notifications, ...) adds its handler here.
``Runner`` owns the background tasks of a process: ``liveclass serve`` starts
it from the app's lifespan, ``liveclass worker`` from its own loop.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

from api.retention import Retention
from api.services import Services
from api.settings import Settings
from core.clock import SystemClock
from core.logging import get_logger
from eventbus.bus import EventBus, build_bus
from eventbus.ledger import Handler
from notifications import (
    ChangeNotices,
    GuardianNotices,
    MailDispatcher,
    SubstitutionNotices,
)
from notifications.reminders import LessonLink, ReminderSweep
from notifications.transport import sender_address
from notifications.unsubscribe import stop_links
from sessions.analytics import Period
from sessions.documentation import DraftingHandler, TranscriptionHandler, briefing_texts
from sessions.lifecycle_handlers import lifecycle_handlers
from sessions.progress_reports import ProgressReportSweep
from sessions.risk_detection import OverdueReviewSweep
from sessions.timers import SweepStep, TimerPolicy, sweep_forever
from signaling.tokens import JoinGrant, issue_join_token

log = get_logger("liveclass.workers")
# How long ``Runner.aclose`` lets a loop finish the step it is in before cancelling
# it: longer than a sweep step takes even when SQLite makes it wait out its 5 s busy
# timeout, and than most mail passes; within the 20 s the worker has to stop.
STOP_GRACE_SECONDS = 10.0


def build_handlers(services: Services) -> list[Handler]:
    """Every event handler of the application, in no particular order.

    Names must be unique and stable: a handler's name keys its ledger rows,
    its failures and, on Redis, its consumer group.
    """
    return [
        *lifecycle_handlers(clock=services.clock.now, consent_age=services.settings.consent_age),
        GuardianNotices(
            app_url=services.settings.public_url.rstrip("/") + "/app",
            secret=services.secret,
            mail_from=services.settings.mail_from,
        ),
        SubstitutionNotices(
            mail_from=services.settings.mail_from,
            calendar_domain=urlsplit(services.settings.public_url).hostname or "",
        ),
        ChangeNotices(
            mail_from=services.settings.mail_from,
            calendar_domain=urlsplit(services.settings.public_url).hostname or "",
        ),
        TranscriptionHandler(
            services.transcriber,
            clock=services.clock.now,
            consent_age=services.settings.consent_age,
        ),
        DraftingHandler(
            services.settings,
            clock=services.clock.now,
            consent_age=services.settings.consent_age,
        ),
    ]


def mail_dispatcher(services: Services) -> MailDispatcher:
    """The guardian-email sender; every process that runs handlers runs one (they share
    the delivery log safely)."""
    return MailDispatcher.from_settings(
        services.sessionmaker, services.settings, clock=services.clock.now
    )


def timer_policy(settings: Settings) -> TimerPolicy:
    """The lifecycle sweep's timings, from the settings."""
    return TimerPolicy(
        open_before=timedelta(minutes=settings.session_open_before_minutes),
        no_show_after=timedelta(minutes=settings.no_show_after_minutes),
        end_grace=timedelta(minutes=settings.end_grace_minutes),
        empty_room_end=timedelta(minutes=settings.empty_room_end_minutes),
        tutor_no_show_after=timedelta(minutes=settings.tutor_no_show_minutes),
        recording_wait=timedelta(minutes=settings.recording_wait_minutes),
        auto_approve_after=(
            None
            if settings.summary_auto_approve_minutes is None
            else timedelta(minutes=settings.summary_auto_approve_minutes)
        ),
    )


def lesson_links(settings: Settings, *, secret: str) -> Callable[[LessonLink], str]:
    """A reminder's link into the lesson page of its session: with a join token for that
    person, good until ``LIVECLASS_JOIN_TOKEN_GRACE_SECONDS`` after the session's end
    (the same token ``POST /api/v1/sessions/{id}/join-token`` gives); without one when a
    login is required (the page asks for it, then joins)."""
    base = settings.public_url.rstrip("/")
    grace = timedelta(seconds=settings.join_token_grace_seconds)

    def link(lesson: LessonLink) -> str:
        page = f"{base}/join/{quote(lesson.session_id)}"
        if lesson.login_required:
            return page
        grant = JoinGrant(
            session_id=lesson.session_id,
            participant_id=lesson.user_id,
            role=lesson.role,
            name=lesson.name,
            expires_at=lesson.until + grace,
        )
        return f"{page}?token={issue_join_token(grant, secret=secret, now=datetime.now(UTC))}"

    return link


def sweep_steps(settings: Settings, secret: str) -> list[SweepStep]:
    """What else runs on the sweep's beat: the reminders (24 h and 1 h before), with
    Message-IDs in the ``LIVECLASS_MAIL_FROM`` domain and, for guardians, the one-click
    stop (signed with ``secret``); tutors' drafts waiting past the review time
    (``reviews_overdue``); and, unless ``LIVECLASS_PROGRESS_REPORT_PERIOD`` is off, the
    drafting of each period's progress reports once it ends; and, hourly, the retention
    sweep (``api.retention``)."""
    domain = sender_address(settings.mail_from).rpartition("@")[2] or "localhost"
    steps: list[SweepStep] = [
        ReminderSweep(
            message_domain=domain,
            stop_link=stop_links(settings.public_url, secret=secret),
            lesson_link=lesson_links(settings, secret=secret),
            briefings=briefing_texts,
        )
    ]
    steps.append(OverdueReviewSweep())
    if settings.progress_report_period != "off":
        steps.append(ProgressReportSweep(Period(settings.progress_report_period)))
    steps.append(Retention.from_settings(settings))
    return steps


def build_event_bus(services: Services, *, consume: bool) -> EventBus:
    """The bus for this process: embedded, or Redis Streams when ``LIVECLASS_REDIS_URL`` is set.

    Args:
        consume: on Redis, run the handlers here too (``liveclass worker``);
            otherwise only relay the outbox into the stream (``liveclass serve``).
    """
    return build_bus(
        services.settings,
        services.sessionmaker,
        build_handlers(services),
        services.clock.now,
        consume=consume,
    )


class Runner:
    """Owns a process's background work: the bus's ``run``, the mail dispatcher and the
    lifecycle sweep.

    ``start`` starts them as tasks; ``aclose`` asks them to stop between steps,
    waits for them, and cancels what is still running after ``stop_grace``
    seconds. No task ends on its own: each logs its failures and carries on.
    The bus stays its builder's to close (the API replays through it even
    where this process runs no handlers); ``aclose`` calls the bus's
    ``aclose`` only to stop the loops of a bus it ran, and the builder's later
    ``aclose`` finds nothing left to stop.
    """

    def __init__(
        self,
        bus: EventBus | None,
        services: Services,
        *,
        sweep_policy: TimerPolicy | None,
        mail: MailDispatcher | None = None,
        stop_grace: float = STOP_GRACE_SECONDS,
    ) -> None:
        self._bus = bus
        self._mail = mail
        self._services = services
        self._sweep_policy = sweep_policy
        self._stop_grace = stop_grace
        # The loops check it between steps and wait on it instead of sleeping.
        self._stopping = asyncio.Event()
        self._bus_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if self._bus is not None:
            self._bus_task = asyncio.create_task(self._bus.run(), name="event-bus")
            self._tasks.append(self._bus_task)
        if self._mail is not None:
            self._tasks.append(
                asyncio.create_task(
                    self._mail.run_forever(
                        self._services.settings.event_poll_seconds, self._stopping
                    ),
                    name="mail-dispatch",
                )
            )
        interval = self._services.settings.lifecycle_sweep_seconds
        if self._sweep_policy is not None and interval > 0:
            self._tasks.append(
                asyncio.create_task(
                    sweep_forever(
                        self._services.sessionmaker,
                        self._services.clock.now,
                        self._sweep_policy,
                        interval=interval,
                        stop=self._stopping,
                        steps=sweep_steps(self._services.settings, self._services.secret),
                    ),
                    name="lifecycle-sweep",
                )
            )

    async def aclose(self) -> None:
        """Stop the tasks between steps; cancel only what is still running after the grace.

        Cancelling a loop in the middle of a step cancels a database round
        trip: on PostgreSQL the connection can be left inside its transaction,
        holding row locks that stall the next user of those rows; on SQLite the
        aiosqlite connection can end up closing on a thread that has already
        stopped, and the process never exits (a worker signalled during its
        first sweep took over 20 s to stop, or never did). So the sweep and the
        mail dispatcher are asked through an event they check between steps
        and wait on when idle, and the bus through its ``aclose``, which stops
        its own loops the same way (cancelling its ``run`` would cancel them
        mid-step); its ``run`` then gets the same grace to return (the embedded
        bus finishes the pass it is in) before it is cancelled.
        """
        tasks, self._tasks = self._tasks, []
        bus_task, self._bus_task = self._bus_task, None
        self._stopping.set()
        try:
            await asyncio.gather(
                self._stop_bus(bus_task), self._settle([t for t in tasks if t is not bus_task])
            )
        finally:
            for task in tasks:
                task.cancel()
            for result in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(result, Exception):
                    log.error("background task failed while stopping", error=repr(result))

    async def _stop_bus(self, task: asyncio.Task[None] | None) -> None:
        """Ask the bus this runner ran to stop its loops between steps (bounded by the bus)."""
        if self._bus is None or task is None:
            return
        try:
            await self._bus.aclose()
        except Exception:
            log.exception("event bus failed while stopping")
        # The embedded bus's ``aclose`` only asks: its pass in progress finishes here.
        await self._settle([task])

    async def _settle(self, loops: list[asyncio.Task[None]]) -> None:
        """Wait up to ``stop_grace`` for loops that were asked to stop to finish their step."""
        if not loops:
            return
        _, pending = await asyncio.wait(loops, timeout=self._stop_grace)
        for task in pending:
            log.warning(
                "background task still busy after the stop grace; cancelling it",
                task=task.get_name(),
                grace_seconds=self._stop_grace,
            )


async def run_worker(settings: Settings, *, sweep: bool = True) -> None:
    """``liveclass worker``: relay, consumers and sweep until SIGTERM or SIGINT, then stop."""
    services = Services.build(settings, SystemClock())
    bus = build_event_bus(services, consume=True)
    runner = Runner(
        bus,
        services,
        sweep_policy=timer_policy(settings) if sweep else None,
        mail=mail_dispatcher(services),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        runner.start()
        log.info("worker started", handlers=len(build_handlers(services)))
        await stop.wait()
        log.info("worker stopping")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await runner.aclose()
        await bus.aclose()
        await services.aclose()
