"""What the app runs in its lifespan (the embedded bus in process, or only the Redis relay),
and how its ``Runner`` stops: between steps, cancelling only what outstays the grace."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from api.app import create_app
from api.services import Services
from api.settings import Settings
from api.workers import Runner, mail_dispatcher
from core.clock import FixedClock
from eventbus.bus import EmbeddedBus
from eventbus.models import HandledEvent, OutboxEvent
from eventbus.outbox import DomainEvent
from eventbus.redis_streams import RedisStreamsBus
from scheduling.models import LiveSession, SessionStatus
from sessions import timers
from sessions.events import record
from sessions.timers import TimerPolicy
from tests.conftest import NOW, REDIS_URL, World

WAIT = float(os.environ.get("LIVECLASS_TEST_WAIT_FACTOR", "1"))


async def _dispatched(app: Starlette, event_id: str) -> bool:
    async with app.state.services.sessionmaker() as db:
        row = await db.scalar(select(OutboxEvent).where(OutboxEvent.id == event_id))
    return row is not None and row.dispatched_at is not None


async def test_serve_runs_the_embedded_bus_in_process(
    app: Starlette, settings: Settings, world: World
) -> None:
    """Without Redis, a serving app delivers new events itself."""
    served = create_app(
        settings.model_copy(update={"event_poll_seconds": 0.05}),
        clock=FixedClock(NOW),
        run_workers=True,
    )
    async with served.router.lifespan_context(served):
        async with app.state.services.sessionmaker() as db, db.begin():
            event = record(db, "session.ended", session_id=world.ids["ses1"], at=NOW).id
        async with asyncio.timeout(20 * WAIT):
            while not await _dispatched(app, event):
                await asyncio.sleep(0.05)


async def test_serve_with_redis_only_relays_the_outbox(
    app: Starlette, settings: Settings, world: World
) -> None:
    """With Redis, a serving app copies events into the stream and runs no consumers."""
    prefix = f"test-serve-{secrets.token_hex(6)}"
    served = create_app(
        settings.model_copy(
            update={
                "redis_url": REDIS_URL,
                "event_stream_prefix": prefix,
                "event_poll_seconds": 0.05,
            }
        ),
        clock=FixedClock(NOW),
        run_workers=True,
    )
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        async with served.router.lifespan_context(served):
            async with app.state.services.sessionmaker() as db, db.begin():
                event = record(db, "session.ended", session_id=world.ids["ses1"], at=NOW).id
            async with asyncio.timeout(20 * WAIT):
                while not await _dispatched(app, event):
                    await asyncio.sleep(0.05)
        [(_, fields)] = await redis.xrange(f"{prefix}:events")
        assert fields["id"] == event and fields["type"] == "session.ended"
        assert await redis.xinfo_groups(f"{prefix}:events") == []
    finally:
        await redis.delete(f"{prefix}:events", f"{prefix}:dead")
        await redis.aclose()


class _SlowHandler:
    """Takes ``session.ended`` and stays in its transaction a while: the stop comes then."""

    name = "slow-handler"
    types = frozenset({"session.ended"})

    def __init__(self) -> None:
        self.entered = asyncio.Event()

    async def handle(self, db: AsyncSession, event: DomainEvent) -> None:
        self.entered.set()
        await asyncio.sleep(0.5)


async def _statuses(app: Starlette, world: World) -> list[SessionStatus]:
    async with app.state.services.sessionmaker() as db:
        rows = [await db.get(LiveSession, world.ids[k]) for k in ("ses1", "ses2", "sesB")]
    return [row.status for row in rows if row is not None]


async def _stop_timed(runner: Runner) -> float:
    started = time.monotonic()
    await runner.aclose()
    return time.monotonic() - started


async def _stop_inside(runner: Runner, step: asyncio.Event) -> float:
    """Start ``runner``, ask it to stop once ``step`` says a step is under way; the time
    the stop took."""
    runner.start()
    try:
        async with asyncio.timeout(20 * WAIT):
            await step.wait()
    finally:
        took = await _stop_timed(runner)
    return took


async def test_a_stopping_runner_lets_the_sweep_commit_the_step_it_is_in(
    app: Starlette, world: World, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked to stop in the middle of a sweep, the runner lets the step's transaction
    commit and the sweep stops before its next step, within seconds; a cancelled step
    would have rolled back (and, on aiosqlite, could keep the process from exiting)."""
    clock.set(NOW + timedelta(minutes=55))  # ses1, ses2 and sesB open 10 min before NOW + 1 h
    run_due = timers.run_due
    in_step = asyncio.Event()
    later_steps: list[str] = []

    async def slow_run_due(
        db: AsyncSession, now: datetime, policy: TimerPolicy
    ) -> list[OutboxEvent]:
        events = await run_due(db, now, policy)
        in_step.set()
        await asyncio.sleep(0.5)  # the stop is asked for here, inside the transaction
        return events

    async def detect_due(db: AsyncSession, now: datetime, **_: Any) -> list[Any]:
        later_steps.append("detect_due")
        return []

    monkeypatch.setattr(timers, "run_due", slow_run_due)
    monkeypatch.setattr(timers, "detect_due", detect_due)
    runner = Runner(None, app.state.services, sweep_policy=TimerPolicy())
    took = await _stop_inside(runner, in_step)
    assert took < 5 * WAIT
    assert await _statuses(app, world) == [SessionStatus.OPEN] * 3
    async with app.state.services.sessionmaker() as db:
        opened = await db.scalar(select(func.count()).where(OutboxEvent.type == "session.opened"))
    assert opened == 3
    assert later_steps == []


