"""The embedded bus on SQLite and PostgreSQL: once in effect, retries, dead letters, replay."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from core.clock import FixedClock
from eventbus.bus import EmbeddedBus, RetryPolicy, replay
from eventbus.models import HandlerFailure, OutboxEvent
from eventbus.outbox import DomainEvent
from sessions.events import record
from tests.conftest import NOW, World


@dataclass
class Recorder:
    """A handler that remembers what it took, failing its first ``fail`` calls."""

    name: str = "recorder"
    types: frozenset[str] = frozenset({"session.ended", "participant.joined"})
    fail: int = 0
    calls: int = 0
    taken: list[str] = field(default_factory=list)

    async def handle(self, db: AsyncSession, event: DomainEvent) -> None:
        self.calls += 1
        if self.calls <= self.fail:
            raise RuntimeError(f"boom {self.calls}")
        self.taken.append(event.id)


async def _events(app: Starlette, world: World, *types: str) -> list[str]:
    async with app.state.services.sessionmaker() as db, db.begin():
        rows = [record(db, t, session_id=world.ids["ses1"], at=NOW) for t in types]
    return [r.id for r in rows]


def _bus(app: Starlette, clock: FixedClock, *handlers: Recorder, **kw: object) -> EmbeddedBus:
    return EmbeddedBus(
        app.state.services.sessionmaker,
        list(handlers),
        clock=clock.now,
        retry=RetryPolicy(max_attempts=3, first_delay=timedelta(seconds=5)),
        **kw,  # type: ignore[arg-type]
    )


async def test_each_handler_takes_each_event_once(app: Starlette, world: World) -> None:
    ids = await _events(app, world, "participant.joined", "session.opened", "session.ended")
    clock = FixedClock(NOW)
    a, b = Recorder(name="a"), Recorder(name="b", types=frozenset({"session.ended"}))
    bus = _bus(app, clock, a, b)
    assert await bus.dispatch_once() == 3
    assert await bus.dispatch_once() == 0
    assert a.taken == [ids[0], ids[2]] and b.taken == [ids[2]]
    async with app.state.services.sessionmaker() as db:
        pending = await db.scalars(select(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None)))
        assert list(pending) == []


async def test_a_restart_resumes_where_the_last_process_stopped(
    app: Starlette, world: World
) -> None:
    ids = await _events(app, world, "participant.joined", "session.ended")
    first = Recorder()
    await _bus(app, FixedClock(NOW), first, batch=1).dispatch_once()
    after_restart = Recorder()  # a new process: a new bus, nothing in memory
    await _bus(app, FixedClock(NOW), after_restart).dispatch_once()
    assert first.taken == [ids[0]] and after_restart.taken == [ids[1]]


async def test_failures_are_retried_with_backoff(app: Starlette, world: World) -> None:
    [event] = await _events(app, world, "session.ended")
    clock = FixedClock(NOW)
    flaky = Recorder(fail=2)
    bus = _bus(app, clock, flaky)
    await bus.dispatch_once()  # attempt 1 fails; next try in 5 s
    await bus.dispatch_once()  # too early: not tried
    assert flaky.calls == 1
    clock.advance(timedelta(seconds=5))
    await bus.dispatch_once()  # attempt 2 fails; next in 10 s
    clock.advance(timedelta(seconds=10))
    await bus.dispatch_once()
    assert flaky.calls == 3 and flaky.taken == [event]


async def test_a_handler_that_keeps_failing_lands_in_the_dead_letters_and_replays(
    app: Starlette, world: World
) -> None:
    [event] = await _events(app, world, "session.ended")
    clock = FixedClock(NOW)
    broken = Recorder(fail=100)
    bus = _bus(app, clock, broken)
    for _ in range(5):
        await bus.dispatch_once()
        clock.advance(timedelta(minutes=1))
    assert broken.calls == 3  # max_attempts, then it stops trying
    sm = app.state.services.sessionmaker
    async with sm() as db:
        [dead] = list(await db.scalars(select(HandlerFailure)))
        assert dead.dead and dead.attempts == 3 and dead.last_error == "RuntimeError: boom 3"
    broken.fail = 0  # the cause is fixed
    async with sm() as db, db.begin():
        assert await replay(db, handler="recorder", event_id=event, now=clock.now()) is not None
    await bus.dispatch_once()
    assert broken.taken == [event]
    async with sm() as db:
        assert list(await db.scalars(select(HandlerFailure))) == []
