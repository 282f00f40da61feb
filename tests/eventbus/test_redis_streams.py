"""The Redis Streams bus against a real Redis, on SQLite and PostgreSQL: once per handler,
retries, dead letters, replay, claims from dead workers, racing workers; and restarts."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from api.settings import Settings
from core.clock import FixedClock
from eventbus.bus import EmbeddedBus, build_bus
from eventbus.ledger import Handler, RetryPolicy
from eventbus.models import HandledEvent, HandlerFailure, OutboxEvent
from eventbus.outbox import DomainEvent
from eventbus.redis_streams import RedisStreamsBus
from sessions.events import record
from tests.conftest import NOW, REDIS_URL, World

WAIT = float(os.environ.get("LIVECLASS_TEST_WAIT_FACTOR", "1"))
RETRY = RetryPolicy(max_attempts=3, first_delay=timedelta(seconds=5))


@dataclass
class Recorder:
    """A handler whose effect (``taken``) happens only if its transaction commits;
    it fails its first ``fail`` calls."""

    name: str = "recorder"
    types: frozenset[str] = frozenset({"session.ended", "participant.joined"})
    fail: int = 0
    calls: int = 0
    taken: list[str] = field(default_factory=list)

    async def handle(self, db: AsyncSession, event: DomainEvent) -> None:
        self.calls += 1
        if self.calls <= self.fail:
            raise RuntimeError(f"boom {self.calls}")
        sa_event.listen(
            db.sync_session, "after_commit", lambda _s: self.taken.append(event.id), once=True
        )


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    """A key prefix no other test (or agent) shares; its keys are deleted afterwards."""
    value = f"test-bus-{secrets.token_hex(6)}"
    yield value
    await redis.delete(f"{value}:events", f"{value}:dead")


BusFactory = Callable[..., RedisStreamsBus]


@pytest.fixture
async def make_bus(app: Starlette, prefix: str) -> AsyncIterator[BusFactory]:
    """Builds Redis buses on the test's prefix (each its own client) and closes them all."""
    buses: list[RedisStreamsBus] = []

    def make(clock: FixedClock, *handlers: Handler, **kw: object) -> RedisStreamsBus:
        options: dict[str, object] = {
            "clock": clock.now,
            "retry": RETRY,
            "prefix": prefix,
            "poll_seconds": 0.05,
            **kw,
        }
        bus = RedisStreamsBus(
            app.state.services.sessionmaker,
            Redis.from_url(REDIS_URL),
            list(handlers),
            **options,  # type: ignore[arg-type]
        )
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        await bus.aclose()


async def _events(app: Starlette, world: World, *types: str) -> list[str]:
    async with app.state.services.sessionmaker() as db, db.begin():
        rows = [record(db, t, session_id=world.ids["ses1"], at=NOW) for t in types]
    return [r.id for r in rows]


async def _pending(redis: Redis, prefix: str, group: str) -> int:
    summary = await redis.xpending(f"{prefix}:events", group)
    return int(summary["pending"])


async def test_each_handler_takes_each_event_once(
    app: Starlette, world: World, make_bus: BusFactory, redis: Redis, prefix: str
) -> None:
    """Every subscribed handler takes every event once; the rest are acknowledged unread."""
    ids = await _events(app, world, "participant.joined", "session.opened", "session.ended")
    a, b = Recorder(name="a"), Recorder(name="b", types=frozenset({"session.ended"}))
    bus = make_bus(FixedClock(NOW), a, b)
    assert await bus.dispatch_once() == 3
    assert await bus.dispatch_once() == 0
    assert a.taken == [ids[0], ids[2]] and b.taken == [ids[2]]
    assert await redis.xlen(f"{prefix}:events") == 3
    assert await _pending(redis, prefix, "a") == 0 and await _pending(redis, prefix, "b") == 0
    async with app.state.services.sessionmaker() as db:
        waiting = await db.scalar(select(func.count()).where(OutboxEvent.dispatched_at.is_(None)))
    assert waiting == 0


async def test_duplicates_in_the_stream_are_taken_once(
    app: Starlette, world: World, make_bus: BusFactory, redis: Redis, prefix: str
) -> None:
    """A relay that crashed after adding but before marking adds the events again: no effect."""
    ids = await _events(app, world, "participant.joined", "session.ended")
    recorder = Recorder()
    bus = make_bus(FixedClock(NOW), recorder)
    await bus.dispatch_once()
    async with app.state.services.sessionmaker() as db, db.begin():
        await db.execute(update(OutboxEvent).values(dispatched_at=None))
    assert await bus.dispatch_once() == 0
    assert await redis.xlen(f"{prefix}:events") == 4
    assert recorder.taken == ids and await _pending(redis, prefix, "recorder") == 0


