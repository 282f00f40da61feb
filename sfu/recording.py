"""Recording each participant's audio, as forwarded, into one Ogg Opus file per participant.

A ``Recorder`` belongs to one room for the whole session. The room calls
``Recorder.tap(participant_id, role)`` when a participant publishes audio and
hands every encoded frame of that track to the returned tap: one call per
frame, which only queues the bytes with their RTP timestamp and arrival time.
Everything else happens off the forwarding path:

- consent first: ``may_record(participant_id)`` (sync or async, supplied by
  the caller) is asked once per participant; until it answers, frames wait in
  the bounded queue, and on "no" (or a failure or timeout) they are discarded
  and no file is ever created;
- one file per participant for the whole session: leaving and publishing again
  continues the same file, the time away as silence;
- the file's timeline follows the session clock: within one publication by the
  RTP timestamps (packet loss becomes silence), across publications by the
  arrival time of their first frame. Each file's start is recorded as an
  offset in seconds since the recorder started (``started_at`` in UTC), so
  tracks can be laid side by side;
- muxing and disk writes run in a worker thread per batch (frames gather for
  ``BATCH_WAIT`` first); each track's queue is bounded, and on overflow the
  newest frames are dropped and logged (the timeline turns them into silence);
- with a ``live`` source (``LiveSource``: the live transcription of
  ``ai_docs.live``, behind the transcription consent), each written frame is
  also handed to that participant's ``LiveFeed`` with its position in the file,
  so the file is transcribed while it is written. Opening the feed never holds
  up the file: frames written meanwhile wait for it (up to ``LIVE_PENDING``
  frames, else the feed is given up). ``RecordedTrack.live`` names the feed
  when it heard the whole file;
- with encryption keys (``LIVECLASS_ENCRYPTION_KEYS``), the Ogg bytes pass through a
  ``core.sealing.SealedWriter``: each batch is sealed (AES-256-GCM) before it is
  written, so the file on disk is ciphertext from its first byte
  (``core.sealing.read_maybe_sealed`` opens it).

Nothing here decodes: packets are muxed as they came (``sfu.ogg``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import os
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from core.logging import get_logger
from core.sealing import KeyRing, SealedWriter
from sfu.ogg import OPUS_RATE, OggOpusWriter, opus_samples
from sfu.passthrough import EncodedFrame

log = get_logger("liveclass.sfu.recording")

ConsentCheck = Callable[[str], bool | Awaitable[bool]]
# Told, once per participant and recorder, whether their audio is recorded:
# (participant id, role, recorded). Only reports; the recording never waits on it.
DecisionReport = Callable[[str, str, bool], Awaitable[None]]
FrameTap = Callable[[EncodedFrame], None]


class LiveFeed(Protocol):
    """Where a participant's recorded frames also go while being written (live transcription)."""

    id: str

    def feed(self, frames: Sequence[tuple[int, bytes]]) -> None:
        """Take ``(position in the file in 48 kHz samples, Opus packet)`` frames; never blocks."""

    async def finish(self) -> bool:
        """The file ended; True when every frame of it was heard and handled."""


# Opens a participant's live feed (participant id, role), or None (no consent, or
# live transcription is off). Asked once per participant, after recording consent.
LiveSource = Callable[[str, str], Awaitable[LiveFeed | None]]
LIVE_PENDING = 3000  # frames (60 s) written before the live feed opened, kept for it
BATCH_WAIT = 0.2  # seconds a participant's frames gather before they are written
RTP_WRAP = 1 << 32
# Within one publication, trust RTP timestamps unless they stray this far from the
# arrival clock (a sender's jump); then re-anchor on arrival time.
MAX_RTP_DRIFT = 2 * OPUS_RATE
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True, slots=True)
class RecordedTrack:
    """One participant's finished recording.

    ``offset`` is where the file starts on the session clock, in seconds after
    ``Recorder.started_at``; ``started_at`` is the same instant in UTC (for
    laying files of different recorders side by side); ``duration`` is its
    length in seconds, silences included. ``live`` is the id of the live feed
    that heard all of it (its transcript is already made), else None.
    """

    participant_id: str
    role: str
    path: Path
    offset: float
    started_at: datetime
    duration: float
    size: int
    sha256: str
    live: str | None = None


