"""Recording each participant's audio through a real room of aiortc bots on 127.0.0.1."""

from __future__ import annotations

import asyncio
import fractions
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import av
import numpy as np
import pytest

from core.sealing import KeyRing, generate_key, is_sealed, open_file
from sfu import ice
from sfu.ogg import OPUS_RATE
from sfu.passthrough import EncodedFrame
from sfu.recording import RecordedTrack, Recorder
from sfu.room import Room
from sfu.synthetic import AUDIO_FRAME, audio_loop
from tests.sfu.conftest import WAIT, eventually, join

Consent = Callable[[str], Awaitable[bool]]


def _allow_all() -> Consent:
    async def may_record(participant_id: str) -> bool:
        return True

    return may_record


@pytest.fixture
def consent() -> Consent:
    return _allow_all()


@pytest.fixture
async def recorded(tmp_path: Path, consent: Consent) -> AsyncIterator[tuple[Room, Recorder]]:
    """A room that records into ``tmp_path / "rec"``, asking ``consent``."""
    ice.confine(["127.0.0.1"])
    recorder = Recorder(tmp_path / "rec", may_record=consent)
    room = Room("room_rec", max_participants=4, ice_servers=[], recorder=recorder)
    room.test_bots = []  # type: ignore[attr-defined]
    yield room, recorder
    await room.aclose()
    await recorder.aclose()
    for bot in room.test_bots:  # type: ignore[attr-defined]
        await bot.aclose()
    ice.confine([])


async def _finish(room: Room, recorder: Recorder) -> dict[str, RecordedTrack]:
    await room.aclose()
    return {t.participant_id: t for t in await recorder.aclose()}


def _decode(path: Path) -> np.ndarray:
    """The first channel of the file, decoded by PyAV (the test decodes; the SFU never does)."""
    with av.open(str(path)) as container:
        return np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])