async def test_a_failing_handler_is_retried_with_backoff_then_dead_lettered_and_replayed(
    app: Starlette, world: World, make_bus: BusFactory, redis: Redis, prefix: str
) -> None:
    """Retries wait for the backoff; the last failure dead-letters; a replay runs it once."""
    [event] = await _events(app, world, "session.ended")
    clock = FixedClock(NOW)
    broken, other = Recorder(fail=100), Recorder(name="other")
    bus = make_bus(clock, broken, other)
    await bus.dispatch_once()  # attempt 1 fails; next in 5 s
    await bus.dispatch_once()  # too early
    assert broken.calls == 1 and other.taken == [event]
    assert await _pending(redis, prefix, "recorder") == 1  # kept for the retry
    clock.advance(timedelta(seconds=5))
    await bus.dispatch_once()  # attempt 2 fails; next in 10 s
    clock.advance(timedelta(seconds=9))
    await bus.dispatch_once()
    assert broken.calls == 2
    clock.advance(timedelta(seconds=1))
    await bus.dispatch_once()  # attempt 3: dead
    clock.advance(timedelta(minutes=10))
    await bus.dispatch_once()
    assert broken.calls == 3 and broken.taken == []
    assert await _pending(redis, prefix, "recorder") == 0
    [(_, dead)] = await redis.xrange(f"{prefix}:dead")
    assert dead["handler"] == "recorder" and dead["event_id"] == event
    assert dead["type"] == "session.ended"
    sm = app.state.services.sessionmaker
    async with sm() as db:
        [failure] = list(await db.scalars(select(HandlerFailure)))
    assert failure.dead and failure.attempts == 3 and failure.last_error == "RuntimeError: boom 3"

    broken.fail = 0  # the cause is fixed
    assert await bus.replay("recorder", event)
    await bus.dispatch_once()
    await bus.dispatch_once()
    assert broken.taken == [event] and other.taken == [event] and other.calls == 1
    assert not await bus.replay("recorder", event)  # nothing left to replay
    async with sm() as db:
        assert list(await db.scalars(select(HandlerFailure))) == []


async def test_a_worker_that_died_holding_events_has_them_claimed(
    app: Starlette, world: World, make_bus: BusFactory, redis: Redis, prefix: str
) -> None:
    """Events a consumer read and never acknowledged are taken over once idle long enough."""
    ids = await _events(app, world, "participant.joined", "session.ended")
    stream = f"{prefix}:events"
    await redis.xgroup_create(stream, "recorder", id="0", mkstream=True)
    await make_bus(FixedClock(NOW), consume=False).relay.relay_all()
    # A worker reads both, then dies before acknowledging either.
    [[_, read]] = await redis.xreadgroup("recorder", "dead-worker", {stream: ">"}, count=10)
    assert len(read) == 2

    patient = Recorder()
    await make_bus(FixedClock(NOW), patient, claim_idle=30.0).dispatch_once()
    assert patient.taken == []  # not idle long enough to be presumed dead

    survivor = Recorder()
    claim_idle = 0.2 * WAIT
    bus = make_bus(FixedClock(NOW), survivor, claim_idle=claim_idle)
    await asyncio.sleep(claim_idle * 1.5)
    await bus.dispatch_once()
    assert survivor.taken == ids
    assert await _pending(redis, prefix, "recorder") == 0


async def test_two_workers_racing_over_200_events_take_each_once(
    app: Starlette, world: World, make_bus: BusFactory, redis: Redis, prefix: str
) -> None:
    """Two running buses (two relays, two consumers of one group) share 200 events: each once."""
    async with app.state.services.sessionmaker() as db, db.begin():
        rows = [
            record(db, "participant.joined", session_id=world.ids["ses1"], at=NOW)
            for _ in range(200)
        ]
    ids = {r.id for r in rows}
    first, second = Recorder(), Recorder()
    buses = [
        make_bus(FixedClock(NOW), first, consumer="worker-1"),
        make_bus(FixedClock(NOW), second, consumer="worker-2"),
    ]
    runs = [asyncio.create_task(bus.run()) for bus in buses]
    try:
        async with asyncio.timeout(60 * WAIT):
            while len(first.taken) + len(second.taken) < 200:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3 * WAIT)  # time for a duplicate, were there one
    finally:
        for bus in buses:
            await bus.aclose()
        await asyncio.gather(*runs, return_exceptions=True)
    taken = first.taken + second.taken
    assert len(taken) == 200 and set(taken) == ids
    assert all(run.done() for run in runs)
    async with app.state.services.sessionmaker() as db:
        ledger = await db.scalar(select(func.count()).select_from(HandledEvent))
    assert ledger == 200
    assert await _pending(redis, prefix, "recorder") == 0
    if app.state.services.engine.dialect.name == "postgresql":
        # SKIP LOCKED: the two relays split the outbox instead of both copying it.
        assert await redis.xlen(f"{prefix}:events") == 200


async def test_the_embedded_bus_resumes_after_a_restart(app: Starlette, world: World) -> None:
    """A new embedded bus (a restarted process) picks up what the old one left: a pending
    retry and an event never reached."""
    ids = await _events(app, world, "session.ended", "participant.joined")
    clock = FixedClock(NOW)
    sm = app.state.services.sessionmaker
    before = Recorder(fail=1)
    await EmbeddedBus(sm, [before], clock=clock.now, retry=RETRY, batch=1).dispatch_once()
    assert before.calls == 1 and before.taken == []
    clock.advance(timedelta(seconds=5))
    after = Recorder()  # the process restarted: a new bus, nothing carried in memory
    await EmbeddedBus(sm, [after], clock=clock.now, retry=RETRY).dispatch_once()
    assert after.taken == ids


def test_build_bus_picks_redis_only_when_configured(tmp_path: Path) -> None:
    """LIVECLASS_REDIS_URL set means the Redis Streams bus; unset, the embedded one."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    sm: async_sessionmaker[AsyncSession] = async_sessionmaker()
    plain = Settings(_env_file=None, data_dir=tmp_path, redis_url=None)  # type: ignore[call-arg]
    assert isinstance(build_bus(plain, sm, [], FixedClock(NOW).now), EmbeddedBus)
    with_redis = plain.model_copy(update={"redis_url": REDIS_URL, "event_stream_prefix": "x"})
    bus = build_bus(with_redis, sm, [Recorder()], FixedClock(NOW).now)
    assert isinstance(bus, RedisStreamsBus) and bus.keys.events == "x:events"
    asyncio.run(bus.aclose())