@dataclass(frozen=True, slots=True)
class _Frame:
    data: bytes
    rtp: int  # the frame's timestamp, in 48 kHz ticks
    arrival: float  # recorder clock, seconds
    segment: int  # which publication of the participant it came from


class _Timeline:
    """Turns (publication, RTP timestamp, arrival time) into a sample position in the file."""

    def __init__(self) -> None:
        self.start: float | None = None  # arrival time of the file's first frame
        self._segment = -1
        self._anchor = 0  # file position of the segment's first frame
        self._rtp0 = 0

    def place(self, frame: _Frame) -> int:
        if self.start is None:
            self.start = frame.arrival
        by_clock = round((frame.arrival - self.start) * OPUS_RATE)
        if frame.segment != self._segment:
            self._segment = frame.segment
            return self._reanchor(frame, by_clock)
        at = self._anchor + (frame.rtp - self._rtp0) % RTP_WRAP
        if abs(at - by_clock) > MAX_RTP_DRIFT:
            return self._reanchor(frame, by_clock)
        return at

    def _reanchor(self, frame: _Frame, at: int) -> int:
        self._anchor, self._rtp0 = at, frame.rtp
        return at


class _ParticipantRecording:
    """One participant's queue, consent decision, worker task and file."""

    def __init__(
        self,
        recorder: Recorder,
        participant_id: str,
        role: str,
        *,
        max_frames: int,
    ) -> None:
        self.participant_id = participant_id
        self.role = role
        self.path = recorder.folder / f"{_SAFE_NAME.sub('_', participant_id)}.opus.ogg"
        self._recorder = recorder
        self._max = max_frames
        self._frames: deque[_Frame] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self.refused = False
        self.segments = 0
        self.dropped = 0
        self._dropping = False
        self._timeline = _Timeline()
        self._file: BinaryIO | None = None
        self._writer: OggOpusWriter | None = None
        self._live: LiveFeed | None = None
        self._abandoned: LiveFeed | None = None  # given up: only to be told the file ended
        self._live_opening: asyncio.Task[LiveFeed | None] | None = None
        self._live_pending: list[tuple[int, bytes]] | None = []  # None: no live feed after all
        self.task = asyncio.create_task(self._run(), name=f"record-{participant_id}")

    def tap(self) -> FrameTap:
        self.segments += 1
        segment = self.segments
        clock = self._recorder.clock
        frames = self._frames

        def push(frame: EncodedFrame) -> None:
            if self.refused or self._closing:
                return
            if len(frames) >= self._max:
                self.dropped += 1
                if not self._dropping:
                    self._dropping = True
                    log.warning(
                        "recording queue full, dropping audio",
                        participant=self.participant_id,
                        queued=len(frames),
                    )
                return
            self._dropping = False
            frames.append(_Frame(frame.data, _ticks(frame), clock(), segment))
            self._wake.set()

        return push

    async def _decide(self) -> bool:
        try:
            async with asyncio.timeout(self._recorder.consent_timeout):
                answer = self._recorder.may_record(self.participant_id)
                if inspect.isawaitable(answer):
                    answer = await answer
            return bool(answer)
        except Exception:
            # Without a clear yes, nothing is recorded.
            log.exception("consent check failed; not recording", participant=self.participant_id)
            return False

    async def _run(self) -> None:
        decided = await self._decide()
        self._recorder.report(self.participant_id, self.role, decided)
        if not decided:
            self.refused = True
            self._frames.clear()
            log.info("not recording: no consent", participant=self.participant_id)
            return
        if self._recorder.live is not None:
            self._live_opening = asyncio.create_task(
                self._open_live(self._recorder.live), name=f"live-open-{self.participant_id}"
            )
        else:
            self._live_pending = None
        while True:
            if not self._frames:
                if self._closing:
                    break
                self._wake.clear()
                await self._wake.wait()
                if not self._closing:
                    # Frames come 50 a second: gather a few before the thread hop, which
                    # per frame cost more than the writing (bench.sfu_forwarding).
                    await asyncio.sleep(BATCH_WAIT)
                continue
            batch = list(self._frames)
            self._frames.clear()
            try:
                placed = await asyncio.to_thread(self._write, batch)
            except Exception:
                log.exception("recording write failed", participant=self.participant_id)
                self._give_up_live()  # the file misses these frames: so would its transcript
                continue
            self._to_live(placed)
        try:
            await asyncio.to_thread(self._finish)
        except Exception:
            log.exception("recording not finished", participant=self.participant_id)

    async def _open_live(self, source: LiveSource) -> LiveFeed | None:
        try:
            live = await source(self.participant_id, self.role)
        except Exception:
            log.exception("live transcription not opened", participant=self.participant_id)
            live = None
        pending, self._live_pending = self._live_pending, None
        if live is None:
            return None
        if pending is None:
            self._abandoned = live  # too late: it is told the file ended, and that is all
            return None
        self._live = live
        for start in range(0, len(pending), 250):
            live.feed(pending[start : start + 250])
        return live

    def _to_live(self, placed: list[tuple[int, bytes]]) -> None:
        if self._live is not None:
            self._live.feed(placed)
        elif self._live_pending is not None:
            self._live_pending.extend(placed)
            if len(self._live_pending) > LIVE_PENDING:
                log.warning("live feed took too long to open", participant=self.participant_id)
                self._give_up_live()

    def _give_up_live(self) -> None:
        """The live transcript would miss part of the file: the file is transcribed later."""
        self._live_pending = None
        if self._live is not None:
            self._abandoned = self._live
            self._live = None

    def _write(self, batch: list[_Frame]) -> list[tuple[int, bytes]]:
        """Runs in a worker thread, one batch at a time per participant; says where each
        frame went in the file."""
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            raw = _create_new(self.path)
            self.path = Path(raw.name)
            keys = self._recorder.keys
            self._file = raw if keys is None else cast(BinaryIO, SealedWriter(raw, keys))
            self._writer = OggOpusWriter(self._file, serial=secrets.randbits(32))
        placed = []
        for frame in batch:
            if self._writer.write(frame.data, at=self._timeline.place(frame)):
                # Where the writer put it (it closes small gaps and never overlaps).
                placed.append((self._writer.position - opus_samples(frame.data), frame.data))
        self._file.flush()  # type: ignore[union-attr]
        return placed

    def _finish(self) -> None:
        if self._writer is not None and self._file is not None:
            self._writer.close()
            self._file.close()

    async def aclose(self) -> RecordedTrack | None:
        self._closing = True
        self._wake.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        live = await self._finish_live()
        if self.refused or self._writer is None or self._timeline.start is None:
            return None
        size, digest = await asyncio.to_thread(_size_and_sha256, self.path)
        offset = self._timeline.start - self._recorder.started
        return RecordedTrack(
            participant_id=self.participant_id,
            role=self.role,
            path=self.path,
            offset=offset,
            started_at=self._recorder.started_at + timedelta(seconds=offset),
            duration=self._writer.duration,
            size=size,
            sha256=digest,
            live=live,
        )

    async def withdraw(self) -> bool:
        """Consent was withdrawn mid-session: no further frame is kept, the live feed
        ends, and the file so far is deleted (it was recorded under the consent that is
        now withdrawn). Whether there was a recording to stop."""
        if self.refused:
            return False
        self.refused = True
        self._frames.clear()
        self._closing = True
        self._wake.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self._give_up_live()
        await self._finish_live()
        if self._writer is not None:
            await asyncio.to_thread(self.path.unlink, True)
        log.info("recording stopped: consent withdrawn", participant=self.participant_id)
        return True

    async def _finish_live(self) -> str | None:
        """End the live feed; its id when it heard the whole file."""
        if self._live_opening is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._live_opening
        heard_all = self._live is not None
        feed = self._live or self._abandoned
        if feed is None:
            return None
        try:
            finished = await feed.finish()
        except Exception:
            log.exception("live transcription did not finish", participant=self.participant_id)
            finished = False
        return feed.id if heard_all and finished else None


