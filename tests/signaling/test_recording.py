"""Recording through a live server: consenting participants only, handed on at room close."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import av
import httpx
import pytest
from sqlalchemy import select, update
from starlette.applications import Starlette

from api.app import create_app
from api.settings import Settings
from core.clock import FixedClock
from eventbus.models import OutboxEvent
from scheduling.models import Base, Guardianship, Student
from sfu.recording import RecordedTrack
from signaling.bot import run_bot
from tests.conftest import World, seed_world
from tests.serving import serving_rtc

WAIT = float(os.environ.get("LIVECLASS_TEST_WAIT_FACTOR", "1"))


class Sink:
    """Collects what the server hands to ``on_recording``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[RecordedTrack]]] = []
        self.arrived = asyncio.Event()

    async def __call__(self, session_id: str, tracks: list[RecordedTrack]) -> None:
        self.calls.append((session_id, tracks))
        self.arrived.set()


@pytest.fixture
async def recording_app(settings: Settings, clock: FixedClock) -> AsyncIterator[Starlette]:
    """The test app, ICE on loopback, with a sink for finished recordings."""
    settings = settings.model_copy(update={"ice_addresses": ["127.0.0.1"]})
    sink = Sink()
    app = create_app(settings, clock=clock, on_recording=sink)
    app.state.sink = sink
    yield app
    services = app.state.services
    async with services.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(table.delete())
    await services.aclose()


async def _token(client: httpx.AsyncClient, world: World, who: str) -> str:
    r = await client.post(
        f"/api/v1/sessions/{world.ids['ses1']}/join-token", headers=world.as_(who)
    )
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


@pytest.mark.parametrize("consented", [False, True], ids=["no consent", "guardian consented"])
async def test_a_student_is_recorded_only_with_their_guardians_consent(
    recording_app: Starlette, clock: FixedClock, consented: bool
) -> None:
    """Tutor always; the student only when every guardian consented. The files come at close."""
    app = recording_app
    world = await seed_world(app, clock.now())
    if consented:
        async with app.state.services.sessionmaker() as db, db.begin():
            await db.execute(update(Guardianship).values(recording_consent=True))
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        serving_rtc(app) as url,
    ):
        tutor, student = await _token(client, world, "t1"), await _token(client, world, "s1")
        reports = await asyncio.gather(
            run_bot(url, tutor, seconds=60 * WAIT, media_seconds=2.0),
            run_bot(url, student, seconds=60 * WAIT, media_seconds=2.0),
        )
        sink: Sink = app.state.sink
        async with asyncio.timeout(10 * WAIT):
            await sink.arrived.wait()
    [(session_id, tracks)] = sink.calls
    assert session_id == world.ids["ses1"]
    by_role = {t.role: t for t in tracks}
    expected = {"tutor", "student"} if consented else {"tutor"}
    assert set(by_role) == expected
    # What the coordinators' ops view reads the room's recording status from.
    async with app.state.services.sessionmaker() as db:
        told = {
            (e.type, e.payload["role"])
            for e in await db.scalars(
                select(OutboxEvent).where(
                    OutboxEvent.session_id == session_id,
                    OutboxEvent.type.in_(("recording.started", "recording.skipped")),
                )
            )
        }
    student = "recording.started" if consented else "recording.skipped"
    assert told == {("recording.started", "tutor"), (student, "student")}
    assert by_role["tutor"].participant_id == world.users["t1"].id
    folder = app.state.services.settings.data_dir / "recordings" / session_id
    assert sorted(p.name for p in folder.iterdir()) == sorted(t.path.name for t in tracks)
    for track in tracks:
        assert track.path.parent == folder
        with av.open(str(track.path)) as container:
            assert container.streams.audio[0].codec_context.name == "opus"
        # The bots stay 2 s once media flows: about that much audio, never more than
        # the bots were there.
        assert 1.0 <= track.duration <= max(r.seconds for r in reports) + 0.5, track.duration


async def test_with_recording_off_nothing_is_recorded(
    settings: Settings, clock: FixedClock
) -> None:
    """LIVECLASS_RECORDING=false: a session's audio is not written and nothing is handed on."""
    settings = settings.model_copy(update={"ice_addresses": ["127.0.0.1"], "recording": False})
    sink = Sink()
    app = create_app(settings, clock=clock, on_recording=sink)
    world = await seed_world(app, clock.now())
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
            serving_rtc(app) as url,
        ):
            report = await run_bot(url, await _token(client, world, "t1"), seconds=1.0)
            async with asyncio.timeout(5 * WAIT):
                while app.state.signaling.rooms:  # the room closes once the bot has left
                    await asyncio.sleep(0.05)
        assert report.participant_id == world.users["t1"].id
        assert not (settings.data_dir / "recordings").exists()
        assert sink.calls == []
    finally:
        async with app.state.services.engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())
        await app.state.services.aclose()