async def test_a_step_still_running_after_the_grace_is_cancelled(
    app: Starlette, world: World, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wait for a step is bounded: one that never finishes is cancelled (and rolled
    back) once the grace has passed."""
    clock.set(NOW + timedelta(minutes=55))
    run_due = timers.run_due
    in_step = asyncio.Event()

    async def stuck_run_due(
        db: AsyncSession, now: datetime, policy: TimerPolicy
    ) -> list[OutboxEvent]:
        events = await run_due(db, now, policy)
        in_step.set()
        await asyncio.Event().wait()
        return events

    monkeypatch.setattr(timers, "run_due", stuck_run_due)
    runner = Runner(None, app.state.services, sweep_policy=TimerPolicy(), stop_grace=0.2)
    took = await _stop_inside(runner, in_step)
    assert took < 5 * WAIT
    assert await _statuses(app, world) == [SessionStatus.SCHEDULED] * 3


async def test_a_stopping_runner_wakes_idle_loops_at_once(
    app: Starlette, settings: Settings, clock: FixedClock
) -> None:
    """Idle loops wait on the stop instead of sleeping: the sweep and the mail dispatcher
    end at once, well within the runner's 10 s grace, though both would sleep 30 s."""
    services = Services.build(
        settings.model_copy(update={"event_poll_seconds": 30, "lifecycle_sweep_seconds": 30}),
        clock,
    )
    runner = Runner(None, services, sweep_policy=TimerPolicy(), mail=mail_dispatcher(services))
    try:
        runner.start()
        await asyncio.sleep(0.5)  # the first sweep and mail pass find nothing to do
        took = await _stop_timed(runner)
    finally:
        await runner.aclose()
        await services.aclose()
    assert took < 3 * WAIT


async def test_a_stopping_runner_lets_the_redis_bus_finish_the_handler_it_is_in(
    app: Starlette, world: World, clock: FixedClock
) -> None:
    """The runner stops the Redis bus it ran through the bus's own between-steps stop:
    a handler halfway through its transaction commits, ledger row and all, rather than
    having its consumer cancelled under it."""
    prefix = f"test-runner-{secrets.token_hex(6)}"
    services = app.state.services
    handler = _SlowHandler()
    bus = RedisStreamsBus(
        services.sessionmaker,
        Redis.from_url(REDIS_URL),
        [handler],
        clock=clock.now,
        prefix=prefix,
        poll_seconds=0.05,
    )
    runner = Runner(bus, services, sweep_policy=None)
    try:
        async with services.sessionmaker() as db, db.begin():
            event = record(db, "session.ended", session_id=world.ids["ses1"], at=NOW).id
        took = await _stop_inside(runner, handler.entered)
        assert took < 5 * WAIT
        async with services.sessionmaker() as db:
            assert await db.get(HandledEvent, (handler.name, event)) is not None
    finally:
        await bus.aclose()
        cleanup = Redis.from_url(REDIS_URL)
        await cleanup.delete(f"{prefix}:events", f"{prefix}:dead")
        await cleanup.aclose()


async def test_a_stopping_runner_lets_the_embedded_bus_finish_the_handler_it_is_in(
    app: Starlette, world: World, clock: FixedClock
) -> None:
    """The same with the in-process bus (`liveclass serve` without Redis): its pass
    finishes, the handler's ledger row commits, and its loop ends instead of sleeping."""
    services = app.state.services
    handler = _SlowHandler()
    bus = EmbeddedBus(services.sessionmaker, [handler], clock=clock.now, interval=30)
    async with services.sessionmaker() as db, db.begin():
        event = record(db, "session.ended", session_id=world.ids["ses1"], at=NOW).id
    runner = Runner(bus, services, sweep_policy=None)
    took = await _stop_inside(runner, handler.entered)
    assert took < 5 * WAIT
    async with services.sessionmaker() as db:
        assert await db.get(HandledEvent, (handler.name, event)) is not None