def _ticks(frame: EncodedFrame) -> int:
    base = frame.time_base
    if base.numerator == 1 and base.denominator == OPUS_RATE:
        return frame.pts
    return int(frame.pts * base * OPUS_RATE)


def _create_new(path: Path) -> BinaryIO:
    """Open a file that did not exist: ``path``, else ``path`` with ``-2``, ``-3``... before
    the suffixes. A session's room that emptied and filled again records anew
    into the same folder, and must not overwrite the earlier files."""
    stem, _, suffixes = path.name.partition(".")
    candidate, n = path, 1
    while True:
        try:
            return candidate.open("xb")
        except FileExistsError:
            n += 1
            candidate = path.with_name(f"{stem}-{n}.{suffixes}")


def _size_and_sha256(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            digest.update(chunk)
    return os.path.getsize(path), digest.hexdigest()


class Recorder:
    """Records a room's audio, one Ogg Opus file per participant, for the whole session.

    Args:
        folder: where the files go (created on the first file).
        may_record: whether a participant may be recorded; asked once per
            participant, may be async. Anything but a yes (an error, a
            timeout) means no.
        max_frames: each participant's queue bound (50 frames a second).
        consent_timeout: seconds ``may_record`` may take.
        clock: monotonic seconds; the session clock's time source.
        on_decision: told each decision (``DecisionReport``), in a task of its
            own: what a coordinator's ops view shows as the room's recording status.
        live: opens each recorded participant's live transcription feed.
        keys: with a key set, each file is sealed (AES-GCM, ``core.sealing``) as it is
            written, chunk by chunk: no plaintext audio ever reaches the disk.
    """

    def __init__(
        self,
        folder: Path,
        *,
        may_record: ConsentCheck,
        max_frames: int = 500,
        consent_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        on_decision: DecisionReport | None = None,
        live: LiveSource | None = None,
        keys: KeyRing | None = None,
    ) -> None:
        self.folder = folder
        self.live = live
        self.keys = keys if keys is not None and keys.on else None
        self._on_decision = on_decision
        self._reports: set[asyncio.Task[None]] = set()
        self.may_record = may_record
        self.consent_timeout = consent_timeout
        self.clock = clock
        self.started = clock()
        self.started_at = datetime.now(UTC)
        self._max_frames = max_frames
        self._closed = False
        self._participants: dict[str, _ParticipantRecording] = {}

    @property
    def closed(self) -> bool:
        return self._closed

    def report(self, participant_id: str, role: str, recorded: bool) -> None:
        """Tell ``on_decision``, without holding up the recording; its failure is logged."""
        if self._on_decision is None:
            return

        async def tell(callback: DecisionReport) -> None:
            try:
                await callback(participant_id, role, recorded)
            except Exception:
                log.exception("recording decision report failed", participant=participant_id)

        task = asyncio.create_task(
            tell(self._on_decision), name=f"recording-report-{participant_id}"
        )
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    def tap(self, participant_id: str, role: str = "") -> FrameTap | None:
        """Start (or continue) ``participant_id``'s recording for one published audio track.

        Call the returned function with every encoded frame of the track; it
        only queues. None once the recorder is closed or when the participant
        is known to be refused.
        """
        if self._closed:
            return None
        rec = self._participants.get(participant_id)
        if rec is None:
            rec = _ParticipantRecording(self, participant_id, role, max_frames=self._max_frames)
            self._participants[participant_id] = rec
        if rec.refused:
            return None
        return rec.tap()

    async def withdraw(self, participant_id: str) -> bool:
        """Stop ``participant_id``'s recording now and delete its file (consent withdrawn
        during the session); later publications are not recorded either. Whether they
        were being recorded."""
        rec = self._participants.get(participant_id)
        if rec is None:
            # Not publishing yet: make sure they never are recorded in this session.
            rec = _ParticipantRecording(self, participant_id, "", max_frames=self._max_frames)
            self._participants[participant_id] = rec
        stopped = await rec.withdraw()
        self.report(participant_id, rec.role, False)
        return stopped

    def dropped(self, participant_id: str) -> int:
        """Frames of ``participant_id`` dropped because their queue was full."""
        rec = self._participants.get(participant_id)
        return rec.dropped if rec is not None else 0

    async def aclose(self) -> list[RecordedTrack]:
        """Write out what is queued, finish every file and describe them. Idempotent:
        a second call returns an empty list."""
        if self._closed:
            return []
        self._closed = True
        results = await asyncio.gather(*(r.aclose() for r in self._participants.values()))
        # Reported before the files are handed on: what was recorded is told first.
        await asyncio.gather(*self._reports, return_exceptions=True)
        tracks = [t for t in results if t is not None]
        log.info("recording finished", files=len(tracks), folder=str(self.folder))
        return tracks