def _longest_silence(pcm: np.ndarray) -> float:
    """The longest run of (near) zero samples, in seconds, in 10 ms steps."""
    step = OPUS_RATE // 100
    quiet = np.abs(pcm[: len(pcm) // step * step].reshape(-1, step)).max(axis=1) < 1e-3
    best = run = 0
    for q in quiet:
        run = run + 1 if q else 0
        best = max(best, run)
    return best / 100


async def test_each_participant_gets_one_decodable_file(
    recorded: tuple[Room, Recorder],
) -> None:
    """Two participants, two files: each plays for as long as its participant was heard."""
    room, recorder = recorded
    a = await join(room, "A")
    b = await join(room, "B", silent=True)
    await eventually(lambda: a.received["B"].audio >= 75 and b.received["A"].audio >= 75)
    heard = {pid: next(p for p in room.publications[pid] if p.kind == "audio") for pid in "AB"}
    tracks = await _finish(room, recorder)
    assert sorted(tracks) == ["A", "B"]
    assert sorted(p.name for p in recorder.folder.iterdir()) == ["A.opus.ogg", "B.opus.ogg"]
    for pid, track in tracks.items():
        data = track.path.read_bytes()
        assert track.size == len(data)
        assert track.sha256 == hashlib.sha256(data).hexdigest()
        pcm = _decode(track.path)
        assert abs(len(pcm) / OPUS_RATE - track.duration) < 0.05
        published = heard[pid].stats.frames_in * AUDIO_FRAME / OPUS_RATE
        assert published >= 1.5
        # On loopback nothing is lost: the file lasts as long as the audio the SFU got.
        assert abs(track.duration - published) < 0.1, (pid, track.duration, published)
        assert 0 <= track.offset < 10 * WAIT
    assert np.abs(_decode(tracks["A"].path)).max() > 0.1  # A's tone
    assert np.abs(_decode(tracks["B"].path)).max() < 0.01  # B sent silence
    assert tracks["B"].offset >= tracks["A"].offset  # B joined after A


async def test_a_participant_who_leaves_and_rejoins_stays_in_one_file(
    recorded: tuple[Room, Recorder],
) -> None:
    """B's second visit continues B's file; the time away plays as silence of that length."""
    room, recorder = recorded
    a = await join(room, "A", silent=True)
    await join(room, "B")
    await eventually(lambda: a.received["B"].audio >= 50)
    await room.remove_peer("B")
    away = 1.5
    await asyncio.sleep(away)
    await join(room, "B")
    await eventually(lambda: a.received["B"].audio >= 100)
    tracks = await _finish(room, recorder)
    assert [p.name for p in recorder.folder.iterdir() if p.name.startswith("B")] == ["B.opus.ogg"]
    pcm = _decode(tracks["B"].path)
    gap = _longest_silence(pcm)
    # Away 1.5 s, plus the rejoin's handshake before the first frame arrived.
    assert away - 0.1 <= gap <= away + 2.0 * WAIT, gap
    assert tracks["B"].duration >= 2 * 1.0 + away - 0.2


async def test_forwarded_audio_arrives_unchanged_while_recording(
    recorded: tuple[Room, Recorder],
) -> None:
    """The recorder takes nothing from forwarding: B gets A's Opus packets byte for byte."""
    room, recorder = recorded
    await join(room, "A")
    b = await join(room, "B", publish=False)
    await eventually(lambda: len(b.received["A"].recent_audio) >= 100)
    sent = set(audio_loop().frames)
    assert all(payload in sent for payload in b.received["A"].recent_audio)
    audio = next(p for p in room.publications["A"] if p.kind == "audio")
    [sub] = audio.subscribers
    assert sub.stats.frames_dropped == 0
    assert recorder.dropped("A") == 0
    tracks = await _finish(room, recorder)
    # The file holds the same packets (plus silence frames only where time had gaps).
    with av.open(str(tracks["A"].path)) as container:
        packets = [bytes(p) for p in container.demux(audio=0) if p.size]
    assert sum(p in sent for p in packets) >= 100


@pytest.fixture
def consent_refused_for_s() -> Consent:
    async def may_record(participant_id: str) -> bool:
        await asyncio.sleep(0.05)  # a database look-up
        return participant_id != "S"

    return may_record


async def test_a_participant_without_consent_gets_no_file(
    tmp_path: Path, consent_refused_for_s: Consent
) -> None:
    """S, whose consent is missing, is heard by the others but never written to disk."""
    ice.confine(["127.0.0.1"])
    recorder = Recorder(tmp_path / "rec", may_record=consent_refused_for_s)
    room = Room("room_rec", max_participants=4, ice_servers=[], recorder=recorder)
    room.test_bots = []  # type: ignore[attr-defined]
    try:
        t = await join(room, "T")
        s = await join(room, "S")
        await eventually(lambda: t.received["S"].audio >= 50 and s.received["T"].audio >= 50)
        tracks = await _finish(room, recorder)
    finally:
        await room.aclose()
        await recorder.aclose()
        for bot in room.test_bots:  # type: ignore[attr-defined]
            await bot.aclose()
        ice.confine([])
    assert list(tracks) == ["T"]
    assert [p.name for p in (tmp_path / "rec").iterdir()] == ["T.opus.ogg"]


async def test_a_full_queue_drops_audio_and_the_gap_stays_in_time(tmp_path: Path) -> None:
    """While the disk (here: consent) holds the queue up, excess frames go; time is kept."""
    now = [0.0]
    answer = asyncio.Event()

    async def may_record(participant_id: str) -> bool:
        await answer.wait()
        return True

    recorder = Recorder(
        tmp_path / "rec", may_record=may_record, max_frames=10, clock=lambda: now[0]
    )
    tap = recorder.tap("A", "tutor")
    assert tap is not None
    frames = audio_loop().frames
    base = fractions.Fraction(1, OPUS_RATE)
    for i in range(30):
        now[0] = i * 0.02
        tap(EncodedFrame(frames[i], 1000 + i * AUDIO_FRAME, base, True))
    assert recorder.dropped("A") == 20
    answer.set()
    [track] = await recorder.aclose()
    assert track.role == "tutor"
    # Only the first 10 frames were kept: 0.2 s, nothing invented after them.
    assert abs(track.duration - 0.2) < 0.01
    assert abs(len(_decode(track.path)) / OPUS_RATE - 0.2) < 0.01


async def test_with_keys_the_file_on_disk_is_sealed_and_opens_to_the_same_audio(
    tmp_path: Path,
) -> None:
    """Two seconds tapped in over several batches: no Ogg page on disk, and the file opened
    with its key is the Ogg Opus a keyless recorder writes, frame for frame."""
    keys = KeyRing.parse(f"k1:{generate_key()}")
    tracks = []
    for folder, ring in (("sealed", keys), ("plain", None)):
        now = [0.0]
        recorder = Recorder(
            tmp_path / folder, may_record=_allow_all(), clock=lambda now=now: now[0], keys=ring
        )
        _tap_frames(recorder, now, 50)
        await asyncio.sleep(0.5)  # that batch reaches the disk, sealed, before the next
        _tap_frames(recorder, now, 50)  # published again: placed by its arrival
        [track] = await recorder.aclose()
        tracks.append(track)
    sealed, plain = tracks
    on_disk = sealed.path.read_bytes()
    assert is_sealed(sealed.path) and b"OggS" not in on_disk and b"OpusHead" not in on_disk
    opened = tmp_path / "opened.opus.ogg"
    opened.write_bytes(open_file(sealed.path, keys))
    assert len(_decode(opened)) == len(_decode(plain.path)) == 2 * OPUS_RATE
    assert sealed.sha256 == hashlib.sha256(on_disk).hexdigest()  # of the file as stored


class Heard:
    """A live feed that keeps what it is given (what ``ai_docs.live`` would transcribe)."""

    def __init__(self, feed_id: str, *, complete: bool = True) -> None:
        self.id = feed_id
        self.frames: list[tuple[int, bytes]] = []
        self.finished = False
        self._complete = complete

    def feed(self, frames: Sequence[tuple[int, bytes]]) -> None:
        self.frames.extend(frames)

    async def finish(self) -> bool:
        self.finished = True
        return self._complete


def _tap_frames(recorder: Recorder, now: list[float], count: int, *, skip: int = 0) -> None:
    tap = recorder.tap("A", "tutor")
    assert tap is not None
    frames = audio_loop().frames
    base = fractions.Fraction(1, OPUS_RATE)
    away = 0
    for i in range(count):
        if skip and i == count // 2:
            away = skip  # the participant's audio stops for a while (packets lost)
            now[0] += skip * 0.02
        now[0] += 0.02
        rtp = 1000 + (i + away) * AUDIO_FRAME
        tap(EncodedFrame(frames[i % len(frames)], rtp, base, True))


async def test_the_live_feed_hears_every_written_frame_where_the_file_has_it(
    tmp_path: Path,
) -> None:
    """The feed opens late (a worker starting): frames written meanwhile wait for it, and
    each frame comes with its place in the file, gaps included."""
    now = [0.0]
    opened = asyncio.Event()
    heard = Heard("lvs_1")
    asked: list[tuple[str, str]] = []

    async def live(participant_id: str, role: str) -> Heard:
        asked.append((participant_id, role))
        await opened.wait()
        return heard

    recorder = Recorder(tmp_path / "rec", may_record=_allow_all(), clock=lambda: now[0], live=live)
    _tap_frames(recorder, now, 100, skip=50)  # 1 s away in the middle
    await eventually(lambda: bool(asked))
    await asyncio.sleep(0.1)  # written to the file while the feed is still opening
    opened.set()
    [track] = await recorder.aclose()
    assert asked == [("A", "tutor")]
    assert heard.finished and track.live == "lvs_1"
    assert [data for _, data in heard.frames] == [
        audio_loop().frames[i % len(audio_loop().frames)] for i in range(100)
    ]
    positions = [at for at, _ in heard.frames]
    steps = {b - a for a, b in zip(positions, positions[1:], strict=False)}
    assert steps == {AUDIO_FRAME, AUDIO_FRAME * 51}, "frames back to back, and the second away"
    # The file has the same time line: its length is where the last frame ends.
    assert abs(track.duration - (positions[-1] + AUDIO_FRAME) / OPUS_RATE) < 0.001


@pytest.mark.parametrize("why", ["no feed", "feed incomplete", "feed failed to open"])
async def test_a_file_not_heard_in_full_is_not_marked_live(tmp_path: Path, why: str) -> None:
    now = [0.0]

    async def live(participant_id: str, role: str) -> Heard | None:
        if why == "feed failed to open":
            raise RuntimeError("worker gone")
        return None if why == "no feed" else Heard("lvs_2", complete=False)

    recorder = Recorder(tmp_path / "rec", may_record=_allow_all(), clock=lambda: now[0], live=live)
    _tap_frames(recorder, now, 20)
    [track] = await recorder.aclose()
    assert track.live is None and track.duration > 0.3
