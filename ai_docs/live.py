"""Transcribing participants' audio while the lesson runs, in worker processes.

A session's document used to wait for its whole recording to be transcribed
after the end (75 s for 30 minutes on our machines). ``LiveTranscriber`` hears
each recorded file's encoded frames as the recorder writes them and sends them
to a worker process (``ai_docs.live_worker``), which cuts them into utterances
and transcribes each as soon as it ends. When the file ends, only its last
utterance is left to transcribe.

Forwarding never waits for any of it: ``LiveStream.feed`` only puts bytes on a
queue (a feeder thread writes the pipe), the workers run in the idle scheduling class,
and their answers come back through a reader thread onto the event loop.

Whatever goes wrong, nothing is lost, because the recording is still written
in full: a stream that falls more than ``max_backlog`` seconds behind, whose
worker dies or fails on it, or that does not finish in time is given up
(``LiveResult.complete`` is False) and its file is transcribed afterwards, as
before. A worker that cannot load its models turns live transcription off for
this transcriber (logged once) and every file is transcribed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import multiprocessing
import queue
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from typing import Any

from ai_docs import _whisper
from ai_docs.errors import ModelUnavailable
from ai_docs.live_worker import WorkerOptions, run
from ai_docs.transcription import WhisperOptions
from core.logging import get_logger

log = get_logger("liveclass.ai_docs.live")

FILE_RATE = 48_000
SEND_EVERY = 0.5  # seconds of audio a stream gathers before sending them to its worker


@dataclass(frozen=True, slots=True)
class LiveSegment:
    """A stretch of speech, in seconds from the start of its recorded file."""

    start: float
    end: float
    text: str


SegmentsCallback = Callable[[list[LiveSegment]], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class LiveResult:
    """How a stream ended: ``complete`` when every second of the file was transcribed
    live (then ``segments`` is its whole transcript), else ``reason`` says why not."""

    complete: bool
    segments: list[LiveSegment] = field(default_factory=list)
    reason: str = ""


class LiveStream:
    """One recorded file's audio on its way to a worker. Made by ``LiveTranscriber.open``."""

    def __init__(
        self,
        transcriber: LiveTranscriber,
        worker: _Worker,
        stream_id: str,
        on_segments: SegmentsCallback | None,
    ) -> None:
        self.id = stream_id
        self._transcriber = transcriber
        self._worker = worker
        self._on_segments = on_segments
        self.segments: list[LiveSegment] = []
        self._unsent: list[tuple[int, bytes]] = []
        self._sent = 0.0  # seconds of the file sent
        self._heard = 0.0  # seconds of it the worker has heard and cut
        self._failed = ""
        self._finishing = False
        self._finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._callbacks: asyncio.Queue[list[LiveSegment] | None] = asyncio.Queue()
        self._delivery = asyncio.create_task(self._deliver(), name=f"live-{stream_id}")

    @property
    def failed(self) -> str:
        """Why this stream was given up ("" while it is not)."""
        return self._failed

    @property
    def behind(self) -> float:
        """Seconds of sent audio the worker has not handled yet."""
        return max(0.0, self._sent - self._heard)

    def feed(self, frames: Sequence[tuple[int, bytes]]) -> None:
        """Take ``(position in 48 kHz samples, Opus packet)`` frames, in file order; they go
        to the worker once they span ``SEND_EVERY`` seconds (a message per frame cost the
        media process more than the frames did). Never blocks; a stream too far behind
        gives itself up here."""
        if self._failed or self._finishing or not frames:
            return
        self._unsent.extend(frames)
        if (self._unsent[-1][0] - self._unsent[0][0]) / FILE_RATE >= SEND_EVERY:
            self._send()

    def _send(self) -> None:
        if not self._unsent:
            return
        frames, self._unsent = self._unsent, []
        self._sent = max(self._sent, frames[-1][0] / FILE_RATE + 0.02)
        if self.behind > self._transcriber.max_backlog:
            self.fail(f"more than {self._transcriber.max_backlog:.0f} s behind")
            return
        self._worker.send(("audio", self.id, frames))

    async def finish(self, timeout: float | None = None) -> LiveResult:
        """The file ended: wait for the rest to be transcribed (at most ``timeout``
        seconds, by default the transcriber's ``finish_timeout``) and for every
        ``on_segments`` call to return."""
        if not self._failed and not self._finishing:
            self._send()
        if not self._failed and not self._finishing:
            self._finishing = True
            self._worker.send(("finish", self.id))
        wait = self._transcriber.finish_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(wait):
                await asyncio.shield(self._finished)
        except TimeoutError:
            self.fail(f"not finished within {wait:.0f} s")
        self._end_delivery()
        with contextlib.suppress(asyncio.CancelledError):
            await self._delivery
        if self._failed:
            return LiveResult(False, reason=self._failed)
        return LiveResult(True, list(self.segments))

    def fail(self, reason: str) -> None:
        """Give this stream up: its file will be transcribed afterwards instead."""
        if self._failed or self._finished.done():
            return
        self._failed = reason
        log.warning("live transcription given up; the file is transcribed later", reason=reason)
        self._worker.send(("drop", self.id))
        self._worker.streams.pop(self.id, None)
        self._finished.set_result(None)

    def _end_delivery(self) -> None:
        """No more callbacks: what is queued is delivered, then the delivery task ends."""
        self._callbacks.put_nowait(None)

    def _heard_back(self, raw: list[tuple[float, float, str]], upto: float, *, done: bool) -> None:
        if self._failed:
            return
        self._heard = max(self._heard, upto)
        fresh = [LiveSegment(start, end, text) for start, end, text in raw]
        if fresh:
            self.segments.extend(fresh)
            self._callbacks.put_nowait(fresh)
        if done:
            self._worker.streams.pop(self.id, None)
            self._finished.set_result(None)

    async def _deliver(self) -> None:
        while (fresh := await self._callbacks.get()) is not None:
            if self._on_segments is None:
                continue
            try:
                answer = self._on_segments(fresh)
                if inspect.isawaitable(answer):
                    await answer
            except Exception:
                log.exception("live segments callback failed", stream=self.id)