async def test_a_participant_back_in_their_seat_records_on_in_the_same_file(
    recording_app: Starlette, clock: FixedClock
) -> None:
    """The tutor's connection drops for 2 s and comes back with its resume token: one file,
    whose timeline holds both stretches and the time away between them as silence."""
    app = recording_app
    world = await seed_world(app, clock.now())
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        serving_rtc(app) as url,
    ):
        tutor = await _token(client, world, "t1")
        started = asyncio.get_running_loop().time()
        first = await run_bot(url, tutor, seconds=4 * WAIT, drop=True)
        await asyncio.sleep(2)
        second = await run_bot(url, tutor, seconds=4 * WAIT, resume_token=first.resume_token)
        stayed = asyncio.get_running_loop().time() - started
        assert second.resumed
        sink: Sink = app.state.sink
        async with asyncio.timeout(10 * WAIT):
            await sink.arrived.wait()
    [(_, tracks)] = sink.calls
    [track] = tracks
    assert track.role == "tutor"
    # Either stretch alone is under 4 s of audio; together with the gap, over 6.
    assert 6.0 <= track.duration <= stayed + 0.5, (track.duration, stayed)


@pytest.mark.parametrize("who", ["guardian", "student of age"])
async def test_withdrawing_recording_consent_stops_the_recording_within_a_second(
    recording_app: Starlette, clock: FixedClock, who: str
) -> None:
    """Mid-lesson the guardian (the family portal's API), or a student of the consent age
    deciding for themselves (their own portal's), turns recording consent off: the
    student's file stops and is deleted at once; the tutor's recording goes on, and at the
    close only the tutor's file is handed on. The change is in the audit log, by its maker."""
    app = recording_app
    world = await seed_world(app, clock.now())
    async with app.state.services.sessionmaker() as db, db.begin():
        if who == "guardian":
            await db.execute(update(Guardianship).values(recording_consent=True))
        else:  # 16 today; their guardians' no no longer counts, their own yes does
            born = clock.now().date().replace(year=clock.now().year - 16)
            await db.execute(
                update(Student)
                .where(Student.id == world.ids["s1"])
                .values(date_of_birth=born, recording_consent=True)
            )
    folder = app.state.services.settings.data_dir / "recordings" / world.ids["ses1"]
    student_file = folder / f"{world.users['s1'].id}.opus.ogg"
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        serving_rtc(app) as url,
    ):
        tutor, student = await _token(client, world, "t1"), await _token(client, world, "s1")
        bots = asyncio.gather(
            run_bot(url, tutor, seconds=60 * WAIT, media_seconds=6.0),
            run_bot(url, student, seconds=60 * WAIT, media_seconds=6.0),
        )
        async with asyncio.timeout(30 * WAIT):
            while not (student_file.exists() and student_file.stat().st_size > 1000):
                await asyncio.sleep(0.05)
        maker = "g1" if who == "guardian" else "s1"
        path = (
            f"/api/v1/guardians/{world.ids['g1']}/students/{world.ids['s1']}"
            if who == "guardian"
            else f"/api/v1/students/{world.ids['s1']}/consents"
        )
        r = await client.patch(path, json={"recording_consent": False}, headers=world.as_(maker))
        assert r.status_code == 200, r.text
        withdrawn_at = asyncio.get_running_loop().time()
        async with asyncio.timeout(1.0 * WAIT):
            while student_file.exists():
                await asyncio.sleep(0.02)
        assert asyncio.get_running_loop().time() - withdrawn_at < 1.0 * WAIT
        await bots
        sink: Sink = app.state.sink
        async with asyncio.timeout(10 * WAIT):
            await sink.arrived.wait()
        [(_, tracks)] = sink.calls
        assert [t.role for t in tracks] == ["tutor"]
        assert not student_file.exists()
        log = await client.get(
            "/api/v1/audit",
            params={"student_id": world.ids["s1"], "action": "update"},
            headers=world.as_("coord"),
        )
        assert [(e["resource"], e["actor_id"]) for e in log.json()["items"]] == [
            ("consent", world.users[maker].id)
        ]