class _Worker:
    """One worker process, its two queues and the thread that reads its answers."""

    def __init__(self, options: WorkerOptions, loop: asyncio.AbstractEventLoop) -> None:
        context = multiprocessing.get_context("spawn")
        self.inbox: Any = context.Queue()
        self.outbox: Any = context.Queue()
        self.process: SpawnProcess = context.Process(
            target=run,
            args=(self.inbox, self.outbox, options),
            name="live-transcription",
            daemon=True,
        )
        self.streams: dict[str, LiveStream] = {}
        self._loop = loop
        self.ready: asyncio.Future[str] = loop.create_future()  # "" or why not
        self._reader = threading.Thread(
            target=self._read, name="live-transcription-reader", daemon=True
        )
        self._stopping = False

    def start(self) -> None:
        self.process.start()
        self._reader.start()

    def send(self, message: tuple[Any, ...]) -> None:
        if self.process.is_alive():
            self.inbox.put(message)

    def _read(self) -> None:
        """On the reader thread: every answer goes to the event loop, in order."""
        while True:
            try:
                message = self.outbox.get(timeout=1.0)
            except queue.Empty:
                if self._stopping:
                    return
                if not self.process.is_alive():
                    message = ("died", self.process.exitcode)
                else:
                    continue
            except (EOFError, OSError):
                message = ("died", self.process.exitcode)
            if message is None:
                return
            try:
                self._loop.call_soon_threadsafe(self._dispatch, message)
            except RuntimeError:  # the loop is closed
                return
            if message[0] in ("died", "unavailable"):
                return

    def _dispatch(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ready":
            if not self.ready.done():
                self.ready.set_result("")
        elif kind == "unavailable":
            if not self.ready.done():
                self.ready.set_result(str(message[1]))
        elif kind == "died":
            if not self.ready.done():
                self.ready.set_result(f"the worker process ended (exit code {message[1]})")
            for each in list(self.streams.values()):
                each.fail(f"its worker process ended (exit code {message[1]})")
            return
        stream = self.streams.get(message[1]) if kind in ("heard", "finished", "failed") else None
        if stream is None:
            return  # given up meanwhile
        if kind == "failed":
            stream.fail(f"the worker could not transcribe it ({message[2]})")
        else:
            stream._heard_back(message[2], message[3], done=kind == "finished")

    async def stop(self) -> None:
        self._stopping = True
        for stream in list(self.streams.values()):
            stream.fail("live transcription stopped")
            stream._end_delivery()
        if self.process.is_alive():
            self.inbox.put(("stop",))
        await asyncio.to_thread(self.process.join, 10.0)
        if self.process.is_alive():
            self.process.kill()
            await asyncio.to_thread(self.process.join, 5.0)
        with contextlib.suppress(Exception):
            self.outbox.put(None)  # wakes the reader if it is waiting
        await asyncio.to_thread(self._reader.join, 5.0)
        for q in (self.inbox, self.outbox):
            q.close()
            q.cancel_join_thread()


class LiveTranscriber:
    """Worker processes that transcribe recorded audio as it arrives.

    Workers start on the first ``open`` (a second or two: a fresh interpreter
    loading Whisper and the voice activity model) and stay up until ``aclose``.

    Args:
        options: Whisper's options; ``threads`` is per worker (0 means 1 here,
            so that live work never takes every core from the media plane).
        workers: worker processes; each stream stays on one, the least busy
            when it opened.
        max_backlog: seconds of audio a stream may be behind before it is given up.
        finish_timeout: seconds ``LiveStream.finish`` waits for the last utterance.
        start_timeout: seconds a worker may take to load its models.
    """

    def __init__(
        self,
        options: WhisperOptions | None = None,
        *,
        workers: int = 1,
        max_backlog: float = 60.0,
        finish_timeout: float = 60.0,
        start_timeout: float = 120.0,
    ) -> None:
        self._whisper = options or WhisperOptions()
        self._size = workers
        self.max_backlog = max_backlog
        self.finish_timeout = finish_timeout
        self._start_timeout = start_timeout
        self._workers: list[_Worker] = []
        self._starting: asyncio.Task[str] | None = None
        self._unavailable = ""
        self._closed = False
        self._ids = itertools.count(1)

    @property
    def unavailable(self) -> str:
        """Why live transcription is off ("" while it is not)."""
        return self._unavailable

    @property
    def behind(self) -> float:
        """Seconds of audio the most lagging open stream has sent and not had handled."""
        return max((st.behind for w in self._workers for st in w.streams.values()), default=0.0)

    @property
    def pids(self) -> list[int]:
        """The worker processes' ids (for measuring what they cost)."""
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    async def start(self) -> bool:
        """Start the workers now (``open`` otherwise does); False if they cannot run."""
        if self._closed:
            return False
        if self._starting is None:
            self._starting = asyncio.create_task(self._start(), name="live-transcription-start")
        reason = await asyncio.shield(self._starting)
        return not reason

    async def _start(self) -> str:
        loop = asyncio.get_running_loop()
        try:
            # Here, not when built: every process builds one, and most never start it.
            model = self._whisper.model or str(_whisper.bundled_model_path())
        except ModelUnavailable as exc:
            return await self._off(str(exc), [])
        options = WorkerOptions(
            model=model,
            device=self._whisper.device,
            compute_type=self._whisper.compute_type,
            threads=self._whisper.threads or 1,
            beam_size=self._whisper.beam_size,
        )
        workers = [_Worker(options, loop) for _ in range(self._size)]
        self._workers = workers
        for worker in workers:
            await asyncio.to_thread(worker.start)
        try:
            async with asyncio.timeout(self._start_timeout):
                reasons = await asyncio.gather(*(w.ready for w in workers))
        except TimeoutError:
            reasons = [f"its models did not load within {self._start_timeout:.0f} s"]
        reason = next((r for r in reasons if r), "")
        if reason:
            return await self._off(reason, workers)
        log.info("live transcription started", workers=len(workers))
        return reason

    async def _off(self, reason: str, workers: list[_Worker]) -> str:
        """Turn live transcription off for good (said once): files are transcribed later."""
        self._unavailable = reason
        log.error(
            "live transcription is off; recordings are transcribed after the session",
            reason=reason,
        )
        for worker in workers:
            await worker.stop()
        self._workers = []
        return reason

    async def open(self, on_segments: SegmentsCallback | None = None) -> LiveStream | None:
        """A stream for one file's audio, or None when live transcription is off.

        ``on_segments`` is called (on the event loop, one call at a time, in
        order) with each batch of new segments.
        """
        if not await self.start():
            return None
        alive = [w for w in self._workers if w.process.is_alive()]
        if not alive:
            return None
        worker = min(alive, key=lambda w: len(w.streams))
        stream = LiveStream(self, worker, f"live-{next(self._ids)}", on_segments)
        worker.streams[stream.id] = stream
        worker.send(("open", stream.id))
        return stream

    async def aclose(self) -> None:
        """Stop the workers; streams still open are given up."""
        if self._closed:
            return
        self._closed = True
        if self._starting is not None:
            with contextlib.suppress(Exception):
                await self._starting
        for worker in self._workers:
            await worker.stop()
        self._workers = []
